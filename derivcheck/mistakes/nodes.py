"""The search on a node partial: "dJ/du" where u is a ``let`` intermediate of the graph.

The partial holds every variable and moves u alone: its tangent is set to 1 at u's node (not
differentiated from u's operands), and the walk carries it up to f. A wrong rule at a node above u
(the local partials along the path from u to f) is then searched as for any claim. Only the
function's own partials by one scalar intermediate are searched (not those of an intermediate,
"du/da", nor of order 2 or more).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import sympy

from derivcheck.mistakes.bounded import MATCH_RTOL, Outcome, _Search
from derivcheck.mistakes.differentiate import Walk
from derivcheck.mistakes.tree import Node, Tree
from derivcheck.model import Case, ClaimEntry, Partial


class _Seeded:
    """The intermediate's tangent: 1 along the one seed."""

    def tangent(self, walk: Walk, node: Node, tans: Sequence[np.ndarray | None]) -> np.ndarray:
        return walk.B.const(1) + walk.zeros((walk.K,))


def node_outcome(case: Case, tree: Tree, key: str, entries: list[ClaimEntry], start: float,
                 budget: float) -> Outcome | None:
    """The search for a node-partial claim; None when it is not one the search covers."""
    found = _node(case, tree, entries)
    if found is None:
        return None
    partial, node = found
    values = dict(zip(partial.nodes, partial.node_values))
    claims = [dataclasses.replace(c, expr=c.expr.xreplace(values)) for c in entries]
    return _NodeSearch(case, tree, key, claims, start, budget, node).run()


def _node(case: Case, tree: Tree, entries: list[ClaimEntry]) -> tuple[Partial, int] | None:
    """The claim's partial and the let node it moves, when it is f's partial by one scalar let."""
    places = {(c.index[0], c.index[2]) for c in entries}
    if len(places) != 1:
        return None
    ((p, d),) = places
    partial = case.partials[p]
    wrt, n = partial.wrt[d], len(case.symbols)
    if len(wrt) != 1 or wrt[0] < n or len(partial.nodes) != 1 or len(partial.outputs) != len(case.outputs):
        return None
    symbol = partial.nodes[wrt[0] - n]
    lets = [node.id for node in tree.nodes if node.let == str(symbol)]
    if len(lets) != 1:
        return None
    back = dict(zip(partial.nodes, partial.node_values))
    for mine, out in zip(partial.outputs, case.outputs):
        if sympy.simplify(mine.xreplace(back) - out) != 0:
            return None  # the numerator is not the function (an intermediate's partial)
    return partial, lets[0]


class _NodeSearch(_Search):
    """The search with one seed that moves the intermediate alone (every variable held)."""

    def __init__(self, case: Case, tree: Tree, key: str, entries: list[ClaimEntry], start: float,
                 budget: float, node: int) -> None:
        self.case, self.tree, self.key, self.entries = case, tree, key, entries
        self.oracle = None
        self.rtol = MATCH_RTOL
        self.start, self.deadline = start, start + budget
        self.seeds = [tuple(sympy.Integer(0) for _ in range(case.n_inputs))]
        self.k_index = np.zeros(len(entries), dtype=int)
        m = case.n_outputs
        self.weights = [tuple(sympy.Integer(int(i == c.index[1])) for i in range(m)) for c in entries]
        self.float_weights = np.array([[float(v) for v in w] for w in self.weights], dtype=np.float64)
        self.fixed = {node: _Seeded()}

    def _right_is_right(self, point: tuple[sympy.Expr, ...], right: float) -> bool:
        return bool(np.isfinite(right))  # no difference quotient moves an intermediate alone
