"""Mixed precision: a function that computes in float16 or bfloat16 is checked twice over.

Which precision a function computes in is seen by watching the dtypes its operations produce
(``Lowest``): half inputs, ``.half()`` inside, ``torch.autocast``. Such a function is then

1. checked in float64, lifted (``Lifted``: the same code with every cast and tensor in float64):
   its derivative formulas against float64 finite differences, with float64 tolerances, so a 1%
   error is caught whatever the dtype; and
2. run as the user runs it, in half precision, its reverse-mode gradients compared entry by
   entry with the lifted code's (``compare_run``), with the dtype table's tolerances
   (``verdict.DTYPE_RULES``) widened to the rounding its output actually shows and to the
   rounding its backward is measured to make (``rounding_noise``): a backward that overflows,
   underflows or loses its digits only in float16 fails here, and says so; a correct kernel whose
   gradient is a difference of large terms (a normalised sum, a saturated softmax) passes.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch.overrides import TorchFunctionMode

from derivcheck.flat_index import label
from derivcheck.gradcheck.flat_view import flatten_outputs
from derivcheck.gradcheck.result import LIFTED
from derivcheck.gradcheck.torch_modes import Float64
from derivcheck.model import Quantity
from derivcheck.verdict import Entry, Row, Tolerances, dtype_rule, judge

Tensor = torch.Tensor

#: real floating dtypes from the most precise to the least (bfloat16 has the fewest significant bits)
ORDER = (torch.float64, torch.float32, torch.float16, torch.bfloat16)
#: the precisions checked twice (lifted, and as run)
HALF = (torch.float16, torch.bfloat16)
#: cotangents for a function with several outputs (one, w = 1, for a scalar)
COTANGENTS = 2
#: compared entries kept on the result (the verdict counts them all)
KEPT_ROWS = 64
#: the backward rounds about as much as the forward: allow this many times the rounding shown
SHOWN_ROUNDING_FACTOR = 2.0
#: inputs nudged by a few units in the last place, to see how much the half run's error moves
NOISE_RUNS = 2
#: ... by up to this many units of the dtype's eps (relative)
NOISE_NUDGE = 2.0


def lowest(dtypes: Sequence[torch.dtype]) -> torch.dtype | None:
    """The least precise real floating dtype in ``dtypes`` (None when there is none)."""
    ranked = [ORDER.index(d) for d in dtypes if d in ORDER]
    return ORDER[max(ranked)] if ranked else None


class Lowest(TorchFunctionMode):
    """Records the dtypes of the tensors a forward pass produces (autocast and ``.half()`` included)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[torch.dtype] = set()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for value in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(value, Tensor) and value.is_floating_point():
                self.seen.add(value.dtype)
        return out


class Lifted:
    """``func`` run under ``torch_modes.Float64``: every float32 or half tensor, cast and dtype it
    meets is lifted to float64 (autocast leaves float64 alone): the same code in float64."""

    def __init__(self, func: Callable) -> None:
        self.func = func
        self.__signature__ = _signature(func)

    def __call__(self, *args, **kwargs):
        with Float64():
            return self.func(*args, **kwargs)


class Watched:
    """``func`` whose first call is watched by ``Lowest`` (no extra evaluation)."""

    def __init__(self, func: Callable) -> None:
        self.func = func
        self.seen: set[torch.dtype] | None = None
        self.__signature__ = _signature(func)

    def __call__(self, *args, **kwargs):
        if self.seen is not None:
            return self.func(*args, **kwargs)
        watch = Lowest()
        try:
            with watch:
                return self.func(*args, **kwargs)
        finally:
            self.seen = watch.seen


def user_precision(func: Callable, values: Sequence[object]) -> torch.dtype | None:
    """The lowest precision ``func`` computes in at the user's own inputs, when they are not float64
    (one watched call; None when it raises or the inputs are float64)."""
    dtypes = [v.dtype for v in values if isinstance(v, Tensor) and v.is_floating_point()]
    if not dtypes or lowest(dtypes) == torch.float64:
        return None
    watch = Lowest()
    try:
        with torch.no_grad(), watch:
            func(*(v.detach().clone() if isinstance(v, Tensor) else v for v in values))
    except Exception:  # noqa: BLE001 - the check itself will report the failure
        return None
    return lowest([*watch.seen, *dtypes])


def name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def shown_rounding(value: np.ndarray, lifted: np.ndarray) -> float:
    """How far the output as run is from the output lifted to float64, relative to its size."""
    size = float(np.max(np.abs(lifted))) if lifted.size else 0.0
    if not size or not np.all(np.isfinite(value)) or not np.all(np.isfinite(lifted)):
        return 0.0
    return float(np.max(np.abs(value - lifted))) / size


def tolerances(dtype: str, rounding: float) -> Tolerances:
    """The dtype table's tolerances, widened to ``SHOWN_ROUNDING_FACTOR`` times the rounding shown."""
    table = Tolerances.for_dtype(dtype)
    shown = SHOWN_ROUNDING_FACTOR * rounding
    if dtype_rule(dtype).eps < 1e-10 or shown <= table.autograd_rtol:
        return table
    return dataclasses.replace(table, autograd_rtol=shown, rounding_floor=max(table.rounding_floor, shown))


def compare_run(fn, func: Callable, values: Sequence[object], dtype: str, seed: int,
                tol: Tolerances | None) -> tuple[list[Row], list[str]]:
    """Reverse mode as the user runs it (half precision) against the same code lifted to float64.

    ``fn`` is the lifted ``TorchFunction`` (its slots name the entries); ``func`` the user's
    callable. Returns the compared rows (the worst ``KEPT_ROWS``) and notes.
    """
    positions = fn.positions
    if fn.complex or any(s.kept is not None for s in fn.slots):
        return [], [f"the {dtype} run was not compared entry by entry (complex or held entries)"]
    run_out, run_grads = _gradients(func, values, positions, fn, lifted=False, seed=seed)
    lift_out, lift_grads = _gradients(func, values, positions, fn, lifted=True, seed=seed)
    if run_grads is None or lift_grads is None:
        return [], [f"the {dtype} run was not compared: it has no autograd graph"]
    rounding = shown_rounding(run_out, lift_out)
    noise = rounding_noise(func, values, positions, fn, dtype, seed, run_grads - lift_grads)
    tol = tol or tolerances(dtype, rounding)
    notes = [(f"formulas checked in float64 (the same code lifted); the {dtype} run's gradients compared with "
              f"them: rounding shown by the {dtype} output {rounding:.2g} (relative)"
              + (f", by its backward {noise:.2g} (absolute)" if noise else ""))]
    terms = noise / dtype_rule(dtype).eps  # the size of terms whose rounding moves the error that much
    rows = []
    for c, (run, ref) in enumerate(zip(run_grads, lift_grads)):
        finite = ref[np.isfinite(ref)]
        scale = float(np.max(np.abs(finite))) if finite.size else 0.0
        limit = tol.autograd_rtol * np.abs(ref) + tol.rounding_floor * np.maximum(np.abs(ref), max(scale, terms))
        with np.errstate(invalid="ignore"):
            badness = np.where(np.isfinite(run), np.abs(run - ref) / np.maximum(limit, 1e-300), np.inf)
        order = np.argsort(-badness, kind="stable")[:KEPT_ROWS]
        for j in order:
            name = label(fn.slots, int(j))
            text = f"dout/d{name}" if len(run_grads) == 1 and fn.m == 1 else f"(w{c + 1} . J)[{name}]"
            rows.append(judge(Entry(
                quantity=Quantity.VJP, point=0, index=(c, int(j)), label=f"{text} in {dtype}",
                reverse=float(run[j]), numeric=float(ref[j]), numeric_error=0.0,
                method=f"{LIFTED} of the same code", scale=scale, term_size=terms, dtype=dtype), tol))
    return rows, notes


def rounding_noise(func: Callable, values: Sequence[object], positions: Sequence[int], fn, dtype: str, seed: int,
                   difference: np.ndarray) -> float:
    """How much the half run's error (its gradient less the lifted code's) moves when the inputs move
    by a few units in the last place: rounding moves it erratically, a wrong formula or kernel
    does not (its error follows the gradient, which barely changes). The largest movement seen,
    in absolute terms; 0.0 when nothing finite was seen.

    A correct half-precision kernel whose gradient is a small difference of large terms (a
    normalised sum of squares, a saturated softmax) errs by the dtype's rounding of those terms,
    far beyond a tolerance relative to the gradient itself; this measures that rounding.
    """
    rng = np.random.default_rng([seed, 7])
    moves = []
    for _ in range(NOISE_RUNS):
        nudged = [_nudged(v, rng, dtype_rule(dtype).eps) for v in values]
        _, run = _gradients(func, nudged, positions, fn, lifted=False, seed=seed)
        _, lift = _gradients(func, nudged, positions, fn, lifted=True, seed=seed)
        if run is None or lift is None or run.shape != difference.shape:
            continue
        moves.append(np.abs((run - lift) - difference))
    seen = np.concatenate([m[np.isfinite(m)] for m in moves]) if moves else np.zeros(0)
    return float(np.max(seen)) if seen.size else 0.0


def _nudged(value: object, rng: np.random.Generator, eps: float) -> object:
    """A floating tensor moved by up to ``NOISE_NUDGE`` eps (relative) per entry; others as they are."""
    if not isinstance(value, Tensor) or not value.is_floating_point() or value.numel() == 0:
        return value
    factor = 1 + NOISE_NUDGE * eps * rng.uniform(-1, 1, tuple(value.shape))
    return (value.detach().double() * torch.from_numpy(factor).to(value.device)).to(value.dtype)


def _gradients(func: Callable, values: Sequence[object], positions: Sequence[int], fn, *, lifted: bool,
               seed: int) -> tuple[np.ndarray, np.ndarray | None]:
    """The output and ``w^T J`` rows, computed as run (``lifted=False``) or in float64."""
    args = []
    for k, v in enumerate(values):
        if isinstance(v, Tensor):
            v = v.detach().clone()
            if lifted and v.is_floating_point():
                v = v.double()
            if k in positions:
                v.requires_grad_(True)
        args.append(v)
    leaves = [args[k] for k in positions]
    context = Float64() if lifted else contextlib.nullcontext()
    with torch.random.fork_rng(devices=[]), context:
        out = flatten_outputs(func(*args))
    value = out.detach().cpu().double().numpy()
    if not out.requires_grad:
        return value, None
    rng = np.random.default_rng(seed)
    cotangents = np.ones((1, 1)) if out.numel() == 1 else rng.standard_normal((COTANGENTS, out.numel()))
    rows = []
    for w in cotangents:
        grads = torch.autograd.grad(out, leaves, torch.from_numpy(w).to(out.device, out.dtype), retain_graph=True,
                                    allow_unused=True, materialize_grads=True)
        rows.append(fn.view.join(grads, 1)[0].detach().cpu().double().numpy())
    return value, np.stack(rows)


def _signature(func: Callable):
    import inspect

    try:
        return inspect.signature(func)
    except (TypeError, ValueError):
        return None
