"""check_grad on a CUDA device beside torch.autograd.gradcheck: verdicts and times, one table.

Run on a machine with a GPU (the CUDA tests are ``tests/gradcheck/test_cuda.py``)::

    python benchmarks/cuda_check.py          # --cpu: the same table on the CPU

Each row checks one function on the GPU with both tools (gradcheck: float64 only, fast mode as
kornia and most libraries call it; check_grad: its defaults, also in float16 and bfloat16, where
gradcheck has no tolerance that fits). A wrong backward (1% in one entry) is in the table too:
both tools must catch it. Times are the median of three warm calls, on the device the header names.
"""

from __future__ import annotations

import statistics
import sys
import time
import warnings

import torch

from derivcheck import check_grad


class OneEntryOff(torch.autograd.Function):
    """tanh with entry 3 of its gradient 1% too large."""

    @staticmethod
    def forward(ctx, x):
        y = x.tanh()
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        grad = g * (1 - y * y)
        grad.view(-1)[3] *= 1.01
        return grad


def mlp(dtype: torch.dtype, device: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.GELU(), torch.nn.LayerNorm(128),
                               torch.nn.Linear(128, 8)).to(device, dtype)


def cases(device: str):
    g = torch.Generator(device=device).manual_seed(0)

    def rand(*shape, dtype=torch.float64):
        return torch.randn(*shape, generator=g, device=device, dtype=torch.float64).to(dtype).requires_grad_(True)

    yield "softmax(x @ w), 32x64", torch.float64, (lambda x, w: torch.softmax(x @ w, -1).pow(2).sum()), (
        rand(32, 64), rand(64, 16)), True
    model = mlp(torch.float64, device)
    yield "MLP inputs (x: 16x64)", torch.float64, (lambda x: model(x).sum()), (rand(16, 64),), True
    yield "tanh, one entry 1% off, 4,096 entries", torch.float64, (lambda x: OneEntryOff.apply(x).sum()), (
        rand(4096),), False
    for dtype in (torch.float16, torch.bfloat16):
        name = str(dtype).removeprefix("torch.")
        half = mlp(dtype, device)
        yield f"MLP in {name}", dtype, (lambda x, m=half: m(x).float().sum()), (rand(16, 64, dtype=dtype),), True
        yield f"attention (SDPA) in {name}", dtype, (
            lambda q, k, v: torch.nn.functional.scaled_dot_product_attention(q, k, v).float().pow(2).sum()), tuple(
            rand(1, 2, 16, 32, dtype=dtype) for _ in range(3)), True


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(call) -> tuple[object, float]:
    times, out = [], None
    for _ in range(3):
        _sync()
        start = time.perf_counter()
        out = call()
        _sync()
        times.append(time.perf_counter() - start)
    return out, statistics.median(times)


def gradcheck_outcome(func, inputs, dtype) -> tuple[str, str]:
    if dtype != torch.float64:
        return "n/a (no float64)", "-"

    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                return "pass" if torch.autograd.gradcheck(func, inputs, fast_mode=True, raise_exception=False) else \
                    "mismatch"
            except Exception as exc:  # noqa: BLE001
                return f"error: {type(exc).__name__}"

    out, seconds = timed(run)
    return str(out), f"{seconds:.3f}"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    device = "cpu" if "--cpu" in argv else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        print("no CUDA device: nothing to measure (the CUDA tests skip too; --cpu runs the same table on the CPU)")
        return 0
    name = torch.cuda.get_device_name(0) if device == "cuda" else "CPU"
    print(f"device: {name}, torch {torch.__version__}\n")
    print("| function | dtype | expected | gradcheck (fast) | s | check_grad | s | evaluations |")
    print("|---|---|---|---|---:|---|---:|---:|")
    wrong = 0
    for name, dtype, func, inputs, right in cases(device):
        gc, gc_s = gradcheck_outcome(func, inputs, dtype)
        result, seconds = timed(lambda: check_grad(func, inputs, raises=False))
        verdict = result.verdict.value
        wrong += verdict != ("pass" if right else "mismatch")
        print(f"| {name} | {str(dtype).removeprefix('torch.')} | {'pass' if right else 'mismatch'} | {gc} | {gc_s} | "
              f"{verdict} | {seconds:.3f} | {result.evaluations} |")
    print(f"\ncheck_grad verdicts that differ from the expected: {wrong}")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
