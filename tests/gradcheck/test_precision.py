"""Mixed precision: float16, bfloat16, ``.half()`` inside and autocast, checked as they run.

The formulas are checked in float64 (the same code lifted), so a 1% error fails in every dtype;
the half-precision run is compared with the lifted code, so a backward that overflows only in
float16 fails; torch's own (correct) half-precision backward passes."""

from __future__ import annotations

import pytest
import torch
from wrong_backwards import OnePercent, Squares

from derivcheck import DerivativeMismatch, check_grad
from derivcheck.gradcheck.precision import Lowest, lowest, shown_rounding, tolerances
from derivcheck.verdict import Tolerances

HALF = [torch.float16, torch.bfloat16]


def rand(*shape: int, dtype: torch.dtype, seed: int = 0, shift: float = 0.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=g) + shift).to(dtype).requires_grad_(True)


@pytest.mark.parametrize("dtype", HALF)
def test_torchs_own_half_precision_backward_passes(dtype: torch.dtype) -> None:
    x, w = rand(8, dtype=dtype), rand(8, 4, dtype=dtype, seed=1)
    for func in (lambda x, w: torch.tanh(x @ w).sum(), lambda x, w: torch.softmax(x @ w, 0).pow(2).sum()):
        result = check_grad(func, (x, w))
        assert result.ok and result.dtype == str(dtype).removeprefix("torch.")
        assert any(r.label.endswith(f"in {result.dtype}") for r in result.rows)
    assert x.dtype == dtype and w.dtype == dtype


@pytest.mark.parametrize("dtype", HALF)
def test_a_one_percent_error_fails_in_half_precision(dtype: torch.dtype) -> None:
    name = str(dtype).removeprefix("torch.")
    with pytest.raises(DerivativeMismatch, match=f"computed in {name}") as caught:
        check_grad(lambda x: OnePercent.apply(x).sum(), rand(6, dtype=dtype))
    row = caught.value.result.failing[0]
    assert row.reverse / row.numeric == pytest.approx(1.01, rel=1e-6)  # found in the lifted float64 code


def test_a_backward_that_overflows_only_in_float16_fails_and_says_so() -> None:
    with pytest.raises(DerivativeMismatch, match=r"in float16 only") as caught:
        check_grad(lambda x: Squares.apply(x).sum(), rand(6, dtype=torch.float16, shift=3.0))
    message = str(caught.value)
    assert "the gradient is" in message and "error 0 >" not in message
    for dtype in (torch.bfloat16, torch.float32, torch.float64):
        assert check_grad(lambda x: Squares.apply(x).sum(), rand(6, dtype=dtype, shift=3.0)).ok


def test_autocast_is_checked_in_the_precision_it_runs_in() -> None:
    layer = torch.nn.Linear(3, 2)

    def right(x):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return layer(x).float().pow(2).sum()

    def wrong(x):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return OnePercent.apply(layer(x)).float().sum()

    x = rand(5, 3, dtype=torch.float32)
    result = check_grad(right, x)
    assert result.ok and result.dtype == "bfloat16"
    with pytest.raises(DerivativeMismatch, match="computed in bfloat16"):
        check_grad(wrong, x)


def test_half_inside_a_float32_function() -> None:
    result = check_grad(lambda x: (x.half().exp() * 2).float().sum(), rand(6, dtype=torch.float32))
    assert result.ok and result.dtype == "float16"


def test_a_half_precision_module() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1)).half()
    result = check_grad(model, torch.randn(5, 3).half())
    assert result.ok and result.dtype == "float16" and result.n_inputs == 21
    assert all(p.dtype == torch.float16 for p in model.parameters())


def test_lowest_and_the_watch() -> None:
    assert lowest([torch.float64, torch.bfloat16, torch.float16]) is torch.bfloat16
    assert lowest([torch.int64]) is None
    watch = Lowest()
    with watch:
        torch.ones(2, dtype=torch.float64).half().float()
    assert {torch.float16, torch.float32} <= watch.seen


def test_tolerances_widen_to_the_rounding_shown_but_never_below_the_table() -> None:
    import numpy as np

    assert tolerances("float16", 0.0) == Tolerances.for_dtype("float16")
    assert tolerances("bfloat16", 0.5).autograd_rtol == pytest.approx(1.0)
    assert tolerances("float64", 0.5) == Tolerances.for_dtype("float64")
    assert shown_rounding(np.array([1.0, 2.01]), np.array([1.0, 2.0])) == pytest.approx(0.005)


class HalfOnly(torch.autograd.Function):
    """exp, with a backward 3% too large only when it runs in float16 (right in float64)."""

    @staticmethod
    def forward(ctx, x):
        y = x.exp()
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * y * (1.03 if y.dtype == torch.float16 else 1.0)


@pytest.mark.parametrize("dtype", HALF)
def test_a_gradient_that_is_a_difference_of_large_terms_passes_in_half_precision(dtype: torch.dtype) -> None:
    """A normalised sum of squares is constant: its true gradient is ~0, and the half run's is the
    rounding of terms of size 1 (0.003 in float16, 0.03 in bfloat16). That is rounding, not a bug."""
    x, w = rand(8, 16, dtype=dtype), rand(16, 16, dtype=dtype, seed=1)
    result = check_grad(lambda x, w: torch.nn.functional.layer_norm(x @ w, (16,)).pow(2).sum(), (x, w))
    assert result.ok
    assert any("by its backward" in n for n in result.notes)


def test_a_consistent_error_only_in_float16_still_fails() -> None:
    """The measured rounding moves with the inputs' last bits; a wrong float16 kernel does not."""
    with pytest.raises(DerivativeMismatch, match=r"dout/dx\[\d\] in float16") as caught:
        check_grad(lambda x: HalfOnly.apply(x).sum(), rand(8, dtype=torch.float16))
    row = caught.value.result.failing[0]
    assert row.reverse / row.numeric == pytest.approx(1.03, rel=2e-3)
