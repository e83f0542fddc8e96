"""First order for large inputs: ``w . J u`` along seeded directions ``u`` and cotangents ``w``.

Reverse mode gives ``(w . J) u`` (one backward pass per cotangent), forward mode ``w . (J u)`` (one
pass per direction), the user's gradient ``grad . u``; the numeric side costs O(directions)
evaluations whatever the size, and its error estimate is small enough that one wrong entry in
100,000 moves the product far outside the tolerance. A failing direction is then localised by
bisection (``suspects``) so the message still names entries.
"""

from __future__ import annotations

import numpy as np

from derivcheck.gradcheck import evidence
from derivcheck.gradcheck.context import (
    Context,
    FirstOrder,
    agrees,
    apart,
    forward,
    judge_row,
    methods,
    rejudge,
    reverse,
    unconfirmed,
)
from derivcheck.gradcheck.reference import kink_possible
from derivcheck.gradcheck.suspects import localise
from derivcheck.model import Quantity
from derivcheck.verdict import Row, Verdict

#: a mismatch this many tolerances outside the one-sided derivatives spares the other directions theirs
KINK_CONFIRMED = 10.0


def check_vjp(ctx: Context) -> FirstOrder:
    """Compare ``w . J u`` for every cotangent and direction; localise the wrong entries behind a
    failing one; rows, then suspects, then the causes both suggest."""
    rows, A, ctx = directional_rows(ctx)
    suspects = localise(ctx, rows, A)
    causes = [*evidence.direction_causes(rows), *evidence.suspect_causes(ctx, suspects.rows, A, suspects.complete)]
    return FirstOrder(tuple(rows), ctx.forward, suspects=suspects.rows, causes=tuple(c for c in causes if c),
                      notes=suspects.notes, complete=suspects.complete)


def directional_rows(ctx: Context) -> tuple[list[Row], np.ndarray | None, Context]:
    """The judged rows ``(c, d)``, reverse mode's products ``A = W J`` (c, n) (``None`` when reverse
    mode is not compared), and the context as forward mode left it."""
    U, W = ctx.U, ctx.W
    A = reverse(ctx, W) if ctx.reverse_on else None
    F, ctx = forward(ctx, U)
    s_rev = None if A is None else A @ U.T
    s_fwd = None if F is None else W @ F.T
    s_claim = None if ctx.claim is None else (U @ ctx.claim)[None, :]
    # the size of the products' terms as reverse mode sees them: part of the final scale below
    seen = 0.0 if A is None else np.abs(A) @ np.abs(U).T
    num = ctx.numeric.settled(U, lambda q: agrees(ctx, W @ q.value, np.abs(W) @ q.error, (s_rev, s_fwd, s_claim), seen),
                              apart=lambda q: apart(ctx, W @ q.value, np.abs(W) @ q.error, (s_rev, s_fwd, s_claim), seen))
    s_num, e_num = W @ num.value, np.abs(W) @ num.error
    terms = np.abs(W) @ np.abs(num.value)
    if A is not None:
        terms = np.maximum(terms, np.abs(A) @ np.abs(U).T)
    rows = [judge_row(ctx, Quantity.VJP, (c, d), ctx.labels.direction(c, d), float(terms[c, d]),
                      rev=None if s_rev is None else s_rev[c, d], fwd=None if s_fwd is None else s_fwd[c, d],
                      claim=None if s_claim is None or c else s_claim[0, d],
                      numeric=(s_num[c, d], e_num[c, d], methods(num.method[:, d])))
            for c in range(len(W)) for d in range(len(U))]
    return unconfirmed(with_kinks(ctx, rows, terms)), A, ctx


def with_kinks(ctx: Context, rows: list[Row], terms: np.ndarray) -> list[Row]:
    """Failing rows along a direction where the function may have a kink, judged again with
    one-sided differences (unless small steps already found it smooth along that direction).

    The worst direction goes first; when a mismatch survives there (outside both one-sided
    derivatives, by ``KINK_CONFIRMED`` tolerances), it decides the check and the other directions
    keep their rows as judged (a network's one-sided differences cost a ladder per direction)."""
    U, W = ctx.U, ctx.W
    worst: dict[int, tuple[bool, float]] = {}  # mismatches first (an undecided row's badness is inf)
    for r in rows:
        if kink_possible(r):
            worst[r.index[1]] = max(worst.get(r.index[1], (False, 0.0)), (r.verdict is Verdict.MISMATCH, r.badness))
    bad = [d for d in sorted(worst, key=lambda d: worst[d], reverse=True) if not ctx.numeric.smooth_at_x(U[d])]
    for group in (bad[:1], sorted(bad[1:])):
        if not group:
            continue
        left, right, error = ctx.numeric.one_sided(U[group])
        where = {d: k for k, d in enumerate(group)}

        def again(r: Row, where=where, left=left, right=right, error=error) -> Row:
            w, k = W[r.index[0]], where[r.index[1]]
            return rejudge(ctx, r, float(terms[r.index]), float(w @ left[:, k]), float(w @ right[:, k]),
                           float(np.abs(w) @ error[:, k]))

        rows = [r if r.index[1] not in where or r.verdict is Verdict.PASS else again(r) for r in rows]
        if any(r.verdict is Verdict.MISMATCH and r.badness > KINK_CONFIRMED for r in rows if r.index[1] in where):
            break
    return rows
