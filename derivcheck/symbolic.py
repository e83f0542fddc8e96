"""The exact engine: SymPy derivatives, evaluated at exact points to high precision.

Points are exact rationals, so every value here is correct to ``DIGITS`` significant digits
(SymPy's ``evalf`` raises its working precision until it gets them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import sympy

from .errors import EvaluationError
from .functions import KINKED
from .model import Case, Quantity

#: Significant digits of every exact value (the issue asks for at least 30).
DIGITS = 34


@dataclass(frozen=True, eq=False)
class Symbolic:
    """A case's derivatives as SymPy expressions, derived once and evaluated at every point."""

    symbols: tuple[sympy.Symbol, ...]
    outputs: tuple[sympy.Expr, ...]
    jacobian: np.ndarray  # (m, n) object array
    hessian: np.ndarray | None  # (m, n, n) object array, when second derivatives are asked

    @property
    def n(self) -> int:
        return len(self.symbols)


def derive(symbols: Sequence[sympy.Symbol], outputs: Sequence[sympy.Expr], *, order: int = 1) -> Symbolic:
    """Differentiate every output by every input (and twice when ``order`` is 2).

    Examples
    --------
    >>> x, y = sympy.symbols("x y", real=True)
    >>> derive([x, y], [x**2 * y]).jacobian.tolist()
    [[2*x*y, x**2]]
    """
    m, n = len(outputs), len(symbols)
    jacobian = np.empty((m, n), dtype=object)
    for i, out in enumerate(outputs):
        for j, sym in enumerate(symbols):
            jacobian[i, j] = sympy.diff(out, sym) if sym in out.free_symbols else sympy.Integer(0)
    hessian = None
    if order >= 2:
        hessian = np.empty((m, n, n), dtype=object)
        for i in range(m):
            for j in range(n):
                for k in range(j, n):
                    d = jacobian[i, j]
                    value = sympy.diff(d, symbols[k]) if symbols[k] in d.free_symbols else sympy.Integer(0)
                    hessian[i, j, k] = hessian[i, k, j] = value
    return Symbolic(tuple(symbols), tuple(outputs), jacobian, hessian)


def derive_case(case: Case, *, order: int | None = None) -> Symbolic:
    """``derive`` for a loaded case, with second derivatives when it asks for them."""
    wants_hessian = case.order >= 2 or any(c.quantity is Quantity.HESSIAN for c in case.claims)
    return derive(case.symbols, case.outputs, order=order or (2 if wants_hessian else 1))


def substitution(symbols: Sequence[sympy.Symbol], point: Sequence[sympy.Expr]) -> dict:
    """The map from each input symbol to its exact coordinate."""
    return dict(zip(symbols, point))


def evaluate(expr: sympy.Expr, subs: dict, *, digits: int = DIGITS) -> sympy.Float:
    """``expr`` at the exact point ``subs`` to ``digits`` significant digits.

    Raises
    ------
    EvaluationError
        When the value is not a finite real number; the message names the smallest
        sub-expression responsible (for example ``log(x - 1)`` at x = 1).
    """
    value = sympy.sympify(expr).xreplace(subs)
    try:
        number = value.evalf(digits, chop=False)
    except (ZeroDivisionError, ValueError, TypeError) as exc:  # SymPy signals some poles this way
        raise EvaluationError(f"{_culprit(expr, subs)} cannot be evaluated here ({exc})") from None
    if not _finite_real(number):
        raise EvaluationError(f"{_culprit(expr, subs)} is {_describe(number)} at this point")
    return sympy.Float(number, digits)


def evaluate_array(exprs: np.ndarray, subs: dict, *, digits: int = DIGITS) -> np.ndarray:
    """``evaluate`` over an object array, keeping its shape."""
    out = np.empty(exprs.shape, dtype=object)
    for index in np.ndindex(exprs.shape):
        out[index] = evaluate(exprs[index], subs, digits=digits)
    return out


def kinks(outputs: Sequence[sympy.Expr], subs: dict) -> list[sympy.Expr]:
    """Sub-expressions whose derivative jumps exactly at this point (relu(0), |0|, max(a, a)).

    Examples
    --------
    >>> x, y = sympy.symbols("x y", real=True)
    >>> kinks([sympy.Abs(x) + sympy.Max(x, y)], {x: 0, y: 1})
    [Abs(x)]
    """
    found: list[sympy.Expr] = []
    for out in outputs:
        for node in sympy.preorder_traversal(out):
            if isinstance(node, KINKED) and node not in found and _switches_here(node, subs):
                found.append(node)
    return found


def _switches_here(node: sympy.Expr, subs: dict) -> bool:
    args = node.args
    if isinstance(node, (sympy.Max, sympy.Min)):
        values = [_value_or_none(a, subs) for a in args]
        extreme = (max if isinstance(node, sympy.Max) else min)([v for v in values if v is not None], default=None)
        return extreme is not None and sum(1 for v in values if v is not None and (v - extreme).is_zero) > 1
    value = _value_or_none(args[0], subs)
    return value is not None and bool(value.is_zero)


def _value_or_none(expr: sympy.Expr, subs: dict) -> sympy.Float | None:
    try:
        return evaluate(expr, subs)
    except EvaluationError:
        return None


def _finite_real(number: sympy.Expr) -> bool:
    return bool(number.is_Number and number.is_real and number.is_finite)


def _describe(number: sympy.Expr) -> str:
    if number.has(sympy.zoo, sympy.oo, -sympy.oo):
        return "infinite (division by zero or a pole)"
    if number.has(sympy.nan):
        return "undefined (nan)"
    if number.is_Number is False and number.free_symbols:
        return "not a number"
    return f"not a real number ({sympy.N(number, 6)})"


def _culprit(expr: sympy.Expr, subs: dict) -> str:
    """The smallest sub-expression that is not finite and real at the point."""
    bad = expr
    stack = [expr]
    while stack:
        node = stack.pop()
        try:
            value = node.xreplace(subs).evalf(15)
        except (ZeroDivisionError, ValueError, TypeError):
            value = sympy.nan
        if not _finite_real(value):
            bad = node
            stack = list(node.args)
    return repr(str(bad))
