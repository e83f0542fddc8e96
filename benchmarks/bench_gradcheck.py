"""Wall time and detection power: derivcheck.check_grad versus torch.autograd.gradcheck.

Run from the repository root::

    python benchmarks/bench_gradcheck.py            # the full tables (a few minutes)
    python benchmarks/bench_gradcheck.py --quick    # n = 8, 10, 96 and 100 only

The function is the loss of a small network, ``mean((act(X W1^T + b1) W2^T - y)^2)`` over a
fixed batch of 32 examples, with the parameters W1, b1, W2 as the checked inputs (float64, so
gradcheck's defaults apply), for ``act`` = tanh (analytic: check_grad's numeric reference is the
complex step) and relu (not analytic: real differences with Richardson extrapolation). The sizes
are chosen so the parameters hold exactly n = 8, 10, 96, 100, 1000 and 16000 entries. Each timing is the
best of several runs, after one warm-up call, in the same process and with the same torch thread
count (1 by default: on a shared machine, torch's spinning worker threads distort timings):
gradcheck in its default mode, gradcheck with ``fast_mode=True``, and ``check_grad`` with its
defaults; beside each, the function evaluations it made (gradcheck's calls of the function,
check_grad's points: a batched call of k points counts k).

Two more tables: the first call in a fresh process (importing derivcheck, not torch, and one
check), and a function that costs 0.05 s per call and cannot be batched (an ``autograd.Function``
wrapping an external solver, n = 10 inputs, 2 outputs), where every evaluation counts.

The detection table injects one bug into the backward pass of W1 (an identity
``autograd.Function`` whose backward alters one entry of the gradient) and records whether each
checker reports it.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from derivcheck import DerivativeMismatch, check_grad  # noqa: E402

BATCH = 32
#: (n, hidden units h, input features d): n = h * (d + 2)
SIZES = ((8, 2, 2), (10, 2, 3), (96, 8, 10), (100, 10, 8), (1000, 20, 48), (16000, 160, 98))
#: seconds of repeated timing per checker and size (at least one run)
TIME_BUDGET = 2.0
#: seconds per call of the expensive function
SLOW_CALL = 0.05


ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu}


def network(h: int, d: int, *, seed: int = 0, activation: str = "tanh") -> tuple[Callable, tuple[torch.Tensor, ...]]:
    """The loss and its arguments (W1, b1, W2 require grad; X, y are data)."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(BATCH, d, dtype=torch.float64, generator=g)
    y = torch.randn(BATCH, 1, dtype=torch.float64, generator=g)
    W1 = (torch.randn(h, d, dtype=torch.float64, generator=g) / math.sqrt(d)).requires_grad_()
    b1 = (0.1 * torch.randn(h, dtype=torch.float64, generator=g)).requires_grad_()
    W2 = (torch.randn(1, h, dtype=torch.float64, generator=g) / math.sqrt(h)).requires_grad_()

    act = ACTIVATIONS[activation]

    def loss(W1: torch.Tensor, b1: torch.Tensor, W2: torch.Tensor, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        hidden = act(X @ W1.T + b1)
        return ((hidden @ W2.T - y) ** 2).mean()

    return loss, (W1, b1, W2, X, y)


def with_bug(loss: Callable, index: int, bug: str) -> Callable:
    """The same loss, with one entry of W1's gradient altered in the backward pass."""

    class Tamper(torch.autograd.Function):
        @staticmethod
        def forward(w: torch.Tensor) -> torch.Tensor:
            return w.clone()

        @staticmethod
        def setup_context(ctx, inputs, output) -> None:  # noqa: ANN001
            pass

        @staticmethod
        def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
            grad = grad.clone().reshape(-1)
            grad[index] = -grad[index] if bug == "sign" else grad[index] * 1.01
            return grad.reshape(ctx_shape[0])

        @staticmethod
        def jvp(ctx, tangent: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
            return tangent

    ctx_shape: list[torch.Size] = []

    def buggy(W1: torch.Tensor, b1: torch.Tensor, W2: torch.Tensor, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        ctx_shape[:] = [W1.shape]
        return loss(Tamper.apply(W1), b1, W2, X, y)

    return buggy


def best_time(run: Callable[[], object], budget: float) -> float:
    run()  # warm-up
    best, spent = math.inf, 0.0
    while spent < budget or best == math.inf:
        start = time.perf_counter()
        run()
        elapsed = time.perf_counter() - start
        best, spent = min(best, elapsed), spent + elapsed
        if elapsed > budget:
            break
    return best


def gradcheck(fn: Callable, inputs: tuple, *, fast: bool) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.autograd.gradcheck(fn, inputs, fast_mode=fast, raise_exception=False)


def derivcheck(fn: Callable, inputs: tuple) -> bool:
    try:
        check_grad(fn, inputs)
    except DerivativeMismatch:
        return False
    return True


def counted(fn: Callable) -> tuple[Callable, list[int]]:
    """``fn`` counting its calls."""
    calls = [0]

    def wrapper(*args):  # noqa: ANN002, ANN202
        calls[0] += 1
        return fn(*args)

    return wrapper, calls


def timing_table(sizes: tuple, activation: str) -> list[str]:
    lines = [
        f"{activation} network:",
        "| n | gradcheck (s) | gradcheck fast (s) | check_grad (s) | check_grad / gradcheck | check_grad / fast "
        "| evaluations: gradcheck / fast / check_grad |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    print("\n".join(lines), flush=True)
    for n, h, d in sizes:
        loss, inputs = network(h, d, activation=activation)
        assert sum(t.numel() for t in inputs if t.requires_grad) == n
        slow = best_time(lambda: gradcheck(loss, inputs, fast=False), TIME_BUDGET)
        fast = best_time(lambda: gradcheck(loss, inputs, fast=True), TIME_BUDGET)
        ours = best_time(lambda: check_grad(loss, inputs), TIME_BUDGET)
        watched, calls = counted(loss)
        gradcheck(watched, inputs, fast=False)
        slow_calls, calls[0] = calls[0], 0
        gradcheck(watched, inputs, fast=True)
        evaluations = check_grad(loss, inputs).evaluations
        lines.append(f"| {n} | {slow:.4f} | {fast:.4f} | {ours:.4f} | {ours / slow:.3f}x | {ours / fast:.2f}x "
                     f"| {slow_calls} / {calls[0]} / {evaluations} |")
        print(lines[-1], flush=True)
    return lines


COLD = """
import time, torch
start = time.perf_counter()
from derivcheck import check_grad
x = torch.randn(8, dtype=torch.float64, requires_grad=True)
check_grad(lambda t: (t.tanh() * t).sum(), x)
print(time.perf_counter() - start)
"""


def cold_table(runs: int = 3) -> list[str]:
    """The first call in fresh processes: import derivcheck (torch already imported) and check once."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    seconds = [float(subprocess.run([sys.executable, "-c", COLD], capture_output=True, text=True, env=env,
                                    check=True).stdout.split()[-1]) for _ in range(runs)]
    lines = ["first call in a fresh process (import derivcheck + one check of n = 8, torch already imported):",
             f"{', '.join(f'{s:.2f}' for s in seconds)} s over {runs} processes"]
    print("\n".join(lines), flush=True)
    return lines


class Solver(torch.autograd.Function):
    """An external solver: 0.05 s per call, opaque to vmap (no batching rule) and to forward mode."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
        time.sleep(SLOW_CALL)
        ctx.save_for_backward(x)
        return torch.stack([(x.sin() * x).sum(), (x**2).sum()])

    @staticmethod
    def backward(ctx, g: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
        (x,) = ctx.saved_tensors
        return g[0] * (x.cos() * x + x.sin()) + g[1] * 2 * x


def slow_table() -> list[str]:
    x = torch.linspace(0.1, 1.0, 10, dtype=torch.float64, requires_grad=True)
    lines = [f"a function costing {SLOW_CALL} s per call (n = 10, 2 outputs, not batchable):",
             "| checker | time (s) | function calls |", "|---|---:|---:|"]
    for name, run in (("gradcheck", lambda f: gradcheck(f, (x,), fast=False)),
                      ("gradcheck fast", lambda f: gradcheck(f, (x,), fast=True)),
                      ("check_grad", lambda f: check_grad(f, (x,)))):
        watched, calls = counted(Solver.apply)
        best = math.inf
        for _ in range(3):
            calls[0] = 0
            start = time.perf_counter()
            run(watched)
            best = min(best, time.perf_counter() - start)
        lines.append(f"| {name} | {best:.2f} | {calls[0]} |")
    print("\n".join(lines), flush=True)
    return lines


def detection_table(quick: bool) -> list[str]:
    cases = [("1% error in one entry", 1000, 20, 48, "scale"), ("sign flip in one entry", 16000, 160, 98, "sign")]
    if not quick:
        cases.append(("sign flip in one entry", 100_000, 500, 198, "sign"))
    lines = [
        "detection (tanh network, one entry of W1's gradient altered):",
        "| bug | n | gradcheck | gradcheck fast | check_grad | check_grad names |",
        "|---|---:|---|---|---|---|",
    ]
    print("\n".join(lines), flush=True)
    for label, n, h, d, bug in cases:
        loss, inputs = network(h, d)
        assert sum(t.numel() for t in inputs if t.requires_grad) == n
        index = (h * d) // 3 + 7
        buggy = with_bug(loss, index, bug)
        slow = "not run (too slow)" if n > 20_000 else _caught(not gradcheck(buggy, inputs, fast=False))
        fast = _caught(not gradcheck(buggy, inputs, fast=True))
        result = check_grad(buggy, inputs, raises=False)
        named = ", ".join(r.label for r in result.suspects if r.verdict.value == "mismatch") or "-"
        lines.append(f"| {label} | {n} | {slow} | {fast} | {_caught(not result.ok)} | {named} |")
        print(lines[-1], flush=True)
    return lines


def _caught(flag: bool) -> str:
    return "caught" if flag else "MISSED"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n = 10 and 100 only, and a short detection table")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for every checker (default 1)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); best of repeated runs\n")
    for activation in ACTIVATIONS:
        timing_table(SIZES[:4] if args.quick else SIZES, activation)
        print()
    cold_table()
    print()
    slow_table()
    print()
    detection_table(args.quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
