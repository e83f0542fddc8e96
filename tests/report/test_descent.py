"""Gradient descent iterates: exact rationals, float64, the minimiser and the closed form."""

from __future__ import annotations

import pytest
import sympy

from derivcheck.language.functions import softplus
from derivcheck.report.descent import converges, run_descent

R = sympy.Rational
w = sympy.Symbol("w", real=True)


def test_tutorial_sse_iterates_are_two_minus_a_power_of_two():
    sse = (2 - w) ** 2 + (4 - 2 * w) ** 2 + (6 - 3 * w) ** 2  # = 14 (w - 2)^2
    run = run_descent(sse, [w], R(1, 56), [0], 8)
    assert run.exact
    assert [it.exact[0] for it in run.iterates] == [2 - R(1, 2 ** (n - 1)) for n in range(9)]
    assert run.minimiser == (2,)
    assert [it.distance for it in run.iterates] == [R(1, 2 ** (n - 1)) for n in range(9)]
    assert [it.value for it in run.iterates] == [14 * R(1, 2 ** (n - 1)) ** 2 for n in range(9)]
    # the float64 run follows the exact one (these are dyadic rationals: exactly)
    assert [it.numeric[0] for it in run.iterates] == [float(2 - R(1, 2 ** (n - 1))) for n in range(9)]
    n = run.n
    assert sympy.simplify(run.closed_form - (2 - 2 ** (1 - n))) == 0
    assert converges(run) is True


def test_rate_too_large_diverges():
    run = run_descent(14 * (w - 2) ** 2, [w], R(1, 10), [0], 4)  # factor 1 - 28/10 = -1.8
    assert [it.exact[0] for it in run.iterates][:3] == [0, R(28, 5), R(-112, 25)]  # 2 + (-9/5)^n (0 - 2)
    assert converges(run) is False


def test_two_variables_minimiser_and_distance():
    a, b = sympy.symbols("a b", real=True)
    f = a**2 + 3 * b**2 + a * b - a
    run = run_descent(f, [a, b], R(1, 10), [0, 0], 3)
    assert run.minimiser == (R(6, 11), R(-1, 11))
    assert run.iterates[1].exact == (R(1, 10), 0)
    first = run.iterates[0].distance
    assert first == sympy.sqrt(R(37, 121))
    assert run.closed_form is None  # only for one variable


def test_non_polynomial_continues_in_floats_without_minimiser():
    x = sympy.Symbol("x", real=True)
    run = run_descent(softplus(x), [x], R(1, 2), [1], 6)
    assert run.minimiser is None and converges(run) is None
    assert not run.exact
    # exact and float64 iterates agree; softplus' = sigmoid < 1 so each step moves less than 1/2
    for it in run.iterates:
        assert float(it.exact[0]) == pytest.approx(it.numeric[0], rel=1e-12)
    steps = [run.iterates[k].numeric[0] - run.iterates[k + 1].numeric[0] for k in range(6)]
    assert all(0 < s < 0.5 for s in steps)
