"""The code engineers write, checked by check_grad and by torch.autograd.gradcheck side by side.

Run from the repository root::

    python benchmarks/situations.py

Each row is one situation: an ``nn.Module`` (right, and with a 1% bug in one weight entry), a
mapping of inputs, float16 / bfloat16 / autocast / ``.half()`` inside (right, a 1% error, a
backward that overflows only in float16), a forward that cuts the path to an input (``.item()``,
``.numpy()``, ``no_grad``, ``.detach()``), a module whose forward writes state, dropout in
training mode. The table gives what the right answer is, check_grad's verdict with the first
line of its reason, and gradcheck's verdict (default mode, ``raise_exception=False``; for a
module, over the parameters through ``torch.func.functional_call``, the recipe users write).
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from derivcheck import check_grad

F64 = torch.float64


def rand(*shape: int, dtype=F64, seed: int = 0, shift: float = 0.0, grad: bool = True) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=g) + shift).to(dtype).requires_grad_(grad)


class Tap(torch.autograd.Function):
    """Identity; the backward scales entry (2, 1) of the gradient by 1.01."""

    @staticmethod
    def forward(ctx, w):
        return w.clone()

    @staticmethod
    def backward(ctx, g):
        g = g.clone()
        g[2, 1] *= 1.01
        return g


class OnePercent(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.sin()

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * x.cos() * 1.01


class Squares(torch.autograd.Function):
    """x**2 whose backward squares 300 x: inf in float16 only."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        big = x * 300.0
        return g * 2 * (big * big) / (300.0 * 300.0 * x)


class Net(torch.nn.Module):
    def __init__(self, bug: bool = False) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.layer, self.head, self.bug = torch.nn.Linear(3, 4), torch.nn.Linear(4, 1), bug

    def forward(self, x):
        w = Tap.apply(self.layer.weight) if self.bug else self.layer.weight
        return self.head(torch.tanh(F.linear(x, w, self.layer.bias))).sum()


class SiftLike(torch.nn.Module):
    """Writes state in forward, as kornia's SIFT descriptor does."""

    def __init__(self) -> None:
        super().__init__()
        self.pk = torch.ones(1, 1, 3, 3) / 9

    def forward(self, x):
        self.pk = self.pk.to(x.dtype)
        self.last = x * 2
        return F.conv2d(x, self.pk, padding=1).tanh()


class Accumulates(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.h = torch.zeros(3, dtype=F64)

    def forward(self, x):
        self.h = 0.5 * self.h + x
        return (self.h ** 2).sum()


def autocast(bug: bool) -> Callable:
    layer = torch.nn.Linear(3, 2)

    def f(x):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = layer(x)
            return (OnePercent.apply(y) if bug else y.pow(2)).float().sum()
    return f


def no_grad_exp(x, y):
    with torch.no_grad():
        s = y.exp()
    return (x * s).sum() + y.sum()


def situations() -> list[tuple[str, str, object, object]]:
    """(name, right answer, target, inputs)."""
    x2 = rand(5, 3, grad=False)
    xy = (rand(3), rand(3, seed=1))
    return [
        ("module, right", "pass", Net().double(), x2),
        ("module, 1% bug in layer.weight[2, 1]", "mismatch", Net(bug=True).double(), x2),
        ("mapping {'w': w, 'b': b}", "pass", lambda w, b: torch.tanh(w * b).sum(), {"w": rand(3), "b": rand(3, seed=1)}),
        ("float16, right (tanh(x @ w))", "pass", lambda x, w: torch.tanh(x @ w).sum(),
         (rand(8, dtype=torch.float16), rand(8, 4, dtype=torch.float16, seed=1))),
        ("float16, 1% error", "mismatch", lambda x: OnePercent.apply(x).sum(), rand(6, dtype=torch.float16)),
        ("float16, backward overflows", "mismatch", lambda x: Squares.apply(x).sum(),
         rand(6, dtype=torch.float16, shift=3.0)),
        ("bfloat16, right (softmax)", "pass", lambda x, w: torch.softmax(x @ w, 0).pow(2).sum(),
         (rand(8, dtype=torch.bfloat16), rand(8, 4, dtype=torch.bfloat16, seed=1))),
        ("bfloat16, 1% error", "mismatch", lambda x: OnePercent.apply(x).sum(), rand(6, dtype=torch.bfloat16)),
        ("bfloat16, same backward (no overflow)", "pass", lambda x: Squares.apply(x).sum(),
         rand(6, dtype=torch.bfloat16, shift=3.0)),
        ("autocast bfloat16, right", "pass", autocast(False), rand(5, 3, dtype=torch.float32)),
        ("autocast bfloat16, 1% error", "mismatch", autocast(True), rand(5, 3, dtype=torch.float32)),
        (".half() inside float32, right", "pass", lambda x: (x.half().exp() * 2).float().sum(),
         rand(6, dtype=torch.float32)),
        ("graph break: .item()", "mismatch", lambda x, y: (x * y.sum().item()).sum() + (y ** 2).sum(), xy),
        ("graph break: .numpy()", "mismatch",
         lambda x, y: (x * torch.from_numpy(y.detach().numpy() * 2)).sum() + y.sum(), xy),
        ("graph break: no_grad", "mismatch", no_grad_exp, xy),
        ("graph break: .detach()", "mismatch", lambda x, y: (x * y.detach().sin()).sum() + y.sum(), xy),
        ("forward writes state (self.pk = ...)", "pass", SiftLike().double(), rand(1, 1, 5, 5)),
        ("stateful forward (self.h accumulates)", "inconclusive", Accumulates(), rand(3)),
        ("dropout, training mode", "inconclusive",
         torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Dropout(0.5)).double(), rand(4, 3, grad=False)),
    ]


def run_check_grad(target, inputs) -> str:
    result = check_grad(target, inputs, raises=False)
    parts = [f"{result.verdict.value} ({result.dtype})"]
    if result.failing and result.verdict.value == "mismatch":
        parts.append(result.failing[0].label)
    advice = [n for n in result.notes if "model.eval()" in n]
    reason = next(iter(result.causes), "") or next(iter(advice or result.notes), "") if not result.ok else ""
    if reason:
        parts.append(reason[:80] + ("..." if len(reason) > 80 else ""))
    return "; ".join(parts)


def run_gradcheck(target, inputs) -> str:
    func, args = target, inputs if isinstance(inputs, tuple) else (inputs,)
    if isinstance(target, torch.nn.Module):
        module = target
        names = [n for n, p in module.named_parameters() if p.requires_grad]
        params = tuple(p.detach().clone().requires_grad_(True) for _, p in module.named_parameters() if p.requires_grad)
        count = len(names)

        def func(*tensors):
            return torch.func.functional_call(module, dict(zip(names, tensors[:count])), tensors[count:])

        args = (*params, *args)
    elif isinstance(inputs, dict):
        keys, plain = list(inputs), target

        def func(*values):
            return plain(**dict(zip(keys, values)))

        args = tuple(inputs.values())
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ok = torch.autograd.gradcheck(func, args, raise_exception=False)
        return "pass" if ok else "fail"
    except Exception as exc:  # noqa: BLE001 - report what gradcheck says
        return f"error: {type(exc).__name__}: {str(exc).strip().splitlines()[0][:60]}"


def main() -> None:
    torch.set_num_threads(1)
    rows = []
    start = time.perf_counter()
    for name, right, target, inputs in situations():
        rows.append((name, right, run_check_grad(target, inputs), run_gradcheck(target, inputs)))
    print("| situation | right answer | check_grad | gradcheck |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    agree = sum(r[2].startswith(r[1]) for r in rows)
    print(f"\ncheck_grad gives the right answer in {agree} of {len(rows)} situations "
          f"({time.perf_counter() - start:.1f} s in all)")


if __name__ == "__main__":
    main()
