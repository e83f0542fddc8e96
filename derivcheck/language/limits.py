"""Limits on what case text may build: checked on the syntax tree before anything is built, and on
every value built, so hostile text is refused in well under a second.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass

import numpy as np
import sympy

from derivcheck.errors import ExpressionError

Value = sympy.Expr | np.ndarray
_LOG10_2 = math.log10(2)


def _short(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _flat(value: Value) -> list[sympy.Expr]:
    return list(value.flat) if isinstance(value, np.ndarray) else [value]


@dataclass(frozen=True)
class Limits:
    """Bounds checked before any evaluation; each error names the limit it broke.

    Text is bounded first (length, nesting, parts), then every value as it is built: numbers
    (digits), exponents and exponent towers, array sizes, the element operations one case may
    spend, and the size of each scalar expression written out as a tree, which catches growth
    that doubles with every ``let`` (``a2 = a1*a1``, ``a3 = a2*a2``, ...).
    """

    max_length: int = 4000  # characters of one expression
    max_depth: int = 48  # nesting of the syntax tree
    max_nodes: int = 2000  # parts of the syntax tree
    max_int_bits: int = 128  # integer literals
    max_exponent: int = 1000  # |e| of a constant exponent
    max_digits: int = 1000  # decimal digits of any exact number built by arithmetic
    max_tower: int = 4  # height of an exponent tower (x**y**z is 2; exp counts as a power)
    max_array_size: int = 100_000  # entries of one array
    max_operations: int = 2_000_000  # element operations one case may spend building values
    max_tree_size: int = 200_000  # parts of one scalar expression written out as a tree


LIMITS = Limits()


class Budget:
    """What one case has spent building values, shared by every expression of the case.

    Examples
    --------
    >>> import sympy
    >>> budget = Budget()
    >>> x = sympy.Symbol("x", real=True)
    >>> from derivcheck.language.parser import parse
    >>> _ = parse("x + 1", {"x": x}, budget=budget)
    >>> budget.operations
    1
    """

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or LIMITS
        self.operations = 0
        self.sizes: dict[sympy.Basic, int] = {}  # tree size of every node already checked
        self.towers: dict[sympy.Basic, int] = {}

    def spend(self, count: int) -> None:
        """Count ``count`` element operations; raise once the case's allowance is used up."""
        self.operations += count
        if self.operations > self.limits.max_operations:
            raise ExpressionError(
                f"building this case takes more than {self.limits.max_operations} element "
                f"operations (the limit max_operations)"
            )


# Characters pasted from typeset mathematics, and what the case language spells them as.
_LOOKALIKES = {"\u2212": "-", "\u00d7": "*", "\u22c5": "*", "\u00b7": "*", "\u2013": "-", "\u00b2": "**2"}


def _check_characters(text: str) -> None:
    """The case language is printable ASCII: no look-alike letters folded into names by Python."""
    for ch in text:
        if ch in "\t\n\r" or " " <= ch <= "~":
            continue
        hint = f" (write {_LOOKALIKES[ch]!r})" if ch in _LOOKALIKES else ""
        raise ExpressionError(
            f"character {ch!r} (U+{ord(ch):04X}) is not allowed; expressions are printable ASCII{hint}"
        )


def _check_shape_of_tree(tree: ast.AST, text: str, limits: Limits) -> None:
    """Depth and size limits, checked iteratively so hostile nesting cannot recurse deeply."""
    stack: list[tuple[ast.AST, int]] = [(tree, 0)]
    count = 0
    while stack:
        node, depth = stack.pop()
        count += 1
        if depth > limits.max_depth:
            raise ExpressionError(
                f"expression {_short(text)!r} nests deeper than the limit (max_depth) of {limits.max_depth}"
            )
        if count > limits.max_nodes:
            raise ExpressionError(
                f"expression {_short(text)!r} has more than {limits.max_nodes} parts (the limit max_nodes)"
            )
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


_NOT_FINITE = (sympy.zoo, sympy.oo, -sympy.oo, sympy.nan)


def _digits(number: sympy.Rational) -> int:
    """Decimal digits of the larger of numerator and denominator (about)."""
    return int(max(int(number.p).bit_length(), int(number.q).bit_length()) * _LOG10_2) + 1


def _check_built(value: Value, text: str, budget: Budget) -> None:
    """Check every node of a built value once (the walk shares nodes across a case's values)."""
    limits = budget.limits
    for item in _flat(value):
        size = _walk(item, text, budget)
        if size > limits.max_tree_size:
            raise ExpressionError(
                f"{_short(text)!r} grows to {size} parts when written out; the limit (max_tree_size) "
                f"is {limits.max_tree_size} (does each let square the one before?)"
            )


def _walk(root: sympy.Basic, text: str, budget: Budget) -> int:
    """Tree size of ``root``, visiting each distinct node once; checks each node on the way."""
    sizes, towers, limits = budget.sizes, budget.towers, budget.limits
    stack: list[tuple[sympy.Basic, bool]] = [(root, False)]
    while stack:
        node, ready = stack.pop()
        if node in sizes:
            continue
        if not ready:
            stack.append((node, True))
            stack.extend((arg, False) for arg in node.args if arg not in sizes)
            continue
        _check_node(node, text, limits)
        sizes[node] = 1 + sum(sizes[arg] for arg in node.args)
        if isinstance(node, sympy.Pow):
            tower = max(towers[node.base], 1 + towers[node.exp])
        elif isinstance(node, sympy.exp):
            tower = 1 + towers[node.args[0]]
        else:
            tower = max((towers[arg] for arg in node.args), default=0)
        if tower > limits.max_tower:
            raise ExpressionError(
                f"exponent tower of height {tower} in {_short(str(node))!r}; the limit (max_tower) "
                f"is {limits.max_tower}"
            )
        towers[node] = tower
    return sizes[root]


def _check_node(node: sympy.Basic, text: str, limits: Limits) -> None:
    if node in _NOT_FINITE:
        raise ExpressionError(f"{_short(text)!r} is infinite or undefined ({node}): a division by zero or log(0)?")
    if node is sympy.I:
        raise ExpressionError(f"{_short(text)!r} is not a real number (it involves sqrt(-1))")
    if node.is_Rational and _digits(node) > limits.max_digits:  # type: ignore[arg-type]
        raise ExpressionError(
            f"the number {_short(str(node), 40)} in {_short(text)!r} has about {_digits(node)} digits; "  # type: ignore[arg-type]
            f"the limit (max_digits) is {limits.max_digits}"
        )
    if isinstance(node, sympy.Pow) and node.exp.is_Number and abs(node.exp) > limits.max_exponent:
        raise ExpressionError(
            f"exponent {_short(str(node.exp), 40)} in {_short(str(node))!r} exceeds the limit "
            f"(max_exponent) of {limits.max_exponent}"
        )
