"""check_jvp: forward mode along the first seeded direction against the numeric Jacobian times u."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from derivcheck.gradcheck.context import prepare
from derivcheck.gradcheck.jvp import FORWARD_PROBES, check_jvp, every_entry, forward_jacobian
from derivcheck.gradcheck.result import Options
from derivcheck.gradcheck.torch_function import TorchFunction
from derivcheck.model import Quantity
from derivcheck.verdict import Source, Verdict

F64 = torch.float64


def randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, dtype=F64, generator=torch.Generator().manual_seed(seed)).requires_grad_()


class SinWrongTangent(torch.autograd.Function):
    """sin with a right backward and a forward-mode rule of the wrong sign."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        ctx.save_for_forward(x)
        return x.sin()

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * x.cos()

    @staticmethod
    def jvp(ctx, t):
        (x,) = ctx.saved_tensors
        return -t * x.cos()


class SinBackwardOnly(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.sin()

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * x.cos()


def checked(func, x):
    ctx = prepare(TorchFunction(func, x), None, Options())
    return ctx, check_jvp(ctx, ctx.numeric.jacobian())


def test_a_right_forward_mode_gives_one_passing_row_per_output() -> None:
    ctx, (rows, after) = checked(lambda x: torch.stack([x.sin().sum(), (x * x).sum()]), randn(6))
    assert [r.label for r in rows] == ["(J u1)[out[0]]", "(J u1)[out[1]]"]
    assert all(r.verdict is Verdict.PASS and r.quantity is Quantity.JVP for r in rows)
    # the reference is the numeric Jacobian times the seeded direction, forward mode's value J u
    J = np.stack([np.cos(ctx.fn.x), 2 * ctx.fn.x])
    assert [r.forward for r in rows] == pytest.approx(list(J @ ctx.U[0]), rel=1e-12)
    assert after.forward.on and len(rows) == FORWARD_PROBES * ctx.fn.m


def test_a_wrong_tangent_rule_fails_in_forward_mode_only() -> None:
    _, (rows, _) = checked(lambda x: SinWrongTangent.apply(x).sum(), randn(5))
    assert [r.label for r in rows] == ["J u1"]
    assert rows[0].verdict is Verdict.MISMATCH and rows[0].wrong == (Source.FORWARD,)
    assert rows[0].forward == pytest.approx(-rows[0].numeric, rel=1e-9)


def test_no_forward_rule_switches_forward_mode_off_in_the_returned_context_only() -> None:
    ctx, (rows, after) = checked(lambda x: SinBackwardOnly.apply(x).sum(), randn(4))
    assert rows == [] and not after.forward.on and "jvp" in after.forward.note
    assert ctx.forward.on  # the context passed in is a value: unchanged
    assert every_entry(after) == (None, after)  # off stays off, without another try


def test_the_whole_forward_jacobian_only_for_the_smallest_inputs() -> None:
    small = prepare(TorchFunction(lambda x: x.sin(), randn(1)), None, Options())
    values, _ = forward_jacobian(small)
    assert values.shape == (1, 1) and values[0, 0] == pytest.approx(np.cos(small.fn.x[0]))
    large = prepare(TorchFunction(lambda x: x.sin(), randn(2)), None, Options())
    assert forward_jacobian(large)[0] is None
