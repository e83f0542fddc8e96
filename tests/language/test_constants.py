"""Exact constants wherever a case file puts a number: "pi/4", "2/3", "sqrt(2)/2", "cos(pi/6)"."""

from __future__ import annotations

import math

import pytest
import sympy

from derivcheck.errors import ExpressionError
from derivcheck.language.constants import to_exact, to_float


@pytest.mark.parametrize("text, expected", [
    ("pi/4", sympy.pi / 4),
    ("2/3", sympy.Rational(2, 3)),
    ("sqrt(2)/2", sympy.sqrt(2) / 2),
    ("cos(pi/6)", sympy.sqrt(3) / 2),
    ("-pi", -sympy.pi),
    ("E**2", sympy.E**2),
])
def test_constant_text_stays_exact(text: str, expected: sympy.Expr) -> None:
    assert sympy.simplify(to_exact(text) - expected) == 0


def test_numbers_are_read_by_their_decimal_text() -> None:
    assert to_exact(0.6666666666666666) == sympy.Rational(6666666666666666, 10**16)
    assert to_exact(3) == 3


@pytest.mark.parametrize("value, expected", [
    (sympy.Rational(2, 3), 2 / 3), (sympy.pi / 4, math.pi / 4), (sympy.sqrt(2), math.sqrt(2)),
    (sympy.Rational(10**40 + 1, 3), (10**40 + 1) / 3),
])
def test_to_float_is_the_nearest_double(value: sympy.Expr, expected: float) -> None:
    assert to_float(value) == expected


@pytest.mark.parametrize("text, message", [
    ("x", "undefined name 'x'"),
    ("sqrt(-2)", "not a real number"),
    ("acos(2)", "is not a finite real number"),
    ("[1, 2]", "is an array"),
    ("log(0)", "infinite or undefined"),
    ("__import__('os')", "not allowed"),
    ("9**9**9", "limit"),
])
def test_bad_constants_are_one_clear_error(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message.replace("(", r"\(")):
        to_exact(text)
