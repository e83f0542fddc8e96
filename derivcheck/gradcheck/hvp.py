"""Second order as a first-order check of the gradient: double backward's Hessian-vector products
against finite differences of ``g(x) = w . J(x)`` (reverse mode's gradient, itself a function).

Small inputs compare the whole Hessian of ``w . f`` (the numeric Jacobian of ``g``); large ones
``v . H u`` along seeded pairs of directions (``g``'s derivative along ``u``, contracted with ``v``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from derivcheck.gradcheck import labels
from derivcheck.gradcheck.context import Context, judge_row, methods, nanmax
from derivcheck.gradcheck.torch_function import ModeUnsupported
from derivcheck.model import Quantity
from derivcheck.verdict import Row, Verdict

#: the cause named when double backward is wrong and the gradient does not depend on the inputs
CONSTANT_GRADIENT = ("double backward sees the gradient as a constant: the backward pass is not "
                     "differentiable (a detach(), .data, NumPy or @once_differentiable in it?)")


@dataclass(frozen=True)
class SecondOrder:
    """What the second-order check found; ``unchecked`` says why it compared nothing."""

    rows: tuple[Row, ...] = ()
    causes: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    unchecked: str = ""  # the note on the second-order mode when double backward raised


def check_second_order(ctx: Context, full: bool) -> SecondOrder:
    """Compare double backward with finite differences of the gradient (every Hessian entry when
    ``full``, else ``v . H u`` along the seeded directions)."""
    fn, w = ctx.fn, ctx.W[0]
    if not fn.differentiable:
        return SecondOrder(notes=("second order not checked: the function has no autograd graph",))
    gradient = fn.gradient_at(w)
    try:
        rows = hessian_rows(ctx, gradient) if full else hvp_rows(ctx, gradient)
    except ModeUnsupported as exc:
        return SecondOrder(unchecked=f"double backward failed: {exc}")
    constant = fn.constant_gradient and any(r.verdict is Verdict.MISMATCH for r in rows)
    return SecondOrder(tuple(rows), causes=(CONSTANT_GRADIENT,) if constant else ())


def hessian_rows(ctx: Context, gradient) -> list[Row]:
    """Every entry of the Hessian of ``w . f``: double backward against the numeric Jacobian of ``g``."""
    n = ctx.fn.n
    H = ctx.fn.hvp(ctx.W[0], np.eye(n))
    num = ctx.numeric.jacobian(gradient)
    scale = nanmax(np.abs(num.value))
    return [judge_row(ctx, Quantity.HESSIAN, (0, j, k), ctx.labels.hessian(j, k), scale, rev=H[j, k],
                      numeric=(num.value[j, k], num.error[j, k], num.method[j, k]))
            for j in range(n) for k in range(n)]


def hvp_rows(ctx: Context, gradient) -> list[Row]:
    """``v . H u`` for each seeded pair: double backward against ``g``'s numeric derivative along ``u``."""
    HU = ctx.fn.hvp(ctx.W[0], ctx.U)
    num = ctx.numeric.directional(ctx.U, gradient)  # (n, d): H u along each direction
    rows = []
    for d, v in enumerate(ctx.V[:len(ctx.U)]):
        rows.append(judge_row(ctx, Quantity.HESSIAN, (0, d), labels.hvp(d), float(np.abs(v) @ np.abs(num.value[:, d])),
                              rev=float(v @ HU[d]),
                              numeric=(float(v @ num.value[:, d]), float(np.abs(v) @ num.error[:, d]),
                                       methods(num.method[:, d]))))
    return rows
