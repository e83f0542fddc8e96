"""Piecewise definitions and finite sums over an index, for the case-language parser.

* ``where(cond, a, b)`` (and ``a if cond else b``) is ``a`` where ``cond`` holds, else ``b``;
  conditions are comparisons ``< <= > >= == !=`` joined by ``and``, ``or``, ``not``. It becomes
  a SymPy ``Piecewise``, whose switching set the exact engine knows as a kink.
* ``sum(x**k / k for k in range(1, 6))`` and ``prod(...)`` expand to finite sums and products;
  ``range`` takes integer literals, the index may be used in indexing (``x[k]``, ``x[k + 1]``),
  and the number of terms counts against the case's limits.

A condition is never a number: it may only be the first argument of ``where``.
"""

from __future__ import annotations

import ast
import itertools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import sympy
from sympy.core.relational import Relational
from sympy.logic.boolalg import BooleanAtom, BooleanFunction

#: what a condition is (a Symbol is a SymPy Boolean too, so not that)
_CONDITION = (Relational, BooleanFunction, BooleanAtom)

from derivcheck.errors import ExpressionError
from derivcheck.language.limits import Value, _short

_COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Lt: lambda a, b: sympy.StrictLessThan(a, b),
    ast.LtE: lambda a, b: sympy.LessThan(a, b),
    ast.Gt: lambda a, b: sympy.StrictGreaterThan(a, b),
    ast.GtE: lambda a, b: sympy.GreaterThan(a, b),
    ast.Eq: lambda a, b: sympy.Eq(a, b),
    ast.NotEq: lambda a, b: sympy.Ne(a, b),
}


def is_condition(value: object) -> bool:
    """Whether a built value (or any entry of an array) is a condition rather than a number."""
    if isinstance(value, np.ndarray):
        return any(isinstance(v, _CONDITION) for v in value.flat)
    return isinstance(value, _CONDITION)


def piecewise(condition: Any, a: sympy.Expr, b: sympy.Expr) -> sympy.Expr:
    """``a`` where ``condition`` holds, else ``b``."""
    if not isinstance(condition, _CONDITION):
        raise ExpressionError("where() needs a condition (a comparison such as x < 0) as its first argument")
    if isinstance(a, _CONDITION) or isinstance(b, _CONDITION):
        raise ExpressionError("where() chooses between numbers, not conditions")
    return sympy.Piecewise((a, condition), (b, True))


class ControlMixin:
    """Builder methods for comparisons, ``and``/``or``/``not``, ``where`` and sums over an index."""

    names: dict[str, Value]
    limits: Any
    budget: Any
    build: Callable[[ast.AST], Value]
    _map: Callable[..., Value]

    # conditions --------------------------------------------------------------------------
    def _Compare(self, node: ast.Compare) -> Value:
        values = [self.build(node.left), *(self.build(c) for c in node.comparators)]
        for value in values:
            if is_condition(value):
                raise ExpressionError(f"cannot compare conditions in {_short(ast.unparse(node))!r}")
        parts = []
        for op, left, right in zip(node.ops, values, values[1:]):
            rule = _COMPARE.get(type(op))
            if rule is None:
                raise ExpressionError(f"comparison {type(op).__name__} is not allowed (use < <= > >= == !=)")
            parts.append(self._map(rule, left, right, conditions=True))
        if len(parts) == 1:
            return parts[0]
        return self._map(lambda *p: sympy.And(*p), *parts, conditions=True)

    def _BoolOp(self, node: ast.BoolOp) -> Value:
        values = [self.build(v) for v in node.values]
        if not all(is_condition(v) for v in values):
            raise ExpressionError(f"'and'/'or' join conditions (comparisons) in {_short(ast.unparse(node))!r}")
        combine = sympy.And if isinstance(node.op, ast.And) else sympy.Or
        return self._map(lambda *p: combine(*p), *values, conditions=True)

    def _not(self, operand: Value) -> Value:
        if not is_condition(operand):
            raise ExpressionError("'not' applies to a condition (a comparison)")
        return self._map(sympy.Not, operand, conditions=True)

    def _IfExp(self, node: ast.IfExp) -> Value:
        return self._where([self.build(node.test), self.build(node.body), self.build(node.orelse)])

    def _where(self, args: list[Value]) -> Value:
        if len(args) != 3:
            raise ExpressionError(f"where() takes 3 arguments (condition, value, otherwise), got {len(args)}")
        return self._map(piecewise, *args, conditions=True)

    # sums and products over an index -------------------------------------------------------
    def _reduce(self, name: str, node: ast.GeneratorExp) -> Value:
        bindings = [self._range(g) for g in node.generators]
        count = math.prod(len(values) for _, values in bindings)
        if count > self.limits.max_array_size:
            raise ExpressionError(f"{name}() over {count} terms; the limit (max_array_size) is {self.limits.max_array_size}")
        self.budget.spend(count)
        saved = {index: self.names.get(index) for index, _ in bindings}
        terms = []
        try:
            for combination in itertools.product(*(values for _, values in bindings)):
                for (index, _), value in zip(bindings, combination):
                    self.names[index] = sympy.Integer(value)
                terms.append(self.build(node.elt))
        finally:
            for index, old in saved.items():
                if old is None:
                    self.names.pop(index, None)
                else:
                    self.names[index] = old
        if not terms:
            return sympy.Integer(0 if name == "sum" else 1)
        if any(is_condition(t) for t in terms):
            raise ExpressionError(f"{name}() adds numbers, not conditions")
        if all(not isinstance(t, np.ndarray) for t in terms):
            return sympy.Add(*terms) if name == "sum" else sympy.Mul(*terms)
        total = terms[0]
        for term in terms[1:]:
            total = self._map((lambda a, b: a + b) if name == "sum" else (lambda a, b: a * b), total, term)
        return total

    def _range(self, generator: ast.comprehension) -> tuple[str, range]:
        if generator.ifs or generator.is_async or not isinstance(generator.target, ast.Name):
            raise ExpressionError("a sum runs one name over range(...): 'for k in range(1, 6)', no 'if'")
        index = generator.target.id
        if index.startswith("_") or index in self.names or index in getattr(self, "reserved", ()):
            raise ExpressionError(f"index name {index!r} is already a name of this case or the language")
        call = generator.iter
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "range"
                and 1 <= len(call.args) <= 3 and not call.keywords):
            raise ExpressionError("an index runs over range(stop), range(start, stop) or range(start, stop, step)")
        bounds = [self._literal(a) for a in call.args]
        if len(bounds) == 3 and bounds[2] == 0:
            raise ExpressionError("range() step must not be zero")
        return index, range(*bounds)

    def _literal(self, node: ast.AST) -> int:
        negative = isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub)
        value = node.operand if negative else node  # type: ignore[attr-defined]
        if isinstance(value, ast.Constant) and isinstance(value.value, int) and not isinstance(value.value, bool) \
                and abs(value.value) <= self.limits.max_array_size:
            return -value.value if negative else value.value
        raise ExpressionError(f"range() bounds must be small integer literals, got {_short(ast.unparse(node))!r}")

    def _index_value(self, node: ast.AST) -> int | None:
        """An index built from a sum's index names and integer literals (``k + 1``), or None."""
        names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
        if not names or not all(isinstance(self.names.get(n), sympy.Integer) for n in names):
            return None
        if not all(isinstance(n, (ast.Name, ast.Constant, ast.BinOp, ast.UnaryOp, ast.Load, ast.operator,
                                  ast.unaryop)) for n in ast.walk(node)):
            return None
        value = self.build(node)
        if isinstance(value, sympy.Integer) and abs(int(value)) <= self.limits.max_array_size:
            return int(value)
        raise ExpressionError(f"index {_short(ast.unparse(node))!r} is not a small integer")

