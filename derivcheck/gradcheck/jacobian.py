"""First order for small inputs: every Jacobian entry compared.

Reverse mode's Jacobian (one backward pass per output), forward mode's (along a few seeded
directions first, ``jvp``; entry by entry only if one fails) and the user's gradient against
float64 finite differences; a failing entry where the function may have a kink is judged again
with one-sided differences. The wrong entries' pattern gives the likely causes (``evidence``).
"""

from __future__ import annotations

import numpy as np

from derivcheck.gradcheck import evidence
from derivcheck.gradcheck.context import (
    Context,
    FirstOrder,
    agrees,
    judge_row,
    nanmax,
    rejudge,
    reverse,
    unconfirmed,
    unit_rows,
)
from derivcheck.gradcheck.jvp import check_jvp, every_entry, forward_jacobian
from derivcheck.gradcheck.reference import kink_possible
from derivcheck.model import Quantity
from derivcheck.verdict import Row, Verdict


def check_jacobian(ctx: Context) -> FirstOrder:
    """Compare every entry of the Jacobian: rows, then the causes the wrong ones suggest."""
    fn = ctx.fn
    rev = reverse(ctx, np.eye(fn.m)) if ctx.reverse_on else None
    fwd, ctx = forward_jacobian(ctx)
    claim = None if ctx.claim is None else ctx.claim[None, :]
    units = np.eye(fn.n)
    num = ctx.numeric.settled(units, lambda q: agrees(ctx, q.value, q.error, (rev, fwd, claim)))
    probes: list[Row] = []
    if fwd is None and ctx.forward.on:
        probes, ctx = check_jvp(ctx, num)
        if any(r.verdict is not Verdict.PASS for r in probes):  # look at every entry: which ones
            fwd, ctx = every_entry(ctx)
            probes = []

            def forward_agrees(q) -> np.ndarray:
                return agrees(ctx, q.value, q.error, (rev, fwd, claim))

            num = ctx.numeric.refine(num, units, forward_agrees(num), forward_agrees)
    scale = nanmax(np.abs(num.value))
    rows = [judge_row(ctx, Quantity.JACOBIAN, (i, j), ctx.labels.entry(i, j), scale,
                      rev=None if rev is None else rev[i, j], fwd=None if fwd is None else fwd[i, j],
                      claim=None if ctx.claim is None else ctx.claim[j],
                      numeric=(num.value[i, j], num.error[i, j], num.method[i, j]))
            for i in range(fn.m) for j in range(fn.n)]
    rows = unconfirmed(with_kinks(ctx, rows, scale))
    causes = evidence.jacobian_causes(ctx, rows, num.value, rev, fwd)
    return FirstOrder(tuple(rows + probes), ctx.forward, causes=tuple(c for c in causes if c))


def with_kinks(ctx: Context, rows: list[Row], scale: float) -> list[Row]:
    """Failing rows in a column where the function may have a kink, judged again with one-sided
    differences beside them (unless small steps already found it smooth there)."""
    columns = sorted({r.index[1] for r in rows if kink_possible(r)})
    columns = [j for j in columns if not ctx.numeric.smooth_at_x(unit_rows(ctx.fn.n, [j])[0])]
    if not columns:
        return rows
    left, right, error = ctx.numeric.one_sided(unit_rows(ctx.fn.n, columns))
    where = {j: k for k, j in enumerate(columns)}
    out = []
    for r in rows:
        k = where.get(r.index[1])
        if k is None or r.verdict is Verdict.PASS:
            out.append(r)
            continue
        i = r.index[0]
        out.append(rejudge(ctx, r, scale, left[i, k], right[i, k], error[i, k]))
    return out
