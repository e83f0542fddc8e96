"""Rows at a point on the switching set of a where(): the definition decides.

Gradient and Hessian entries there are re-judged against the derivative from its definition
(``engines/definition.py``): one-sided limits that differ make the entry a kink (any value between
them is a subgradient); engines that disagree with the definition are reported, not blamed (torch
differentiates one branch, a stencil straddles the set); and where the mixed partials from the
definition differ (d/dy(df/dx) != d/dx(df/dy)), both entries say so: the function is not twice
differentiable there.
"""

from __future__ import annotations

import dataclasses

import sympy

from derivcheck.engines.definition import one_sided
from derivcheck.model import Case, Quantity
from derivcheck.numformat import fmt_number
from derivcheck.verdict import Entry, Row, Source, Verdict, judge

_ENGINES = {Source.REVERSE, Source.FORWARD, Source.NUMERIC}
NOTE = "on the switching set of where(): the exact value is from the definition; torch differentiates one branch"


def by_definition(case: Case, point: tuple[sympy.Expr, ...], rows: list[Row]) -> list[Row]:
    """``rows`` of one point with every gradient and Hessian entry decided by the definition."""
    symbols = case.symbols
    values: dict[tuple[int, ...], tuple[sympy.Expr | None, sympy.Expr | None]] = {}
    out = []
    for row in rows:
        if row.quantity is Quantity.JACOBIAN:
            i, j = row.index
            sequence = [j]
        elif row.quantity is Quantity.HESSIAN:
            i, j, l = row.index
            sequence = [j, l]  # d/dx_j (df/dx_l)
        else:
            out.append(row)
            continue
        left, right = one_sided(case.outputs[i], symbols, point, sequence)
        values[row.index] = (left, right)
        out.append(_rejudge(row, left, right))
    return [_mixed(row, values) if row.quantity is Quantity.HESSIAN else row for row in out]


def _rejudge(row: Row, left: sympy.Expr | None, right: sympy.Expr | None) -> Row:
    if left is None or right is None:
        return row
    same = sympy.simplify(left - right) == 0
    exact = float(right) if same else None
    entry = Entry(
        quantity=row.quantity, point=row.point, index=row.index, label=row.label,
        exact=exact, exact_text=str(right) if same else None, reverse=row.reverse, forward=row.forward,
        numeric=row.numeric, numeric_error=row.numeric_error, method=row.method, claims=row.claims,
        left=None if same else float(left), right=None if same else float(right), one_sided_error=0.0,
        scale=max(abs(float(left)), abs(float(right)), 1e-300),
    )
    decided = judge(entry)
    engines = set(decided.wrong) & _ENGINES
    if engines:  # reported in the note, never blamed: they cannot see the definition here
        rest = tuple(s for s in decided.wrong if s not in _ENGINES)
        decided = dataclasses.replace(decided, verdict=Verdict.MISMATCH if rest else Verdict.NOT_DIFFERENTIABLE,
                                      wrong=rest, note="; ".join(p for p in (NOTE, decided.note) if p))
    return decided


def _mixed(row: Row, values: dict) -> Row:
    i, j, l = row.index
    mine, other = values.get((i, j, l)), values.get((i, l, j))
    if j == l or not mine or not other or None in (*mine, *other):
        return row
    if sympy.simplify(mine[1] - other[1]) == 0 or Source.CLAIM in row.wrong:
        return row
    note = (f"mixed partials differ here: {row.label} = {fmt_number(float(mine[1]), 6, 'none')}, "
            f"the other order gives {fmt_number(float(other[1]), 6, 'none')} (not twice differentiable)")
    return dataclasses.replace(row, verdict=Verdict.NOT_DIFFERENTIABLE, wrong=(),
                               note="; ".join(p for p in (note, row.note) if p))
