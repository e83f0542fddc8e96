"""Likely causes read off the evidence a check gathered: the wrong rows, their references and the
computed values. Each function returns the causes it finds (``None`` where a rule says nothing);
``causes`` holds the rules themselves.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from derivcheck.gradcheck.causes import (
    confinement_cause,
    conjugate_cause,
    coupling_cause,
    ratio_cause,
    term_cause,
    transposed_cause,
)
from derivcheck.gradcheck.context import Context, judge_row
from derivcheck.gradcheck.labels import TRANSPOSE_TEST
from derivcheck.model import Quantity
from derivcheck.verdict import Row, Source, Verdict

#: directional checks that must all show one ratio computed/reference before it is named
DIRECTIONS_FOR_RATIO = 2
#: the sources whose causes are looked for, in the order they are reported
SOURCES = (Source.REVERSE, Source.CLAIM, Source.FORWARD)

Cause = str | None


def jacobian_causes(ctx: Context, rows: Sequence[Row], ref: np.ndarray, rev: np.ndarray | None,
                    fwd: np.ndarray | None) -> list[Cause]:
    """Causes behind the wrong entries of full Jacobians ``ref`` (numeric) against the computed ones."""
    claim = None if ctx.claim is None else ctx.claim[None, :]
    causes: list[Cause] = []
    for source, computed in ((Source.REVERSE, rev), (Source.CLAIM, claim), (Source.FORWARD, fwd)):
        wrong = [r for r in rows if source in r.wrong]
        if computed is None or not wrong:
            continue
        i_s = np.array([r.index[0] for r in wrong])
        j_s = np.array([r.index[1] for r in wrong])
        shape = (conjugate_cause(ctx.inputs, ctx.outputs, ref, computed)
                 or transposed_cause(ctx.inputs, ref, computed) or coupling_cause(ref, computed))
        causes.append(shape or ratio_cause(ref[i_s, j_s], computed[i_s, j_s]))
        causes.append(confinement_cause(ctx.inputs, list(j_s), outputs=ctx.outputs, wrong_outputs=list(i_s)))
        if source is Source.CLAIM:
            causes.append(missing_term(ctx, ref[0], rev))
    return causes


def direction_causes(rows: Sequence[Row]) -> list[Cause]:
    """A ratio every first-cotangent directional check shows, for each wrong source."""
    causes: list[Cause] = []
    for source in SOURCES:
        if any(r.verdict is Verdict.MISMATCH and source in r.wrong for r in rows):
            causes.append(ratio_from_directions(rows, source))
    return causes


def ratio_from_directions(rows: Sequence[Row], source: Source) -> Cause:
    """The ratio computed/reference, when every first-cotangent directional check is wrong by it."""
    first = [r for r in rows if r.index[0] == 0 and r.numeric is not None]
    if len(first) < DIRECTIONS_FOR_RATIO or not all(source in r.wrong for r in first):
        return None
    return ratio_cause(np.array([r.numeric for r in first]), np.array([value_of(r, source) for r in first]),
                       loose=False)


def suspect_causes(ctx: Context, suspects: Sequence[Row], A: np.ndarray | None, complete: bool) -> list[Cause]:
    """Causes behind localised wrong entries (``A``: reverse mode's products with the cotangents)."""
    causes: list[Cause] = []
    for source in SOURCES:
        wrong = [r for r in suspects if source in r.wrong]
        if not wrong:
            continue
        computed = np.array([value_of(r, source) for r in wrong])
        causes.append(ratio_cause(np.array([r.numeric for r in wrong]), computed))
        entries = [r.index[1] for r in wrong]
        outputs = [r.index[0] for r in wrong if r.quantity is Quantity.JACOBIAN]
        causes.append(confinement_cause(ctx.inputs, entries, outputs=ctx.outputs if ctx.fn.m > 1 else None,
                                        wrong_outputs=outputs, complete=complete))
        vector = A[0] if source is Source.REVERSE and A is not None else ctx.claim
        if vector is not None and source is not Source.FORWARD:
            causes.extend(transposed_directional(ctx, vector, entries))
        if source is Source.CLAIM and A is not None:
            causes.append(missing_term(ctx, A[0], A))
    return causes


def transposed_directional(ctx: Context, computed: np.ndarray, entries: Sequence[int]) -> list[Cause]:
    """For each square matrix input holding a wrong entry: does the transpose of the computed
    gradient pass the directional check restricted to that input?"""
    w = ctx.W[0]
    causes: list[Cause] = []
    for slot in ctx.fn.slots:
        shape = slot.layout_shape  # a complex or masked matrix is no square block of the vector
        p = shape[0] if len(shape) == 2 and shape[0] == shape[1] > 1 else 0
        if not p or not any(slot.offset <= e < slot.offset + slot.size for e in entries):
            continue
        part = slice(slot.offset, slot.offset + slot.size)
        u = np.zeros(ctx.fn.n)
        u[part] = ctx.U[0, part]
        num = ctx.numeric.directional(u[None])
        block = computed[part].reshape(p, p).T.reshape(-1)
        row = judge_row(ctx, Quantity.VJP, (0, 0), TRANSPOSE_TEST, float(np.abs(w) @ np.abs(num.value[:, 0])),
                        rev=float(block @ u[part]),
                        numeric=(float(w @ num.value[:, 0]), float(np.abs(w) @ num.error[:, 0]), ""))
        if row.verdict is Verdict.PASS:
            causes.append(f"the gradient of {slot.name!r} is transposed: its transpose passes the check")
    return causes


def missing_term(ctx: Context, reference: np.ndarray, rev: np.ndarray | None) -> Cause:
    """The user's gradient equals the derivative with one operand held constant: a term is missing."""
    if rev is None or ctx.claim is None or not ctx.fn.differentiable:
        return None
    return term_cause(ctx.claim, ctx.fn.term_variants(ctx.W[0]), reference)


def value_of(row: Row, source: Source) -> float:
    """The value a row holds for one source (the user's gradient is its first claim)."""
    if source is Source.REVERSE:
        return row.reverse  # type: ignore[return-value]
    if source is Source.FORWARD:
        return row.forward  # type: ignore[return-value]
    return row.claims[0].value  # type: ignore[return-value]
