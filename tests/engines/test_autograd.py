"""The torch engine against SymPy: every function of the language, both modes, batches, complex step."""

from __future__ import annotations

import numpy as np
import pytest
import sympy
import torch

from derivcheck.engines.autograd import autograd_at, compile_torch, complex_step_safe
from derivcheck.engines.exact import derive, evaluate
from derivcheck.language.parser import ELEMENTWISE_1, parse

x, y = sympy.symbols("x y", real=True)
POINT = {"x": 0.3, "y": 0.7}
SAFE_ARG = {"acosh": "1 + x + y", "log": "x + y"}


@pytest.mark.parametrize("name", sorted(ELEMENTWISE_1))
def test_every_function_compiles_to_matching_values_and_gradients(name: str) -> None:
    text = f"{name}({SAFE_ARG.get(name, '0.2*x + 0.1*y')}) * y"
    expr = parse(text, {"x": x, "y": y})
    fn = compile_torch([x, y], [expr])
    point = np.array([POINT["x"], POINT["y"]])
    subs = {x: sympy.Rational(3, 10), y: sympy.Rational(7, 10)}
    value = fn(torch.tensor(point, dtype=torch.float64)).item()
    assert value == pytest.approx(float(evaluate(expr, subs)), rel=1e-13, abs=1e-15)
    ad = autograd_at(fn, point, directions=np.eye(2), tangents=np.zeros((0, 2)), cotangents=np.ones((1, 1)), hessian=False)
    exact = [float(evaluate(d, subs)) for d in derive([x, y], [expr]).jacobian[0]]
    np.testing.assert_allclose(ad.reverse[0], exact, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ad.forward[0], exact, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ad.directional[:, 0], exact, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ad.vjp[0], exact, rtol=1e-12, atol=1e-14)


def test_two_argument_functions_and_batches() -> None:
    exprs = [sympy.atan2(y, x), sympy.Max(x, y), sympy.Min(x, y) * sympy.exp(x)]
    fn = compile_torch([x, y], exprs)
    batch = np.array([[1.0, 2.0], [-1.0, 0.5], [3.0, -4.0]])
    out = fn.numpy(batch)
    assert out.shape == (3, 3)
    for row, (a, b) in zip(out, batch):
        np.testing.assert_allclose(row, [np.arctan2(b, a), max(a, b), min(a, b) * np.exp(a)], rtol=1e-15)


def test_hessian_matches_sympy() -> None:
    f = (1 - x) ** 2 + 100 * (y - x**2) ** 2
    fn = compile_torch([x, y], [f])
    ad = autograd_at(fn, np.array([0.5, -1.0]), directions=np.zeros((0, 2)), tangents=np.zeros((0, 2)),
                     cotangents=np.zeros((0, 1)), hessian=True)
    sym = derive([x, y], [f], order=2)
    subs = {x: sympy.Rational(1, 2), y: sympy.Integer(-1)}
    exact = np.array([[float(evaluate(sym.hessian[0, i, j], subs)) for j in range(2)] for i in range(2)])
    np.testing.assert_allclose(ad.hessian[0], exact, rtol=1e-13)


def test_complex_step_is_offered_only_for_analytic_functions() -> None:
    assert complex_step_safe([sympy.sin(x) * sympy.exp(y) + sympy.log(x) / y])
    assert not complex_step_safe([sympy.Abs(x)])
    assert not complex_step_safe([sympy.Max(x, y)])
    fn = compile_torch([x, y], [sympy.sin(x) * sympy.exp(y)])
    h = 1e-30
    out = fn.numpy(np.array([[0.3 + 1j * h, 0.7]], dtype=np.complex128))
    assert out.imag[0, 0] / h == pytest.approx(np.cos(0.3) * np.exp(0.7), rel=1e-15)
