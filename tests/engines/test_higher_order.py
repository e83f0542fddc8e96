"""Derivatives in Leibniz order: SymPy's and nested torch reverse mode agree, orders 1 to 4."""

from __future__ import annotations

import numpy as np
import sympy

from derivcheck.engines.autograd import compile_torch, partials_at
from derivcheck.engines.exact import derive_sequence

x, y, z = sympy.symbols("x y z", real=True)


def test_leibniz_order_is_the_rightmost_first() -> None:
    f = sympy.Function("g")(x, y)
    assert derive_sequence(f, [x, y]) == sympy.diff(sympy.diff(f, y), x)


def test_nested_reverse_mode_matches_sympy_up_to_fourth_order() -> None:
    f = sympy.sin(x * y) * sympy.exp(z) + x**3 * y**2 * z
    point = {x: sympy.Rational(1, 2), y: sympy.Rational(-3, 2), z: sympy.Rational(1, 3)}
    sequences = [(0,), (2, 1), (0, 0, 1), (2, 1, 0), (0, 0, 1, 1), (2, 2, 2, 2)]
    torch_values = partials_at(compile_torch([x, y, z], [f]), np.array([0.5, -1.5, 1 / 3]), sequences)
    for d, seq in enumerate(sequences):
        exact = float(derive_sequence(f, [[x, y, z][j] for j in seq]).subs(point))
        assert abs(torch_values[0, d] - exact) <= 1e-13 * max(1.0, abs(exact)), seq
