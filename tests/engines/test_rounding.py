"""The size of an expression's terms: what float64 rounding can leave in it at a point."""

from __future__ import annotations

import math

import numpy as np
import sympy

from derivcheck.engines.rounding import term_size

x, y, w = sympy.symbols("x y w", real=True)


def test_cancelling_terms_keep_their_size() -> None:
    # 3w - 2 at w = 2/3 is 0 exactly, but it is made of two terms of size 2
    assert term_size(3 * w - 2, {w: 2 / 3}) == 4.0


def test_products_and_functions_carry_the_sensitivity_of_their_arguments() -> None:
    # sin(x*y) - sin(x*y)... written as sin(x y) * 1: size |sin| + |cos| |x||y|
    size = term_size(sympy.sin(x * y), {x: 2.0, y: 3.0})
    assert math.isclose(size, abs(math.sin(6.0)) + abs(math.cos(6.0)) * 6.0)


def test_the_least_squares_gradient_at_its_solution_has_terms_of_size_ten() -> None:
    X = np.array([[1, 1], [2, 1], [3, 1]])
    y_data = X @ np.array([sympy.Rational(2, 3), sympy.Rational(1, 2)])
    ws = sympy.symbols("w0 w1", real=True)
    residual = [sum(X[i, j] * ws[j] for j in range(2)) - y_data[i] for i in range(3)]
    gradient = 2 * sum(X[i, 0] * residual[i] for i in range(3))
    point = {ws[0]: 0.6666666666666666, ws[1]: 0.5}
    assert abs(float(gradient.subs(point))) < 1e-14
    assert 10 < term_size(gradient, point) < 100


def test_a_value_that_overflows_gives_no_allowance() -> None:
    assert term_size(sympy.exp(x) - sympy.exp(x) * 0 + 1, {x: 1e6}) == 0.0
