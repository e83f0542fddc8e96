"""Second order as a first-order check of the gradient: double backward against finite
differences of g(x) = w . J(x)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from derivcheck.gradcheck.context import prepare
from derivcheck.gradcheck.hvp import CONSTANT_GRADIENT, check_second_order
from derivcheck.gradcheck.numpy_function import NumpyFunction
from derivcheck.gradcheck.result import Options
from derivcheck.gradcheck.torch_function import TorchFunction
from derivcheck.model import Quantity
from derivcheck.verdict import Source, Verdict

F64 = torch.float64


def randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, dtype=F64, generator=torch.Generator().manual_seed(seed)).requires_grad_()


class CubeOnce(torch.autograd.Function):
    """x**3 with a right backward that is not itself differentiable."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3 * x ** 2


def context(func, x):
    return prepare(TorchFunction(func, x), None, Options())


def test_every_hessian_entry_of_a_small_input_against_its_closed_form() -> None:
    ctx = context(lambda x: (x ** 3).sum() + x[0] * x[1], randn(3))
    second = check_second_order(ctx, full=True)
    assert [r.label for r in second.rows[:3]] == ["d2out/dx[0]dx[0]", "d2out/dx[0]dx[1]", "d2out/dx[0]dx[2]"]
    assert all(r.verdict is Verdict.PASS and r.quantity is Quantity.HESSIAN for r in second.rows)
    H = np.diag(6 * ctx.fn.x) + np.array([[0, 1, 0], [1, 0, 0], [0, 0, 0]])
    assert [r.reverse for r in second.rows] == pytest.approx(list(H.ravel()), abs=1e-12)
    assert second.causes == () and second.unchecked == ""


def test_large_inputs_compare_v_h_u_along_the_seeded_directions() -> None:
    ctx = context(lambda x: (x.sin() ** 3).sum(), randn(100))
    second = check_second_order(ctx, full=False)
    assert [r.label for r in second.rows] == ["v1 . H u1", "v2 . H u2", "v3 . H u3", "v4 . H u4"]
    assert all(r.verdict is Verdict.PASS for r in second.rows)


def test_a_backward_that_is_not_differentiable_is_named() -> None:
    second = check_second_order(context(lambda x: CubeOnce.apply(x).sum(), randn(3)), full=True)
    diagonal = [r for r in second.rows if r.index[1] == r.index[2]]
    assert all(r.verdict is Verdict.MISMATCH and Source.REVERSE in r.wrong and r.reverse == 0 for r in diagonal)
    assert second.causes == (CONSTANT_GRADIENT,)


def test_a_function_without_autograd_says_why_nothing_was_compared() -> None:
    fn = NumpyFunction(lambda x: np.sum(x ** 2), np.array([1.0, 2.0]))
    second = check_second_order(prepare(fn, lambda x: 2 * x, Options()), full=True)
    assert second.rows == () and second.notes == ("second order not checked: the function has no autograd graph",)
