"""Forward mode checked along a few seeded directions: ``J u`` from one dual-number pass each
against the numeric Jacobian times ``u``.

A function that does not batch pays ``FORWARD_PROBES`` forward passes, not ``n``; forward mode is
compared entry by entry (``jacobian``) only when a probe fails, or when the input is so small that
the whole Jacobian costs no more than a probe.
"""

from __future__ import annotations

import numpy as np

from derivcheck.engines import numeric as finite_diff
from derivcheck.gradcheck.context import Context, forward, judge_row, methods
from derivcheck.model import Quantity
from derivcheck.verdict import Row

#: forward-mode directions checked first (a dual-number pass costs several evaluations' time)
FORWARD_PROBES = 1


def check_jvp(ctx: Context, num: finite_diff.NumericDerivative) -> tuple[list[Row], Context]:
    """Rows ``(J u)[i]`` for the first ``FORWARD_PROBES`` directions, forward mode against the
    numeric Jacobian ``num`` (m, n); none when forward mode is off or turns out unsupported (the
    context that comes back says so)."""
    U = ctx.U[:FORWARD_PROBES]
    F = []
    for u in U:  # one dual-number pass each: cheaper than vmap's set-up
        values, ctx = forward(ctx, u[None])
        if values is None:
            return [], ctx
        F.append(values)
    products = np.concatenate(F)  # (k, m)
    value, error = num.value @ U.T, np.abs(num.error) @ np.abs(U).T  # (m, k)
    terms = np.abs(num.value) @ np.abs(U).T
    rows = [judge_row(ctx, Quantity.JVP, (d, i), ctx.labels.jvp(d, i), float(terms[i, d]), fwd=products[d, i],
                      numeric=(value[i, d], error[i, d], methods(num.method[i])))
            for d in range(len(U)) for i in range(ctx.fn.m)]
    return rows, ctx


def forward_jacobian(ctx: Context) -> tuple[np.ndarray | None, Context]:
    """Forward mode's whole Jacobian (m, n) for the smallest inputs, else ``None``: forward mode
    is checked along a few directions first (n forward passes, or vmap's overhead, cost more than
    the whole check of a correct function), entry by entry only if one fails."""
    if not ctx.forward.on or ctx.fn.n > FORWARD_PROBES:
        return None, ctx
    return every_entry(ctx)


def every_entry(ctx: Context) -> tuple[np.ndarray | None, Context]:
    """Forward mode's Jacobian (m, n), one tangent per input entry."""
    values, ctx = forward(ctx, np.eye(ctx.fn.n))
    return (None if values is None else values.T), ctx
