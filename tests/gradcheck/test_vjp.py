"""check_vjp: w . J u along seeded directions, then suspects, then causes, all returned as values."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from derivcheck.gradcheck.context import prepare
from derivcheck.gradcheck.result import Options
from derivcheck.gradcheck.torch_function import TorchFunction
from derivcheck.gradcheck.vjp import check_vjp
from derivcheck.model import Quantity
from derivcheck.verdict import Source, Verdict

F64 = torch.float64


def randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, dtype=F64, generator=torch.Generator().manual_seed(seed)).requires_grad_()


class ExpOneEntryOff(torch.autograd.Function):
    """exp whose backward is 1% too large at flat entry 7 (no forward-mode rule)."""

    @staticmethod
    def forward(ctx, x):
        y = torch.exp(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        out = (g * y).clone()
        out.view(-1)[7] *= 1.01
        return out


def context(func, x):
    return prepare(TorchFunction(func, x), None, Options())


def test_a_correct_backward_gives_passing_rows_and_nothing_else() -> None:
    ctx = context(lambda x: (x.sin() * x).sum(), randn(300))
    first = check_vjp(ctx)
    assert [r.label for r in first.rows] == ["grad . u1", "grad . u2", "grad . u3", "grad . u4"]
    assert all(r.verdict is Verdict.PASS and r.quantity is Quantity.VJP for r in first.rows)
    assert all(r.reverse is not None and r.forward is not None for r in first.rows)  # both modes compared
    assert first.suspects == () and first.causes == () and first.forward.on


def test_a_wrong_backward_gives_failing_rows_the_suspect_and_its_cause() -> None:
    ctx = context(lambda x: ExpOneEntryOff.apply(x).sum(), randn(300))
    first = check_vjp(ctx)
    assert all(r.verdict is Verdict.MISMATCH and Source.REVERSE in r.wrong for r in first.rows)
    assert [(r.label, r.index, r.verdict) for r in first.suspects] == [("dout/dx[7]", (0, 7), Verdict.MISMATCH)]
    suspect = first.suspects[0]
    assert suspect.reverse == pytest.approx(1.01 * suspect.numeric, rel=1e-9)
    assert any("confined to one entry: x[7]" in c for c in first.causes)
    assert first.complete
    # forward mode turned out unsupported: the result says so; the context passed in is unchanged
    assert not first.forward.on and first.forward.note.startswith("not supported:")
    assert ctx.forward.on and ctx.forward.note == ""


def test_several_outputs_label_each_cotangent_and_localise_outputs_too() -> None:
    weights = torch.ones(10, 3, dtype=F64)
    ctx = context(lambda x: ExpOneEntryOff.apply(x).reshape(30, 10) @ weights, randn(300))
    first = check_vjp(ctx)
    assert {r.label for r in first.rows} == {f"w{c} . J u{d}" for c in (1, 2) for d in (1, 2, 3, 4)}
    # entry 7 sits in row 0 of the reshaped input: it reaches the three outputs of that row
    assert sorted(r.label for r in first.suspects) == [f"dout[0, {k}]/dx[7]" for k in range(3)]
    assert all(r.quantity is Quantity.JACOBIAN and r.index[1] == 7 for r in first.suspects)


def test_the_users_gradient_is_compared_along_the_same_directions() -> None:
    ctx = context(lambda x: (x ** 2).sum(), randn(200))
    wrong = dataclasses.replace(ctx, claim=-2 * ctx.fn.x)
    first = check_vjp(wrong)
    assert all(Source.CLAIM in r.wrong and Source.REVERSE not in r.wrong for r in first.rows)
    assert any(c.startswith("sign flipped") for c in first.causes)
