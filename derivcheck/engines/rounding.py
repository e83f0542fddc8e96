"""How much float64 rounding an expression can pick up at a point: the size of its terms.

An engine in float64 computes ``2 X^T X w - 2 X^T y`` from terms of size 10 that cancel to 0, and
it receives ``w = 2/3`` as the nearest binary number, not as the decimal the case file wrote.
Both leave errors proportional to the *terms*, not to the result. ``term_size`` is a first-order
bound on that sensitivity, computed in one float walk over the expression tree:

* an input ``x`` counts ``|x|`` (its rounding is at most half an ulp of it);
* a sum counts the sizes of its terms (``|a| + |b|``, however much ``a + b`` cancels);
* a product counts the product of the sizes;
* a function ``g(u)`` counts ``|g(u)| + |g'(u)| size(u)``, with ``g'`` from SymPy's own rule.

The float64 error of an engine is then a small multiple of ``eps * term_size``. A value that is
not finite anywhere in the walk gives 0: no allowance, so nothing is let through by an overflow.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import sympy

from derivcheck.engines.numpy_eval import NUMPY_FUNCTIONS, value_at

_Pair = tuple[float, float]  # (value, size)


def term_size(expr: sympy.Expr, point: Mapping[sympy.Symbol, float], memo: dict | None = None) -> float:
    """The size of the terms that add up to ``expr`` at ``point`` (float64 coordinates).

    ``memo`` may be shared by expressions evaluated at the same point (a Jacobian's entries).

    Examples
    --------
    >>> w = sympy.Symbol("w", real=True)
    >>> term_size(3 * w - 2, {w: 2 / 3})  # the terms 3w and 2 cancel; each has size 2
    4.0
    """
    memo = {} if memo is None else memo
    try:
        with np.errstate(all="ignore"):
            size = _Walk(point, memo).pair(sympy.sympify(expr))[1]
    except (NotImplementedError, ValueError, TypeError, OverflowError, ZeroDivisionError, RecursionError):
        return 0.0
    return size if math.isfinite(size) else 0.0


class _Walk:
    def __init__(self, point: Mapping[sympy.Symbol, float], memo: dict) -> None:
        self.point = point
        self.memo = memo
        self.values = memo.setdefault(None, dict(point))  # plain values, shared with value_at

    def pair(self, node: sympy.Basic) -> _Pair:
        if node in self.memo:
            return self.memo[node]
        stack: list[tuple[sympy.Basic, bool]] = [(node, False)]
        while stack:  # post-order without recursion: deep let chains stay safe
            current, ready = stack.pop()
            if current in self.memo:
                continue
            if isinstance(current, sympy.Piecewise):  # only the branch that holds counts
                self.memo[current] = self._piecewise(current)
                continue
            if not ready and current.args and not isinstance(current, sympy.Symbol):
                stack.append((current, True))
                stack.extend((a, False) for a in current.args if a not in self.memo)
                continue
            self.memo[current] = self._compute(current)
        return self.memo[node]

    def _compute(self, node: sympy.Basic) -> _Pair:
        if isinstance(node, sympy.Symbol):
            value = float(self.point[node])
            return value, abs(value)
        if node.is_Number or isinstance(node, sympy.NumberSymbol):
            value = float(node)
            return value, abs(value)
        args = [self.memo[a] for a in node.args]
        if isinstance(node, sympy.Add):
            return math.fsum(v for v, _ in args), sum(s for _, s in args)
        if isinstance(node, sympy.Mul):
            return math.prod(v for v, _ in args), math.prod(s for _, s in args)
        if isinstance(node, sympy.Pow):
            (b, sb), (e, se) = args
            value = float(np.power(b, e)) if e != 0.5 else math.sqrt(b)
            size = abs(value) + abs(e * np.power(b, e - 1)) * sb if b != 0 or e >= 1 else abs(value)
            if not node.exp.is_Number and b > 0:
                size += abs(math.log(b) * value) * se
            return value, float(size)
        if isinstance(node, (sympy.Max, sympy.Min)):
            values = [v for v, _ in args]
            pick = int(np.argmax(values) if isinstance(node, sympy.Max) else np.argmin(values))
            return args[pick]
        value = self._function_value(node, [v for v, _ in args])
        size = abs(value)
        for k, (_, s) in enumerate(args, start=1):
            if s:
                size += abs(self._value(node.fdiff(k))) * s
        return value, size

    def _function_value(self, node: sympy.Basic, values: list[float]) -> float:
        function = NUMPY_FUNCTIONS.get(type(node))
        if function is None:
            raise NotImplementedError(type(node).__name__)
        return float(function(*values))

    def _value(self, expr: sympy.Basic) -> float:
        return float(value_at(expr, self.values))

    def _piecewise(self, node: sympy.Basic) -> _Pair:
        for value, condition in node.args:  # type: ignore[attr-defined]
            if condition is sympy.true or bool(self._truth(condition)):
                return self.pair(value)
        raise ValueError("no branch of a where() holds")

    def _truth(self, condition: Any) -> bool:
        known = {s: sympy.Float(v) for s, v in self.point.items()}
        return bool(condition.xreplace(known))
