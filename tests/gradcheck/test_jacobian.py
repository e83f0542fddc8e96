"""check_jacobian: every entry compared, kinks judged one-sided, causes read off the wrong ones."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from derivcheck.gradcheck.context import prepare
from derivcheck.gradcheck.jacobian import check_jacobian
from derivcheck.gradcheck.result import Options
from derivcheck.gradcheck.torch_function import TorchFunction
from derivcheck.model import Quantity
from derivcheck.verdict import Source, Verdict

F64 = torch.float64


def randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, dtype=F64, generator=torch.Generator().manual_seed(seed)).requires_grad_()


class SinSignFlipped(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.sin()

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return -g * x.cos()


def context(func, x):
    return prepare(TorchFunction(func, x), None, Options())


def test_a_right_jacobian_passes_entry_by_entry_against_its_closed_form() -> None:
    ctx = context(lambda x: x.tanh(), randn(3))
    first = check_jacobian(ctx)
    entries = [r for r in first.rows if r.quantity is Quantity.JACOBIAN]
    assert [r.index for r in entries] == [(i, j) for i in range(3) for j in range(3)]
    assert all(r.verdict is Verdict.PASS for r in first.rows)
    expected = np.diag(1 - np.tanh(ctx.fn.x) ** 2).ravel()
    assert [r.numeric for r in entries] == pytest.approx(list(expected), abs=1e-9)
    assert [r.label for r in first.rows if r.quantity is Quantity.JVP] == [f"(J u1)[out[{i}]]" for i in range(3)]


def test_a_flipped_sign_fails_every_diagonal_entry_and_is_named() -> None:
    first = check_jacobian(context(SinSignFlipped.apply, randn(4)))
    wrong = [r for r in first.rows if r.verdict is Verdict.MISMATCH]
    assert sorted(r.index for r in wrong) == [(i, i) for i in range(4)]
    assert all(Source.REVERSE in r.wrong for r in wrong)
    assert any(c.startswith("sign flipped") for c in first.causes)
    assert not first.forward.on  # no forward-mode rule: switched off in the result


def test_a_kink_at_the_point_is_judged_not_differentiable() -> None:
    first = check_jacobian(context(lambda x: torch.relu(x).sum(), torch.tensor([0.0, 1.0], dtype=F64,
                                                                                requires_grad=True)))
    at_zero = next(r for r in first.rows if r.index == (0, 0))
    assert at_zero.verdict is Verdict.NOT_DIFFERENTIABLE
    assert (at_zero.left, at_zero.right) == (pytest.approx(0.0, abs=1e-9), pytest.approx(1.0))


def test_a_missing_term_in_the_users_gradient_is_named() -> None:
    ctx = context(lambda x: (x.sin() * x).sum(), randn(3))
    x = ctx.fn.x
    first = check_jacobian(dataclasses.replace(ctx, claim=np.cos(x) * x))  # d(sin x)/dx . x: sin x dropped
    assert all(Source.CLAIM in r.wrong for r in first.rows if r.quantity is Quantity.JACOBIAN)
    assert first.causes == (("a term is missing: the computed value equals the derivative with operand 2 of "
                             "Tensor.mul (operation 2 of the forward pass) held constant"),)
