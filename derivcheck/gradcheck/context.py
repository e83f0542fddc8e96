"""What every step of a function's check reads, and how one compared scalar becomes a row.

A ``Context`` is a frozen value: the function, its tolerances, the numeric reference, the seeded
directions ``U`` (and ``V``) and cotangents ``W``, the user's gradient, which modes are compared.
Steps take it and return values (rows, suspects, causes); none changes it. When forward mode
turns out unsupported, ``forward`` hands back a new context with it switched off. The numeric
reference inside (``reference.Numeric``) is the one stateful part: it counts its own evaluations
and decides the complex step once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from derivcheck.engines.numeric import Method
from derivcheck.flat_index import Layout, Slot
from derivcheck.gradcheck.labels import Labels
from derivcheck.gradcheck.reference import Numeric
from derivcheck.gradcheck.result import Options
from derivcheck.gradcheck.torch_function import ModeUnsupported, one_line
from derivcheck.model import Quantity
from derivcheck.verdict import ClaimValue, Entry, Row, Tolerances, Verdict, judge

#: random cotangents for a function with several outputs (one, w = 1, for a scalar)
COTANGENTS = 2
#: seeded directions by default ...
DIRECTIONS = 4
#: ... and for a function whose one call takes longer than EXPENSIVE_S seconds
EXPENSIVE_DIRECTIONS = 1
EXPENSIVE_S = 0.25
#: a first numeric estimate settles an entry only when its error is below this fraction of the
#: Jacobian's size: a bug of 1e-6 (relative) or more is never waved through by a rough estimate
QUICK_MAX_REL = 1e-6


@dataclass(frozen=True)
class Forward:
    """Whether forward mode is compared; when not, the note says why."""

    on: bool
    note: str = ""


@dataclass(frozen=True)
class Context:
    """One function's check: everything its steps read (see the module's docstring)."""

    fn: Any  # a TorchFunction or NumpyFunction
    tol: Tolerances
    numeric: Numeric
    labels: Labels
    U: np.ndarray  # (d, n) seeded directions
    W: np.ndarray  # (c, m) seeded cotangents (each output alone too, for several output tensors)
    V: np.ndarray  # (d, n) second-order contractions
    claim: np.ndarray | None = None  # the user's gradient, flat
    reverse_on: bool = True
    forward: Forward = Forward(True)

    @property
    def inputs(self) -> Layout:
        return self.labels.inputs

    @property
    def outputs(self) -> Layout:
        return self.labels.outputs


@dataclass(frozen=True)
class FirstOrder:
    """What a first-order check found: compared rows, localised suspects, causes, notes."""

    rows: tuple[Row, ...]
    forward: Forward  # forward mode as the check left it
    suspects: tuple[Row, ...] = ()
    causes: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    complete: bool = True  # localisation kept every wrong entry it found


class ReverseFailed(Exception):
    """The user's backward pass raised; the message is its one-line description."""


def directions(options: Options, fn: Any) -> int:
    """The seeded directions: as asked, else ``DIRECTIONS``, or ``EXPENSIVE_DIRECTIONS`` for a function
    whose first call took over ``EXPENSIVE_S`` seconds (a transformer: each direction costs two calls
    and each cotangent a backward pass; a wrong gradient fails almost every random direction, so one
    still finds it, bisection says where, and the note says why there was one)."""
    if options.directions is not None:
        return options.directions
    return EXPENSIVE_DIRECTIONS if expensive(options, fn) else DIRECTIONS


def expensive(options: Options, fn: Any) -> bool:
    """No directions asked for, and one call of the function took over ``EXPENSIVE_S`` seconds."""
    return options.directions is None and getattr(fn, "call_seconds", 0.0) > EXPENSIVE_S


def prepare(fn: Any, grad: object, options: Options) -> Context:
    """The context of a check of ``fn``: tolerances, reference, seeded directions and cotangents."""
    tol = options.tolerances or Tolerances.for_dtype(fn.dtype)
    rng = np.random.default_rng(options.seed)  # a local generator: no global RNG state changes
    count = directions(options, fn)
    U = rng.standard_normal((count, fn.n))
    W = np.ones((1, 1)) if fn.m == 1 else rng.standard_normal((1 if expensive(options, fn) else COTANGENTS, fn.m))
    if len(fn.out_slots) > 1:  # each output on its own too: the others' gradients undefined (None)
        alone = [np.where(np.isin(np.arange(fn.m), np.arange(s.offset, s.offset + s.size)), W[0], 0.0)
                 for s in fn.out_slots if s.size]
        W = np.vstack([W, *alone])
    V = rng.standard_normal((count, fn.n))
    forward = Forward(True) if fn.differentiable else Forward(False, "not checked: the function has no autograd graph")
    return Context(fn=fn, tol=tol, numeric=Numeric(fn, tol.numeric_k, options.budget),
                   labels=Labels(layout(fn.slots), layout(fn.out_slots), fn.m), U=U, W=W, V=V,
                   reverse_on=fn.differentiable or grad is None, forward=forward)


def layout(slots: Sequence[Slot]) -> Layout:
    """The names and shapes of a function's flat inputs (or outputs)."""
    return Layout.from_slots(slots)


# the sources of computed values ---------------------------------------------------------------
def reverse(ctx: Context, cotangents: np.ndarray) -> np.ndarray:
    """Reverse mode: ``(c, n)`` vector-Jacobian products; ``ReverseFailed`` when the backward raises."""
    try:
        return ctx.fn.vjp(cotangents)
    except Exception as exc:
        raise ReverseFailed(one_line(exc)) from exc


def forward(ctx: Context, tangents: np.ndarray) -> tuple[np.ndarray | None, Context]:
    """Forward mode: ``(d, m)`` Jacobian-vector products, or ``None`` when it is off; the context
    comes back with forward mode switched off (and why) when the function turns out not to support it."""
    if not ctx.forward.on:
        return None, ctx
    try:
        return ctx.fn.jvp(tangents), ctx
    except ModeUnsupported as exc:
        return None, dataclasses.replace(ctx, forward=Forward(False, f"not supported: {exc}"))


# judging --------------------------------------------------------------------------------------
def judge_row(ctx: Context, quantity: Quantity, index: tuple[int, ...], label: str, scale: float, *,
              numeric: tuple, rev: float | None = None, fwd: float | None = None,
              claim: float | None = None) -> Row:
    """One compared scalar judged: the numeric reference ``(value, error, method)`` against the
    computed values (reverse, forward, the user's gradient) that are given."""
    claims = () if claim is None else (ClaimValue("grad", "grad(...)", float(claim)),)
    return judge(Entry(
        quantity=quantity, point=0, index=index, label=label,
        reverse=None if rev is None else float(rev), forward=None if fwd is None else float(fwd),
        numeric=float(numeric[0]), numeric_error=float(numeric[1]), method=str(numeric[2]),
        claims=claims, scale=float(scale), dtype=ctx.fn.dtype,
        function_scale=function_scale(ctx, quantity, index),
        function_terms=function_scale(ctx, quantity, index, ctx.numeric.terms),
    ), ctx.tol)


def rejudge(ctx: Context, row: Row, scale: float, left: float, right: float, error: float) -> Row:
    """A row judged again with one-sided derivatives beside it (a kink at the point?)."""
    return judge(Entry(
        quantity=row.quantity, point=0, index=row.index, label=row.label, reverse=row.reverse,
        forward=row.forward, numeric=row.numeric, numeric_error=row.numeric_error, method=row.method,
        claims=row.claims, left=float(left), right=float(right), one_sided_error=float(error),
        scale=float(scale), dtype=ctx.fn.dtype,
    ), ctx.tol)


def function_scale(ctx: Context, quantity: Quantity, index: tuple[int, ...], size: float | None = None) -> float:
    """The size of the values a compared quantity differentiates (w . f for a VJP row), or of
    ``size`` (the function's largest value by default) weighted the same way."""
    if size is None:
        size = float(np.max(np.abs(ctx.fn.value))) if ctx.fn.value.size else 0.0
    if quantity is Quantity.VJP and index[0] < len(ctx.W):
        return size * float(np.sum(np.abs(ctx.W[index[0]])))
    return size if quantity in (Quantity.JACOBIAN, Quantity.JVP) else 0.0


def agrees(ctx: Context, value: np.ndarray, error: np.ndarray, computed: Sequence[np.ndarray | None],
           scale: np.ndarray | float = 0.0) -> np.ndarray:
    """Per column of ``value`` (m, d): whether a first estimate settles it, every computed value
    (m, d) within the tolerance of judge (with a ``scale`` no larger than the final judgement's:
    stricter or equal) and the estimate's error far below a bug worth finding."""
    tol = ctx.tol
    with np.errstate(all="ignore"):
        size = np.abs(value)
        limit = tol.limit(value, error, scale)
        ok = np.all(np.isfinite(value) & np.isfinite(error), axis=0)
        top = nanmax(size)  # an all-zero Jacobian: no bug hides in a rounding-size estimate
        ok &= np.all(tol.numeric_k * error <= QUICK_MAX_REL * np.fmax(size, top if top > 0 else np.inf), axis=0)
        for values in computed:
            if values is not None:
                ok &= np.all(np.abs(np.asarray(values) - value) <= limit, axis=0)
    return ok


def apart(ctx: Context, value: np.ndarray, error: np.ndarray, computed: Sequence[np.ndarray | None],
          scale: np.ndarray | float = 0.0) -> np.ndarray:
    """Per column of ``value`` (m, d): how many times farther a computed value is from the estimate
    than judge's tolerance (the estimate's error included) allows; 0 where the estimate is not
    finite. Above 1 a mismatch; far above, one no refinement of the estimate could turn round."""
    tol = ctx.tol
    with np.errstate(all="ignore"):
        limit = tol.limit(value, error, scale)
        ratio = np.zeros(value.shape[1])
        for values in computed:
            if values is not None:
                far = np.abs(np.asarray(values) - value) / np.fmax(limit, 1e-300)
                ratio = np.fmax(ratio, np.max(np.where(np.isfinite(far), far, 0.0), axis=0))
        return np.where(np.all(np.isfinite(value) & np.isfinite(error), axis=0), ratio, 0.0)


def unconfirmed(rows: list[Row]) -> list[Row]:
    """Rows whose first estimate the budget left unrefined say so (their numeric has no error bound)."""
    return [dataclasses.replace(r, note="unconfirmed: the evaluation budget stopped its refinement")
            if r.method == Method.UNREFINED and r.verdict is Verdict.INCONCLUSIVE else r for r in rows]


# small array helpers --------------------------------------------------------------------------
def unit_rows(n: int, entries: Sequence[int]) -> np.ndarray:
    """Rows of the identity for ``entries``, without building the whole identity."""
    rows = np.zeros((len(entries), n))
    rows[np.arange(len(entries)), list(entries)] = 1.0
    return rows


def methods(values: np.ndarray) -> str:
    """The numeric methods behind a contracted value, joined (``Method.within`` reads them back)."""
    return ", ".join(sorted({str(m) for m in np.ravel(values)}))


def nanmax(values: np.ndarray) -> float:
    """The largest finite value (0 when there is none)."""
    finite = values[np.isfinite(values)]
    return float(finite.max()) if finite.size else 0.0
