"""The frozen context of a check: seeded directions, sources of values, one scalar judged."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from derivcheck.engines.numeric import Method
from derivcheck.gradcheck.context import ReverseFailed, agrees, forward, judge_row, prepare, reverse, unconfirmed
from derivcheck.gradcheck.result import Options
from derivcheck.gradcheck.torch_function import TorchFunction
from derivcheck.model import Quantity
from derivcheck.verdict import Verdict

F64 = torch.float64


def randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, dtype=F64, generator=torch.Generator().manual_seed(seed)).requires_grad_()


def test_the_same_seed_gives_the_same_directions_and_leaves_the_global_rng_alone() -> None:
    fn = TorchFunction(lambda x: (x, x.sum()), randn(5))
    state = np.random.get_state()[1].copy()
    a, b = prepare(fn, None, Options(seed=3)), prepare(fn, None, Options(seed=3))
    assert np.array_equal(a.U, b.U) and np.array_equal(a.V, b.V) and np.array_equal(a.W, b.W)
    assert np.array_equal(np.random.get_state()[1], state)
    # two output tensors: two random cotangents, then the first alone on each output
    assert a.W.shape == (4, 6) and np.all(a.W[2, 5:] == 0) and np.all(a.W[3, :5] == 0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.claim = np.zeros(5)  # type: ignore[misc]


def test_reverse_failure_is_one_line_and_forward_failure_a_new_context() -> None:
    class NoRules(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            raise RuntimeError("backward exploded\nsecond line")

    ctx = prepare(TorchFunction(NoRules.apply, randn(3)), None, Options())
    with pytest.raises(ReverseFailed, match=r"^RuntimeError: backward exploded$"):
        reverse(ctx, np.eye(3))
    values, after = forward(ctx, np.eye(3))
    assert values is None and not after.forward.on and ctx.forward.on


def test_agrees_settles_a_first_estimate_only_when_every_source_is_within_tolerance() -> None:
    ctx = prepare(TorchFunction(lambda x: x.sum(), randn(2)), None, Options())
    value, error = np.array([[1.0, 2.0]]), np.array([[1e-14, 1e-14]])
    assert agrees(ctx, value, error, (value, None)).tolist() == [True, True]
    assert agrees(ctx, value, error, (value * [1, 1.001],)).tolist() == [True, False]
    rough = np.array([[1e-3, 1e-14]])  # an error estimate too large to wave a bug through
    assert agrees(ctx, value, rough, (value,)).tolist() == [False, True]


def test_a_row_the_budget_left_unrefined_says_so() -> None:
    ctx = prepare(TorchFunction(lambda x: x.sum(), randn(1)), None, Options())
    left = judge_row(ctx, Quantity.JACOBIAN, (0, 0), "d", 1.0, rev=1.0, numeric=(1.0, np.inf, Method.UNREFINED))
    done = judge_row(ctx, Quantity.JACOBIAN, (0, 0), "d", 1.0, rev=1.0, numeric=(1.0, 1e-12, Method.CENTRAL))
    assert left.verdict is Verdict.INCONCLUSIVE and done.verdict is Verdict.PASS
    notes = [r.note for r in unconfirmed([left, done])]
    assert notes == ["unconfirmed: the evaluation budget stopped its refinement", ""]
