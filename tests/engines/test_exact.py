"""The exact engine against independent oracles: textbook derivatives and mpmath at 50 digits."""

from __future__ import annotations

import mpmath
import pytest
import sympy

from derivcheck.engines.exact import DIGITS, derive, evaluate, kinks
from derivcheck.errors import EvaluationError
from derivcheck.language.functions import relu, sigmoid, softplus

x, y, z = sympy.symbols("x y z", real=True)


def test_jacobian_and_hessian_of_textbook_functions() -> None:
    rosenbrock = (1 - x) ** 2 + 100 * (y - x**2) ** 2
    sym = derive([x, y], [rosenbrock], order=2)
    assert sympy.expand(sym.jacobian[0, 0] - (-2 * (1 - x) - 400 * x * (y - x**2))) == 0
    assert sympy.expand(sym.jacobian[0, 1] - 200 * (y - x**2)) == 0
    hess = [[sympy.expand(sym.hessian[0, i, j]) for j in range(2)] for i in range(2)]
    assert hess == [[1200 * x**2 - 400 * y + 2, -400 * x], [-400 * x, 200]]


def test_tutorial_values() -> None:
    sym = derive([x, y], [x**2 * y], order=2)
    subs = {x: sympy.Integer(2), y: sympy.Integer(3)}
    assert float(evaluate(sym.jacobian[0, 0], subs)) == 12.0
    assert float(evaluate(sym.hessian[0, 0, 0], subs)) == 6.0


@pytest.mark.parametrize(
    "expr, mp_derivative",
    [
        (sympy.sin(x**2), lambda v: 2 * v * mpmath.cos(v**2)),
        (sympy.exp(x) * sympy.log(1 + x), lambda v: mpmath.exp(v) * (mpmath.log(1 + v) + 1 / (1 + v))),
        (sigmoid(x), lambda v: mpmath.exp(-v) / (1 + mpmath.exp(-v)) ** 2),
        (softplus(3 * x), lambda v: 3 / (1 + mpmath.exp(-3 * v))),
        (sympy.erf(x), lambda v: 2 / mpmath.sqrt(mpmath.pi) * mpmath.exp(-(v**2))),
        (sympy.atan(1 / x), lambda v: -1 / (1 + v**2)),
    ],
)
def test_values_have_thirty_correct_digits(expr, mp_derivative) -> None:
    point = sympy.Rational(1, 3)
    value = evaluate(derive([x], [expr]).jacobian[0, 0], {x: point}, digits=DIGITS)
    with mpmath.workdps(60):
        reference = mp_derivative(mpmath.mpf(1) / 3)
        assert abs(mpmath.mpf(str(value)) - reference) <= abs(reference) * mpmath.mpf(10) ** -30


def test_outside_the_domain_names_the_sub_expression() -> None:
    with pytest.raises(EvaluationError, match=r"log\(x - 1\)"):
        evaluate(sympy.log(x - 1) + x, {x: sympy.Integer(-1)})
    with pytest.raises(EvaluationError, match="infinite"):
        evaluate(1 / (x - 1), {x: sympy.Integer(1)})


def test_kinks_are_found_exactly_where_the_switch_happens() -> None:
    exprs = [relu(x) + sympy.Abs(y) + sympy.Max(x, z)]
    zero = sympy.Integer(0)
    assert set(kinks(exprs, {x: zero, y: sympy.Integer(1), z: sympy.Integer(5)})) == {relu(x)}
    assert set(kinks(exprs, {x: sympy.Integer(2), y: zero, z: sympy.Integer(2)})) == {sympy.Abs(y), sympy.Max(x, z)}
    assert kinks(exprs, {x: sympy.Rational(1, 10**30), y: sympy.Integer(1), z: zero}) == []
