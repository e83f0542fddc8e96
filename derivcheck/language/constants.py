"""Numbers a case file writes where a number belongs: TOML numbers by their decimal text, or
constant text such as ``"pi/4"`` read by the same whitelisting parser, with no names.
"""

from __future__ import annotations

import sympy

from derivcheck.errors import ExpressionError
from derivcheck.language.limits import LIMITS, Budget, Limits, _short
from derivcheck.language.parser import is_array, parse, to_number


def to_exact(value: object, *, limits: Limits = LIMITS, budget: Budget | None = None) -> sympy.Expr:
    """A number from a case file, exactly: a TOML number (by its decimal text), or constant text
    such as ``"pi/4"``, ``"2/3"`` or ``"cos(pi/6)"`` parsed by the same whitelist, with no names.

    Examples
    --------
    >>> to_exact("sqrt(2)/2")
    sqrt(2)/2
    >>> to_exact(0.25)
    1/4
    """
    if not isinstance(value, str):
        return to_number(value)
    try:
        parsed = parse(value, {}, limits=limits, budget=budget)
    except ExpressionError as exc:
        raise ExpressionError(f"expected a number or a constant expression, got {_short(repr(value))}: {exc}") from None
    if is_array(parsed):
        raise ExpressionError(f"expected a number, {_short(repr(value))} is an array")
    number = parsed.evalf(30)  # type: ignore[union-attr]
    if not (number.is_Number and number.is_real and number.is_finite):
        raise ExpressionError(f"{_short(repr(value))} is not a finite real number")
    return parsed  # type: ignore[return-value]


def to_float(value: sympy.Expr) -> float:
    """The float64 nearest an exact number (what torch receives for it)."""
    if isinstance(value, sympy.Rational):
        return int(value.p) / int(value.q)  # correctly rounded, however large the integers
    return float(sympy.Float(value.evalf(40), 40))
