"""Naming the wrong entries behind failing directional checks.

A failing ``w . J u`` check is narrowed by ``localise.bisect`` to input entries (probes along
``u`` restricted to blocks); for several outputs, the worst entry's outputs are bisected too
(one backward pass per block of cotangent). The localised entries are then judged in full, every
source side by side: the suspects, whose causes ``evidence.suspect_causes`` reads off.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from derivcheck.gradcheck import labels
from derivcheck.gradcheck.context import Context, agrees, forward, judge_row, methods, nanmax, reverse, unit_rows
from derivcheck.gradcheck.evidence import value_of
from derivcheck.gradcheck.localise import bisect
from derivcheck.model import Quantity
from derivcheck.verdict import Row, Source, Verdict

#: suspects whose outputs are localised too (the worst ones), for a function with several outputs
OUTPUT_LOCALISED = 1


@dataclass(frozen=True)
class Suspects:
    """The localised wrong entries, judged in full."""

    rows: tuple[Row, ...]
    complete: bool  # every bisection kept all the failing blocks it met
    notes: tuple[str, ...] = ()


def localise(ctx: Context, rows: list[Row], A: np.ndarray | None) -> Suspects:
    """Name the wrong entries behind each wrong source's worst direction (``A``: reverse mode's
    products with the cotangents, ``(c, n)``)."""
    found: dict[int, None] = {}
    complete, notes = True, []
    searched: list[tuple[Source, tuple[float, ...]]] = []
    for source in (Source.REVERSE, Source.CLAIM, Source.FORWARD):
        wrong = [r for r in rows if r.verdict is Verdict.MISMATCH and source in r.wrong]
        if not wrong:
            continue
        values = tuple(value_of(r, source) for r in wrong)
        twin = next((s for s, v in searched if _same(v, values)), None)
        if twin is not None:  # forward mode wrong exactly as reverse mode is: the same search, the same blocks
            if not found:
                notes.append(f"{source.value}: wrong by exactly what {twin.value} is")
            continue
        searched.append((source, values))
        c, d = max(wrong, key=lambda r: r.badness).index
        located = bisect(ctx.fn.n, block_probe(ctx, source, c, d, A))
        complete = complete and located.complete
        for block in located.blocks:
            if block.single:
                found.setdefault(block.start)
        if not found:
            notes.append(f"{source.value}: the wrong entries could not be separated "
                         f"(blocks {[(b.start, b.stop) for b in located.blocks]})")
    if not found:
        return Suspects((), complete, tuple(notes))
    suspects, whole = suspect_rows(ctx, list(found), A)
    return Suspects(tuple(suspects), complete and whole, tuple(notes))


def _same(a: tuple[float | None, ...], b: tuple[float | None, ...]) -> bool:
    """Two sources' wrong values agree to 1e-9 (relative): one wrong formula behind both."""
    if len(a) != len(b) or any(x is None or y is None for x, y in zip(a, b)):
        return False
    return bool(np.allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=1e-9, atol=0.0))


def block_probe(ctx: Context, source: Source, c: int, d: int,
                A: np.ndarray | None) -> Callable[[np.ndarray], list[Row]]:
    """The directional check ``(c, d)`` of one source restricted to each of a batch of masks."""
    u, w = ctx.U[d], ctx.W[c]
    of = ctx.labels.direction(c, d)

    def probe(masks: np.ndarray) -> list[Row]:
        directions = u[None, :] * masks
        if source is Source.REVERSE:
            computed = directions @ A[c]
        elif source is Source.CLAIM:
            computed = directions @ ctx.claim
        else:
            computed = forward(ctx, directions)[0] @ w
        # one central difference per block first, the shrinking search for the blocks it does not
        # clear: a level of a million-entry search costs a few evaluations per block, not a ladder
        # (the suspects found are judged again in full)
        num = ctx.numeric.settled(directions, lambda q: agrees(ctx, (w @ q.value)[None], (np.abs(w) @ q.error)[None],
                                                               (computed[None],)), ladder=False)
        reference, error = w @ num.value, np.abs(w) @ num.error
        terms = np.maximum(np.abs(directions) @ np.abs(A[c]) if A is not None else 0.0, np.abs(w) @ np.abs(num.value))
        rows = []
        for k in range(len(masks)):
            idx = np.flatnonzero(masks[k])
            value = float(computed[k])
            rows.append(judge_row(ctx, Quantity.VJP, (c, k), labels.block(int(idx[0]), int(idx[-1]) + 1, of),
                                  float(terms[k]), rev=value if source is Source.REVERSE else None,
                                  fwd=value if source is Source.FORWARD else None,
                                  claim=value if source is Source.CLAIM else None,
                                  numeric=(reference[k], error[k], methods(num.method[:, k]))))
        return rows

    return probe


def suspect_rows(ctx: Context, entries: list[int], A: np.ndarray | None) -> tuple[list[Row], bool]:
    """Each localised input entry, every source side by side (whole Jacobian entries when m == 1),
    and whether the outputs' bisection kept every failing block."""
    fn = ctx.fn
    unit = unit_rows(fn.n, entries)
    num = ctx.numeric.directional(unit)  # (m, k): the Jacobian columns
    fwd, ctx = forward(ctx, unit)  # (k, m)
    if fn.m == 1:
        scale = nanmax(np.abs(num.value))
        return [judge_row(ctx, Quantity.JACOBIAN, (0, j), ctx.labels.entry(0, j), scale,
                          rev=None if A is None else A[0, j], fwd=None if fwd is None else fwd[k, 0],
                          claim=None if ctx.claim is None else ctx.claim[j],
                          numeric=(num.value[0, k], num.error[0, k], num.method[0, k]))
                for k, j in enumerate(entries)], True
    w, rows, complete = ctx.W[0], [], True
    for k, j in enumerate(entries):
        if k < OUTPUT_LOCALISED:
            pairs, whole = output_rows(ctx, j, num.value[:, k], num.error[:, k], num.method[:, k],
                                       None if fwd is None else fwd[k])
            rows.extend(pairs)
            complete = complete and whole
            continue
        rows.append(judge_row(
            ctx, Quantity.VJP, (0, j), ctx.labels.contracted(0, j), float(np.abs(w) @ np.abs(num.value[:, k])),
            rev=None if A is None else A[0, j], fwd=None if fwd is None else float(w @ fwd[k]),
            numeric=(float(w @ num.value[:, k]), float(np.abs(w) @ num.error[:, k]), methods(num.method[:, k]))))
    return rows, complete


def output_rows(ctx: Context, j: int, column: np.ndarray, error: np.ndarray, how: np.ndarray,
                fwd_column: np.ndarray | None) -> tuple[list[Row], bool]:
    """Bisect the outputs of input entry ``j`` (one backward pass per block) to name (output, input)
    pairs; and whether the bisection kept every failing block."""
    w = ctx.W[0]
    scale = nanmax(np.abs(column))

    def probe(masks: np.ndarray) -> list[Row]:
        weights = w[None, :] * masks
        rev = reverse(ctx, weights)[:, j] if ctx.reverse_on else None
        return [judge_row(ctx, Quantity.VJP, (0, k), ctx.labels.outputs_of(j), float(np.abs(weight) @ np.abs(column)),
                          rev=None if rev is None else rev[k],
                          fwd=None if fwd_column is None else float(weight @ fwd_column),
                          numeric=(float(weight @ column), float(np.abs(weight) @ error), methods(how)))
                for k, weight in enumerate(weights)]

    located = bisect(ctx.fn.m, probe)
    outputs = list(located.entries)
    if not outputs:
        return [], located.complete
    rev = reverse(ctx, unit_rows(ctx.fn.m, outputs))[:, j] if ctx.reverse_on else None
    return [judge_row(ctx, Quantity.JACOBIAN, (i, j), ctx.labels.entry(i, j), scale,
                      rev=None if rev is None else rev[k],
                      fwd=None if fwd_column is None else fwd_column[i],
                      numeric=(column[i], error[i], how[i]))
            for k, i in enumerate(outputs)], located.complete
