"""check_grad on a CUDA device: float64 and complex work, modules, float16/bfloat16 kernels, autocast.

Skipped where torch sees no CUDA device (CI has none); run on a GPU machine with
``python -m pytest tests/gradcheck/test_cuda.py``. The referee for the half-precision rows is the
same code lifted to float64, checked against finite differences; the injected bugs must be caught
and torch's own CUDA kernels (cuBLAS, the fused attention and layer-norm kernels) must pass.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from wrong_backwards import OnePercent, Squares

from derivcheck import DerivativeMismatch, Mode, Verdict, check_grad

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

HALF = [torch.float16, torch.bfloat16]


def rand(*shape: int, dtype: torch.dtype = torch.float64, seed: int = 0, shift: float = 0.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=g) + shift).to("cuda", dtype).requires_grad_(True)


class OneEntry(torch.autograd.Function):
    """exp, with entry 7 of the gradient off by ``error`` (relative)."""

    @staticmethod
    def forward(ctx, x, error):
        y = x.exp()
        ctx.save_for_backward(y)
        ctx.error = error
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        grad = g * y
        grad.view(-1)[7] *= 1 + ctx.error
        return grad, None


def test_float64_on_cuda_passes_and_leaves_the_inputs_on_the_device() -> None:
    x, w = rand(5), rand(5, 3, seed=1)
    result = check_grad(lambda x, w: torch.tanh(x @ w).pow(2).sum(), (x, w))
    assert result.ok and result.dtype == "float64"
    assert result.mode(Mode.REVERSE).verdict is Verdict.PASS
    assert x.device.type == "cuda" and w.device.type == "cuda" and x.grad is None


def test_a_wrong_backward_on_cuda_names_the_entry() -> None:
    with pytest.raises(DerivativeMismatch, match=r"\[7\]") as caught:
        check_grad(lambda x: OneEntry.apply(x, 1e-4).sum(), rand(12))
    assert len(caught.value.result.failing) == 1


def test_complex_on_cuda() -> None:
    z = torch.complex(rand(4), rand(4, seed=1)).detach().requires_grad_(True)
    assert check_grad(lambda z: (z * z.conj() + z.sin()).abs().sum(), z).ok


def test_large_input_on_cuda_directional_check_finds_one_wrong_entry() -> None:
    """One entry of 100,000 with its sign flipped: seeded directions see it, bisection names it."""
    x = rand(100_000) * 0.1
    assert check_grad(lambda x: x.exp().sum(), x.detach().requires_grad_(True)).ok
    with pytest.raises(DerivativeMismatch, match=r"(?s)dx\[7\].*sign flipped"):
        check_grad(lambda x: OneEntry.apply(x, -2.0).sum(), x.detach().requires_grad_(True))


def test_a_cuda_module_is_checked_and_left_as_found() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1)).double().cuda()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = check_grad(model, torch.randn(5, 3, dtype=torch.float64, device="cuda"))
    assert result.ok and result.n_inputs == 21
    for k, v in model.state_dict().items():
        assert v.device.type == "cuda" and torch.equal(v, before[k])
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("dtype", HALF)
def test_torchs_own_half_precision_cuda_kernels_pass(dtype: torch.dtype) -> None:
    x, w = rand(8, 16, dtype=dtype), rand(16, 16, dtype=dtype, seed=1)
    for func in (lambda x, w: torch.tanh(x @ w).sum(),
                 lambda x, w: torch.softmax(x @ w, -1).pow(2).sum(),
                 lambda x, w: F.layer_norm(x @ w, (16,)).pow(2).sum()):
        result = check_grad(func, (x, w))
        assert result.ok and result.dtype == str(dtype).removeprefix("torch.")
    assert x.dtype == dtype and x.device.type == "cuda"


@pytest.mark.parametrize("dtype", HALF)
def test_fused_attention_kernel_in_half_precision_passes(dtype: torch.dtype) -> None:
    q, k, v = (rand(1, 2, 8, 16, dtype=dtype, seed=s) for s in range(3))
    result = check_grad(lambda q, k, v: F.scaled_dot_product_attention(q, k, v).float().pow(2).sum(), (q, k, v))
    assert result.ok and result.dtype == str(dtype).removeprefix("torch.")


@pytest.mark.parametrize("dtype", HALF)
def test_a_one_percent_error_fails_on_cuda_in_half_precision(dtype: torch.dtype) -> None:
    name = str(dtype).removeprefix("torch.")
    with pytest.raises(DerivativeMismatch, match=f"computed in {name}") as caught:
        check_grad(lambda x: OnePercent.apply(x).sum(), rand(6, dtype=dtype))
    row = caught.value.result.failing[0]
    assert row.reverse / row.numeric == pytest.approx(1.01, rel=1e-6)


def test_a_backward_that_overflows_only_in_float16_fails_on_cuda() -> None:
    with pytest.raises(DerivativeMismatch, match=r"in float16 only"):
        check_grad(lambda x: Squares.apply(x).sum(), rand(6, dtype=torch.float16, shift=3.0))
    for dtype in (torch.bfloat16, torch.float32, torch.float64):
        assert check_grad(lambda x: Squares.apply(x).sum(), rand(6, dtype=dtype, shift=3.0)).ok


@pytest.mark.parametrize("dtype", HALF)
def test_cuda_autocast_is_checked_in_the_precision_it_runs_in(dtype: torch.dtype) -> None:
    layer = torch.nn.Linear(8, 4).cuda()

    def right(x):
        with torch.autocast("cuda", dtype=dtype):
            return layer(x).float().pow(2).sum()

    def wrong(x):
        with torch.autocast("cuda", dtype=dtype):
            return OnePercent.apply(layer(x)).float().sum()

    x = rand(5, 8, dtype=torch.float32)
    result = check_grad(right, x)
    assert result.ok and result.dtype == str(dtype).removeprefix("torch.")
    with pytest.raises(DerivativeMismatch, match=f"computed in {result.dtype}"):
        check_grad(wrong, x)


def test_a_half_precision_cuda_module() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.GELU(), torch.nn.Linear(4, 1)).cuda().half()
    result = check_grad(model, torch.randn(5, 3, device="cuda").half())
    assert result.ok and result.dtype == "float16" and result.n_inputs == 21
    assert all(p.dtype == torch.float16 and p.device.type == "cuda" for p in model.parameters())
