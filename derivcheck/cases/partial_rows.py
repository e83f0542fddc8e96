"""Rows for ``Partial`` derivatives (Leibniz notation): higher orders and partials at graph nodes.

Each is checked three ways, as everything else:

* exactly: SymPy differentiates the numerator by the denominator entries in Leibniz order (the
  rightmost first), with a node of the graph a free symbol, and evaluates at the point (the node
  at its own exact value there);
* by autograd: torch differentiates the compiled numerator by nested reverse mode, gradients taken
  with respect to the node's own tensor where the denominator is an intermediate;
* numerically: a first derivative by finite differences (the complex step where analytic), of the
  function itself for order 1 (perturbing the node where it is an intermediate), and for order
  k of the exact derivative of order k - 1 by the other variables, so each order is checked on
  its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import sympy

from derivcheck.engines import exact as symbolic
from derivcheck.engines import numeric as finite_diff
from derivcheck.engines.autograd import Compiled, compile_torch, partials_at
from derivcheck.engines.exact_eval import Point
from derivcheck.errors import EvaluationError
from derivcheck.language.constants import to_float
from derivcheck.model import Case, Partial, Quantity
from derivcheck.verdict import Row

#: digits of a node's exact value at a point (above the exact engine's 34)
NODE_DIGITS = 50


@dataclass(eq=False)
class _Plan:
    """What one ``Partial`` shares across points: its symbols, derivatives and compiled code."""

    partial: Partial
    symbols: tuple[sympy.Symbol, ...]
    exact: np.ndarray  # (m, d) derivative expressions
    compiled: Compiled
    lower: dict[tuple[int, ...], Compiled]  # for order k: compiled derivative by the last k-1


def plans(case: Case) -> list[_Plan]:
    """One plan per partial of the case (derivatives taken once)."""
    out = []
    for partial in case.partials:
        symbols = (*case.symbols, *partial.nodes)
        derived = _Derivatives(symbols)
        exact = np.empty((len(partial.outputs), len(partial.wrt)), dtype=object)
        for i, expr in enumerate(partial.outputs):
            for d, seq in enumerate(partial.wrt):
                exact[i, d] = derived(i, tuple(seq), expr)
        lower: dict[tuple[int, ...], Compiled] = {}
        for seq in partial.wrt:
            tail = tuple(seq[1:])
            if tail and tail not in lower:
                exprs = [derived(i, tail, expr) for i, expr in enumerate(partial.outputs)]
                lower[tail] = compile_torch(symbols, exprs)
        out.append(_Plan(partial, symbols, exact, compile_torch(symbols, partial.outputs), lower))
    return out


class _Derivatives:
    """Derivatives by index sequences, each sharing the work of its tail (the rightmost index is
    applied first, so a sequence extends its own tail)."""

    def __init__(self, symbols: tuple[sympy.Symbol, ...]) -> None:
        self.symbols = symbols
        self.memo: dict[tuple[int, tuple[int, ...]], sympy.Expr] = {}

    def __call__(self, i: int, seq: tuple[int, ...], expr: sympy.Expr) -> sympy.Expr:
        if not seq:
            return expr
        if (i, seq) not in self.memo:
            self.memo[(i, seq)] = symbolic.derive_sequence(self(i, seq[1:], expr), [self.symbols[seq[0]]])
        return self.memo[(i, seq)]


JudgeFn = Callable[..., Row]


def partial_rows(plan_list: list[_Plan], k: int, point: tuple[sympy.Expr, ...], subs: Point,
                 judge: JudgeFn) -> list[Row]:
    """Every entry of every partial at point ``k``; ``judge`` is the runner's (claims, tolerances)."""
    rows: list[Row] = []
    for p, plan in enumerate(plan_list):
        partial = plan.partial
        node_values = [symbolic.evaluate(v, subs, digits=NODE_DIGITS) for v in partial.node_values]
        full = Point(zip(plan.symbols, (*point, *node_values)))
        z = np.array([to_float(c) for c in (*point, *node_values)], dtype=np.float64)
        m, count = plan.exact.shape
        exact = np.empty((m, count), dtype=object)
        for index in np.ndindex(exact.shape):
            try:
                exact[index] = symbolic.evaluate(plan.exact[index], full)
            except EvaluationError:
                exact[index] = None
        ad = partials_at(plan.compiled, z, partial.wrt)
        numeric = _numeric(plan, z)
        values = [abs(float(v)) for v in exact.flat if v is not None]
        scale = max(values, default=0.0) or float(np.nanmax(np.abs(ad), initial=0.0))
        float_point = dict(zip(plan.symbols, z.tolist()))
        for i in range(m):
            for d in range(count):
                rows.append(judge(
                    Quantity.PARTIAL, k, (p, i, d), partial.labels[i][d], exact[i, d], subs,
                    reverse=float(ad[i, d]), numeric=numeric[i][d], one_sided=None, scale=scale,
                    expr=plan.exact[i, d], float_point=float_point,
                ))
    return rows


def _numeric(plan: _Plan, z: np.ndarray) -> list[list[tuple[float, float, str]]]:
    partial = plan.partial
    m, count = plan.exact.shape
    out: list[list[tuple[float, float, str]]] = [[(np.nan, np.inf, "none")] * count for _ in range(m)]
    groups: dict[tuple[int, ...], list[int]] = {}
    for d, seq in enumerate(partial.wrt):
        groups.setdefault(tuple(seq[1:]), []).append(d)
    for tail, columns in groups.items():
        function = plan.lower[tail] if tail else plan.compiled
        vectors = np.zeros((len(columns), len(z)))
        for row, d in enumerate(columns):
            vectors[row, partial.wrt[d][0]] = 1.0
        num = finite_diff.directional(function.numpy, z, vectors, complex_step=function.analytic)
        for row, d in enumerate(columns):
            for i in range(m):
                out[i][d] = (float(num.value[i, row]), float(num.error[i, row]), str(num.method[i, row]))
    return out
