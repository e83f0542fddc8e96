"""Exact values at a point, fast: one walk over mpmath at two precisions, sharing sub-expressions.

SymPy's ``evalf`` is careful but slow: it re-evaluates a sub-expression every time it meets it,
and a Jacobian's entries share most of theirs (``sin(x0*x1)`` appears in many). Here each
distinct node is computed once per point (the values live on the ``Point``), at ``LOW`` and at
``HIGH`` digits. Inputs are exact rationals and every operation rounds correctly, so when the
two results agree to more than the requested digits the value is certified; when they do not
(heavy cancellation) or a node is unknown here, the caller falls back to ``evalf``.

A node whose value leaves the reals (log of a negative, division by zero, an overflow past
10**MAX_MAGNITUDE) at both precisions is reported as the smallest failing sub-expression.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import mpmath
import sympy
from sympy.core.relational import Relational

from derivcheck.errors import EvaluationError
from derivcheck.language.registry import SPECS, Elementary

#: A value above 10**MAX_MAGNITUDE is an overflow: no float64 engine can compare with it, and
#: going on (the exp of it, a power of it) would not finish.
MAX_MAGNITUDE = 1000
_MAX_BITS = int(MAX_MAGNITUDE / math.log10(2))

Number = mpmath.mpf


class Failure:
    """Why a node has no finite real value, and which node it is (the smallest such)."""

    __slots__ = ("node", "reason", "zero_times_is_zero")

    def __init__(self, node: sympy.Basic, reason: str, *, zero_times_is_zero: bool = False) -> None:
        self.node = node
        self.reason = reason
        # DiracDelta(0) is SymPy's unevaluated object, and 0*DiracDelta(0) is 0 there: match it
        self.zero_times_is_zero = zero_times_is_zero

    def error(self) -> EvaluationError:
        text = str(self.node)
        text = text if len(text) <= 80 else text[:77] + "..."
        return EvaluationError(f"{text!r} is {self.reason} at this point")


class Unsupported(Exception):
    """A node the fast walk does not know; the caller uses ``evalf`` instead."""


class Point(dict):
    """An exact point: each input symbol mapped to its coordinate, plus the values computed there.

    Read-only once made, so the values it remembers stay valid.

    Examples
    --------
    >>> x = sympy.Symbol("x", real=True)
    >>> point = Point({x: sympy.Rational(1, 3)})
    >>> float(point.certified(sympy.sin(x) ** 2, 34))
    0.107056369611526
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._walker = _Walker(self)

    def value(self, expr: sympy.Basic) -> tuple[object, object]:
        """``expr`` here at the two precisions: each an mpf, or a ``Failure``.

        Raises ``Unsupported`` for a node the walk does not know.
        """
        return self._walker.value(expr)

    def certified(self, expr: sympy.Basic, digits: int) -> object:
        """``expr`` here, correct to ``digits`` significant digits (a global-context mpf); a
        ``Failure`` when it has no finite real value; None when the two precisions disagree.

        Raises ``Unsupported`` for a node the walk does not know.
        """
        if digits > LOW - 10:
            return None
        low, high = self.value(expr)
        if isinstance(low, Failure) and isinstance(high, Failure):
            return high
        if isinstance(low, Failure) or isinstance(high, Failure):
            return None
        ctx = self._walker.contexts[1]
        if low != high:
            difference = ctx.fsub(high, ctx.mpf(low._mpf_))
            if not high or abs(difference) > abs(high) * ctx.mpf(10) ** -(digits + 3):
                return None
        return mpmath.mp.make_mpf(high._mpf_)  # unrounded: the caller rounds to its digits

    def _read_only(self, *args: object, **kwargs: object) -> None:
        raise TypeError("a Point is read-only; make a new one")

    __setitem__ = __delitem__ = update = pop = popitem = clear = setdefault = __ior__ = _read_only  # type: ignore[assignment]

    def __reduce__(self) -> tuple:
        return (Point, (dict(self),))


class _Walker:
    """Post-order walk with a memo; one instance per state of a ``Point``."""

    def __init__(self, point: Point) -> None:
        self.point = point
        self.memo: dict[sympy.Basic, tuple[object, object]] = {}
        self.contexts = (_context(LOW), _context(HIGH))

    def value(self, root: sympy.Basic) -> tuple[object, object]:
        memo = self.memo
        if root in memo:
            return memo[root]
        stack: list[tuple[sympy.Basic, bool]] = [(root, False)]
        while stack:
            node, ready = stack.pop()
            if node in memo:
                continue
            if isinstance(node, sympy.Piecewise):  # only the branch that holds is evaluated
                memo[node] = self._piecewise(node)
                continue
            if not ready and node.args and not isinstance(node, sympy.Symbol):
                stack.append((node, True))
                stack.extend((arg, False) for arg in node.args if arg not in memo)
                continue
            memo[node] = self._compute(node)
        return memo[root]

    def _piecewise(self, node: sympy.Basic) -> tuple[object, object]:
        for value, condition in node.args:  # type: ignore[attr-defined]
            truth = self.truth(condition)
            if isinstance(truth, Failure):
                return truth, truth
            if truth:
                return self.value(value)
        failure = Failure(node, "undefined (no branch of where() holds)")
        return failure, failure

    def truth(self, condition: sympy.Basic) -> object:
        """Whether a condition holds here (decided at the higher precision; a difference below
        its last digits is equality), or the ``Failure`` of a side that has no value."""
        if condition is sympy.true or condition is sympy.false:
            return bool(condition)
        if isinstance(condition, sympy.Not):
            inner = self.truth(condition.args[0])
            return inner if isinstance(inner, Failure) else not inner
        if isinstance(condition, (sympy.And, sympy.Or)):
            values = [self.truth(c) for c in condition.args]
            failed = next((v for v in values if isinstance(v, Failure)), None)
            if failed is not None:
                return failed
            return all(values) if isinstance(condition, sympy.And) else any(values)
        if isinstance(condition, Relational):
            difference = self.value(condition.lhs - condition.rhs)[1]
            if isinstance(difference, Failure):
                return difference
            ctx = self.contexts[1]
            sizes = [self.value(side)[1] for side in (condition.lhs, condition.rhs)]
            size = max((abs(v) for v in sizes if not isinstance(v, Failure)), default=ctx.one)
            sign = 0 if abs(difference) <= size * ctx.mpf(10) ** -(HIGH - 10) else (1 if difference > 0 else -1)
            return _RELATIONS[condition.rel_op](sign)
        raise Unsupported(type(condition).__name__)

    def _compute(self, node: sympy.Basic) -> tuple[object, object]:
        if not node.args or isinstance(node, sympy.Symbol):
            return tuple(_atom(node, ctx, self) for ctx in self.contexts)  # type: ignore[return-value]
        rule = _rule(node)
        results = []
        for k, ctx in enumerate(self.contexts):
            args = [self.memo[arg][k] for arg in node.args]
            bad = next((a for a in args if isinstance(a, Failure)), None)
            if bad is not None and isinstance(node, sympy.Mul) and _zero_annihilates(args):
                results.append(ctx.zero)
                continue
            if bad is not None:
                results.append(bad)
                continue
            try:
                value = rule(ctx, node, args)
            except ZeroDivisionError:
                value = Failure(node, "infinite (division by zero)")
            if not isinstance(value, Failure):
                value = _finite(node, ctx, value)
            results.append(value)
        return tuple(results)  # type: ignore[return-value]

    def coordinate(self, symbol: sympy.Symbol, ctx: mpmath.MPContext) -> object:
        value = dict.get(self.point, symbol)
        if isinstance(value, sympy.Rational):
            return ctx.mpf(int(value.p)) / int(value.q)
        if isinstance(value, int) and not isinstance(value, bool):
            return ctx.mpf(value)
        if isinstance(value, sympy.Expr) and value.is_number:  # an exact constant such as pi/4
            computed = self.value(value)[self.contexts.index(ctx)]
            if not isinstance(computed, Failure):
                return computed
        raise Unsupported(f"no exact value for {symbol}")


LOW, HIGH = 50, 70  # decimal digits; see DIGITS in symbolic.py

#: a relation's truth from the sign of lhs - rhs
_RELATIONS: dict[str, Callable[[int], bool]] = {
    "<": lambda s: s < 0, "<=": lambda s: s <= 0, ">": lambda s: s > 0, ">=": lambda s: s >= 0,
    "==": lambda s: s == 0, "!=": lambda s: s != 0,
}
_CONTEXTS: dict[int, mpmath.MPContext] = {}


def _context(digits: int) -> mpmath.MPContext:
    if digits not in _CONTEXTS:
        ctx = mpmath.MPContext()
        ctx.dps = digits
        _CONTEXTS[digits] = ctx
    return _CONTEXTS[digits]


def _atom(node: sympy.Basic, ctx: mpmath.MPContext, walker: _Walker) -> object:
    if isinstance(node, sympy.Symbol):
        return walker.coordinate(node, ctx)
    if isinstance(node, sympy.Rational):
        return ctx.mpf(int(node.p)) / int(node.q)
    if isinstance(node, sympy.Float):
        return ctx.mpf(node._mpf_)
    if node.is_NumberSymbol:
        return ctx.make_mpf(node._as_mpf_val(ctx.prec + 10))  # type: ignore[attr-defined]
    if node in (sympy.zoo, sympy.oo, -sympy.oo):
        return Failure(node, "infinite (division by zero or a pole)")
    if node is sympy.nan:
        return Failure(node, "undefined (nan)")
    if node is sympy.I:
        return Failure(node, "not a real number")
    raise Unsupported(type(node).__name__)


def _finite(node: sympy.Basic, ctx: mpmath.MPContext, value: object) -> object:
    if not isinstance(value, ctx.mpf):
        return Failure(node, "not a real number")
    if not ctx.isfinite(value):
        return Failure(node, "undefined (nan)" if ctx.isnan(value) else "infinite (a pole)")
    if value and ctx.mag(value) > _MAX_BITS:
        return Failure(node, f"too large to evaluate (over 10**{MAX_MAGNITUDE})")
    return value


# rules ---------------------------------------------------------------------------------------
Rule = Callable[[mpmath.MPContext, sympy.Basic, list], object]


def _pow(ctx: mpmath.MPContext, node: sympy.Basic, args: list) -> object:
    base, exponent = args
    integer = node.exp.is_Integer  # type: ignore[attr-defined]
    if not base:
        if exponent < 0:
            return Failure(node, "infinite (division by zero)")
        return ctx.one if exponent == 0 else ctx.zero
    if base < 0 and not integer:
        return Failure(node, f"not a real number (a power of {_show(base)})")
    if exponent * ctx.mag(base) > 2 * _MAX_BITS:
        return Failure(node, f"too large to evaluate (over 10**{MAX_MAGNITUDE})")
    if integer:
        return ctx.power(base, int(node.exp))  # type: ignore[attr-defined]
    if exponent == 0.5:
        return ctx.sqrt(base)
    return ctx.power(base, exponent)


def _exp(ctx: mpmath.MPContext, node: sympy.Basic, args: list) -> object:
    (a,) = args
    if a > MAX_MAGNITUDE * 2.31:  # ln(10) ~ 2.3026
        return Failure(node, f"too large to evaluate (over 10**{MAX_MAGNITUDE})")
    return ctx.exp(a)


def _atan2(ctx: mpmath.MPContext, node: sympy.Basic, args: list) -> object:
    y, x = args
    if not y and not x:
        return Failure(node, "undefined (atan2 of 0, 0)")
    return ctx.atan2(y, x)


def _heaviside(ctx: mpmath.MPContext, node: sympy.Basic, args: list) -> object:
    a = args[0]
    if a:
        return ctx.one if a > 0 else ctx.zero
    return args[1] if len(args) > 1 else ctx.mpf(0.5)


def _dirac(ctx: mpmath.MPContext, node: sympy.Basic, args: list) -> object:
    if args[0]:
        return ctx.zero
    return Failure(node, "infinite (DiracDelta at 0)", zero_times_is_zero=True)


def _zero_annihilates(args: list) -> bool:
    """A product with an exact zero factor whose only failures are DiracDelta(0)s is 0."""
    failures = [a for a in args if isinstance(a, Failure)]
    return all(f.zero_times_is_zero for f in failures) and any(
        not isinstance(a, Failure) and not a for a in args
    )


def _from_registry(spec: Elementary) -> Rule:
    """The rule of a one-argument function of the registry: its mpmath form inside its domain."""
    name, domain, value = spec.name or spec.node.__name__, spec.domain, spec.mpmath

    def rule(ctx: mpmath.MPContext, node: sympy.Basic, args: list) -> object:
        (a,) = args
        if domain.open and a in (domain.low, domain.high):
            return Failure(node, f"infinite ({name} of {_show(a)})")
        if not domain.low <= a <= domain.high:
            return Failure(node, f"not a real number ({name} of {_show(a)})")
        if domain.grows and abs(a) > MAX_MAGNITUDE * 2.31:  # ln(10) ~ 2.3026
            return Failure(node, f"too large to evaluate (over 10**{MAX_MAGNITUDE})")
        return value(ctx, a)
    return rule


_RULES: dict[type, Rule] = {
    **{spec.node: _from_registry(spec) for spec in SPECS if spec.mpmath is not None and spec.arity == 1},
    sympy.Add: lambda ctx, node, args: ctx.fsum(args),
    sympy.Mul: lambda ctx, node, args: ctx.fprod(args),
    sympy.Pow: _pow,
    sympy.exp: _exp,  # overflows only upwards: exp(-3000) is a fine tiny number
    sympy.Max: lambda ctx, node, args: max(args),
    sympy.Min: lambda ctx, node, args: min(args),
    sympy.Heaviside: _heaviside,
    sympy.DiracDelta: _dirac,
    sympy.atan2: _atan2,
}


def _rule(node: sympy.Basic) -> Rule:
    rule = _RULES.get(type(node))
    if rule is None:
        raise Unsupported(type(node).__name__)
    return rule


def _show(value: mpmath.mpf) -> str:
    if value == int(value) and abs(value) < 10**15:
        return str(int(value))
    return mpmath.nstr(value, 6)


def supported(nodes: Iterable[sympy.Basic]) -> bool:
    """Whether every node type is known to the fast walk (used by tests)."""
    return all(type(n) in _RULES or not n.args for n in nodes)
