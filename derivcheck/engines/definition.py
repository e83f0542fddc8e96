"""Derivatives from the definition, for points on the switching set of a ``where()``.

There the symbolic derivative of whichever branch holds at the point is not the derivative of the
function (``where(x == 0, 0, x)`` has slope 1 at 0, its branch 0 has slope 0), and neither torch
(it differentiates one branch) nor a finite-difference stencil (it straddles the set) can be
trusted. The definition can: each step is the limit of a difference quotient, one-sided, taken by
SymPy along the line through the point, with each ``where()`` resolved to the branch that holds
just beside the point on that side.

The classic f = xy(x^2 - y^2)/(x^2 + y^2), f(0, 0) = 0 gives d/dy(df/dx) = -1 but
d/dx(df/dy) = 1 at the origin: its mixed partials differ (Clairaut's theorem needs continuous
second partials, which it has not).
"""

from __future__ import annotations

from collections.abc import Sequence

import sympy

from derivcheck.engines import exact as symbolic

_t = sympy.Dummy("t", real=True)
#: how far beside the point a where() is resolved (exact; far below any step that matters)
_PROBE = sympy.Rational(1, 10**40)


def on_switching_set(kinked: Sequence[sympy.Expr]) -> bool:
    """Whether any of a point's kinks is a where() (rather than relu, abs, max, ...)."""
    return any(isinstance(k, sympy.Piecewise) for k in kinked)


def one_sided(expr: sympy.Expr, symbols: Sequence[sympy.Symbol], point: Sequence[sympy.Expr],
              sequence: Sequence[int]) -> tuple[sympy.Expr | None, sympy.Expr | None]:
    """(left, right): the last differentiation of ``sequence`` (Leibniz order: the leftmost is
    applied last) as one-sided limits of its difference quotient at ``point``; None where the
    limit does not exist, is infinite, or cannot be found.

    Examples
    --------
    >>> x = sympy.Symbol("x", real=True)
    >>> one_sided(sympy.Piecewise((0, sympy.Eq(x, 0)), (x, True)), [x], [0], [0])
    (1, 1)
    """
    last, rest = sequence[0], list(sequence[1:])
    inner = symbolic.derive_sequence(expr, [symbols[j] for j in rest]) if rest else expr
    at_point = _value(expr, symbols, point, rest)
    if at_point is None:
        return None, None
    line = inner.xreplace({s: (p + _t if i == last else p) for i, (s, p) in enumerate(zip(symbols, point))})
    out = []
    for side in (-1, 1):
        beside = _resolve(line, side)
        try:
            value = sympy.limit((beside - at_point) / _t, _t, 0, "+" if side > 0 else "-")
        except (NotImplementedError, ValueError, TypeError, RecursionError):
            value = None
        out.append(value if value is not None and value.is_finite and value.is_real else None)
    return out[0], out[1]


def _value(expr: sympy.Expr, symbols: Sequence[sympy.Symbol], point: Sequence[sympy.Expr],
           sequence: list[int]) -> sympy.Expr | None:
    """The derivative by ``sequence`` at the point, by the definition (both sides must agree)."""
    if not sequence:
        value = expr.xreplace(dict(zip(symbols, point)))  # a where() picks its branch here, exactly
        return value if value.is_finite and value.is_real else None
    left, right = one_sided(expr, symbols, point, sequence)
    if left is None or right is None or sympy.simplify(left - right) != 0:
        return None
    return right


def _resolve(expr: sympy.Expr, side: int) -> sympy.Expr:
    """Each where() replaced by the branch that holds just beside the point on ``side``."""
    probe = {_t: side * _PROBE}

    def branch(*pairs: tuple) -> sympy.Expr:
        for value, condition in pairs:
            if condition is sympy.true or bool(condition.xreplace(probe)):
                return value
        return sympy.nan

    return expr.replace(lambda e: isinstance(e, sympy.Piecewise), lambda e: branch(*e.args))
