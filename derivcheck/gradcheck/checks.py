"""``check_grad`` for a user's function: full Jacobians when small, seeded directions when large.

The check is a composition of small steps, each taking the frozen ``Context`` and returning values:
the point (finite? deterministic?), the user's gradient read, first order (``jacobian`` for small
inputs, ``vjp`` for large: rows -> suspects -> causes), second order (``hvp``), and the result,
built by ``result.build_result``. Every scalar is judged by ``verdict.judge``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import numpy as np

from derivcheck.engines.numeric import Method
from derivcheck.gradcheck.causes import transposed_shape_cause
from derivcheck.gradcheck.context import Context, FirstOrder, ReverseFailed, expensive, prepare, unit_rows
from derivcheck.gradcheck.hvp import SecondOrder, check_second_order
from derivcheck.gradcheck.jacobian import check_jacobian
from derivcheck.gradcheck.result import (
    Approach,
    CheckResult,
    Mode,
    ModeResult,
    Options,
    Strategy,
    build_result,
    mode_verdict,
)
from derivcheck.gradcheck.vjp import check_vjp
from derivcheck.model import Quantity
from derivcheck.verdict import FLOAT64_EPS, DType, Row, Source, Verdict, overall

#: compare full Jacobians up to this many input entries ...
FULL_MAX_INPUTS = 64
#: ... and this many Jacobian entries (beyond, directional checks cost less and see as much; each
#: entry judged costs about as much as a small function's evaluation)
FULL_MAX_ENTRIES = 1024
#: two calls at the same point "differ" beyond this many float64 ulps of the output's size
SAME_OUTPUT_ULPS = 64


def check_function(fn, grad: Callable | None, options: Options, target: str) -> CheckResult:
    """Check a ``TorchFunction`` or ``NumpyFunction``'s derivatives; returns the result (the caller raises)."""
    start = time.perf_counter()
    ctx = prepare(fn, grad, options)
    if expensive(options, fn) and hasattr(fn, "_vmap"):
        fn._vmap = False  # a large model gains nothing from vmap, and trusting it costs a call
    nothing = _nothing_to_compare(fn)
    if nothing is not None:
        return _early(ctx, target, start, *nothing)
    unsteady = _not_deterministic(fn)
    ctx.numeric.evaluations += 2  # the reference counts every evaluation: the first call (which found
    if unsteady is not None:      # the output's shape) and the one beside it
        return _early(ctx, target, start, unsteady)
    notes: list[str] = []
    if grad is not None:
        claim = _claim(ctx, grad)
        if isinstance(claim, str):
            return _early(ctx, target, start, claim, Verdict.MISMATCH, Mode.GRAD)
        ctx = dataclasses.replace(ctx, claim=claim)
        if not np.all(np.isfinite(claim)):
            notes.append("grad returned entries that are not finite")
    if ctx.reverse_on and not fn.differentiable:
        notes.append("the output does not require grad: the function detaches its result from the inputs")
    full = _full_strategy(ctx, options.strategy)
    approach = Approach.FULL_JACOBIAN if full else Approach.DIRECTIONAL
    try:
        first = _first_order(ctx, full)
    except ReverseFailed as failed:
        return _reverse_failure(ctx, target, start, str(failed), approach)
    second = SecondOrder()
    if options.order >= 2:
        if overall([r.verdict for r in (*first.rows, *first.suspects)]) is Verdict.PASS:
            second = check_second_order(dataclasses.replace(ctx, forward=first.forward), full)
        else:
            second = SecondOrder(notes=("second order not checked: first derivatives are not right yet",))
    return _result(ctx, target, start, options, first, second, approach, (*notes, *first.notes, *second.notes))


def _first_order(ctx: Context, full: bool) -> FirstOrder:
    """First order; once more with real differences when a comparison failed on a complex-step
    value and real differences along that direction disagree with the complex step."""
    first = check_jacobian(ctx) if full else check_vjp(ctx)
    suspicious = [r for r in (*first.rows, *first.suspects)
                  if r.verdict is Verdict.MISMATCH and Method.COMPLEX_STEP in Method.within(r.method)]
    if not suspicious or not ctx.numeric.distrusts(_direction_of(ctx, suspicious[0], full)):
        return first
    ctx = dataclasses.replace(ctx, forward=first.forward)
    ctx.numeric.spared = ""  # what the discarded pass said of its ladders no longer holds
    return check_jacobian(ctx) if full else check_vjp(ctx)


def _direction_of(ctx: Context, row: Row, full: bool) -> np.ndarray:
    if full or row.quantity is Quantity.JACOBIAN:
        return unit_rows(ctx.fn.n, [row.index[1]])[0]
    return ctx.U[row.index[1]]


def _full_strategy(ctx: Context, strategy: Strategy) -> bool:
    if strategy is not Strategy.AUTO:
        return strategy is Strategy.FULL
    return ctx.fn.n <= FULL_MAX_INPUTS and ctx.fn.n * ctx.fn.m <= FULL_MAX_ENTRIES


def _nothing_to_compare(fn) -> tuple[str, Verdict] | None:
    """Why no derivative can be compared at the point, with the verdict that follows; or ``None``."""
    if fn.n == 0 or fn.m == 0:
        what = "the checked inputs have no entries" if fn.n == 0 else "the outputs have no entries"
        return f"nothing to compare: {what} (an empty Jacobian is right)", Verdict.PASS
    if not np.all(np.isfinite(fn.value)):
        bad = int(np.sum(~np.isfinite(fn.value)))
        note = f"func is not finite at this point ({bad} of {fn.value.size} outputs are nan or inf)"
        return note, Verdict.INCONCLUSIVE
    return None


def _not_deterministic(fn) -> str | None:
    """Two calls at the point (the first value and one more; two lifted calls for a function whose
    first value ran in float32): what differs between them, or ``None``."""
    graph = _graph_value(fn)
    if getattr(fn, "upcast", False):
        once, again = fn.evaluate(np.stack([fn.x, fn.x]))
    elif graph is not None:  # the forward pass kept for reverse mode was a second call already
        once, again = fn.value, graph
    else:  # a batch of two may run as one vmapped call: one plain call beside the first
        once, again = fn.value, fn.evaluate(fn.x[None])[0]
    if np.any(np.abs(again - once) > SAME_OUTPUT_ULPS * FLOAT64_EPS * max(float(np.max(np.abs(once))), 1e-300)):
        gap = float(np.max(np.abs(again - once)))
        return (f"func is not deterministic: two calls at the same point differ by {gap:.3g} "
                f"(dropout or random sampling inside? use eval mode or fix the randomness)")
    return None


def _graph_value(fn) -> np.ndarray | None:
    """The outputs of the forward pass a ``TorchFunction`` keeps for reverse mode (a call of its
    own, at x), flattened as ``fn.value`` is; ``None`` where there is none or they are complex."""
    kept = getattr(fn, "_graph", None)
    if kept is None or getattr(fn, "complex", True):
        return None
    flat = np.concatenate([p.detach().cpu().double().numpy().ravel() for p in kept[1]]) if kept[1] else np.zeros(0)
    return flat if flat.shape == fn.value.shape else None


def _claim(ctx: Context, grad: Callable) -> np.ndarray | str:
    """The user's gradient as one flat vector, or what is wrong with its shape."""
    fn = ctx.fn
    if fn.m != 1:
        raise ValueError(f"grad= checks the gradient of a scalar function; func returns {fn.m} outputs")
    parts = fn.call_gradient(grad)
    for slot, part in zip(fn.slots, parts):
        same = (part.shape == slot.shape or (slot.complex and part.shape == slot.layout_shape)  # complex: pairs
                or (part.size == slot.size and part.ndim <= 1 and len(slot.shape) <= 1))
        if not same:
            cause = " (the transposed shape: a matrix transposed?)" if tuple(reversed(part.shape)) == slot.shape else ""
            return f"grad returned shape {part.shape} for {slot.name!r} of shape {slot.shape}{cause}"
    return np.concatenate([p.reshape(-1) for p in parts])


def _modes(ctx: Context, options: Options, first: FirstOrder, second: SecondOrder) -> list[ModeResult]:
    compared = [*first.rows, *first.suspects]
    modes = []
    if ctx.reverse_on:
        modes.append(ModeResult(Mode.REVERSE, mode_verdict(compared, Source.REVERSE)))
    if ctx.fn.differentiable or ctx.claim is None:
        verdict = mode_verdict(compared, Source.FORWARD) if first.forward.on else None
        modes.append(ModeResult(Mode.FORWARD, verdict, first.forward.note))
    if ctx.claim is not None:
        modes.append(ModeResult(Mode.GRAD, mode_verdict(compared, Source.CLAIM)))
    if options.order >= 2:
        verdict = mode_verdict(second.rows, Source.REVERSE) if second.rows else None
        modes.append(ModeResult(Mode.SECOND, verdict, second.unchecked))
    return modes


def _result(ctx: Context, target: str, start: float, options: Options, first: FirstOrder, second: SecondOrder,
            approach: Approach, notes: tuple[str, ...]) -> CheckResult:
    numeric, fn = ctx.numeric, ctx.fn
    reference_notes = (numeric.note, numeric.outside_note(), numeric.smoothness, numeric.jump, numeric.spared,
                       *numeric.notes)
    precision = (f"the function computes in {fn.dtype}: tolerances are {fn.dtype}'s",
                 ) if not DType.of(fn.dtype).double else ()
    if expensive(options, fn):
        precision = (*precision, f"one call of the function takes {fn.call_seconds:.2g} s: checked along "
                                 f"{len(ctx.U)} seeded direction and {len(ctx.W)} cotangent (directions= asks for more)")
    modes = _modes(ctx, options, first, second)
    verdict = overall([r.verdict for r in (*first.rows, *first.suspects, *second.rows)])
    if verdict is Verdict.PASS and any(m.verdict is None and m.mode is Mode.SECOND for m in modes):
        verdict = Verdict.INCONCLUSIVE
    return build_result(
        target, n_inputs=fn.n, n_outputs=fn.m, dtype=fn.dtype, start=start, verdict=verdict, modes=modes,
        rows=(*first.rows, *second.rows), suspects=first.suspects, causes=(*first.causes, *second.causes),
        strategy=approach, directions=len(ctx.U), evaluations=numeric.evaluations,
        reference=f"numeric ({numeric.method})", complete=first.complete,
        notes=(*notes, *reference_notes, *getattr(fn, "notes", ()), *precision))


def _early(ctx: Context, target: str, start: float, note: str, verdict: Verdict = Verdict.INCONCLUSIVE,
           mode: Mode | None = None) -> CheckResult:
    return build_result(target, n_inputs=ctx.fn.n, n_outputs=ctx.fn.m, dtype=ctx.fn.dtype, start=start,
                        verdict=verdict, modes=(ModeResult(mode, verdict, note),) if mode is not None else (),
                        evaluations=ctx.numeric.evaluations, notes=(note,))


def _reverse_failure(ctx: Context, target: str, start: float, message: str, approach: Approach) -> CheckResult:
    return build_result(
        target, n_inputs=ctx.fn.n, n_outputs=ctx.fn.m, dtype=ctx.fn.dtype, start=start, verdict=Verdict.MISMATCH,
        modes=(ModeResult(Mode.REVERSE, Verdict.MISMATCH, f"the backward pass raised {message}"),),
        causes=(transposed_shape_cause(message),), strategy=approach, directions=len(ctx.U),
        evaluations=ctx.numeric.evaluations, notes=(f"the backward pass raised {message}",))
