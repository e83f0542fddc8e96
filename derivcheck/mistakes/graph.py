"""Wrong rules on the computational graph: a local partial along a path dropped.

A case written as a graph (``let = { v = "b*c", u = "a + v" }``, ``f = "3*u"``) is differentiated
by the chain rule along its paths: dJ/db = dJ/du du/dv dv/db. The classic slip (CS231n's "local
gradient" forgotten) is to take one local partial, here dv/db = c, as 1. At a ``let`` node L the
mistake replaces L's tangent: the part that flows in through the operand X is taken as X's tangent
itself, the rest of L's local rule is kept.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from derivcheck.mistakes.differentiate import Walk
from derivcheck.mistakes.tree import Node, Tree

#: the code of the mistake, with the operand's node id after it
CODE = "partial-dropped-"


def graph_inputs(tree: Tree, node: Node) -> tuple[list[int], list[int]]:
    """The operands of a let's own expression that are variables or other lets (its inputs in the
    graph), and the nodes of its own expression (between it and its inputs), in evaluation order."""
    inputs: list[int] = []
    local: set[int] = set()
    stack = [node.id]
    while stack:
        i = stack.pop()
        n = tree.nodes[i]
        if i != node.id and (n.kind == "var" or n.let):
            if i not in inputs and tree.depends(i):
                inputs.append(i)
            continue
        if i in local:
            continue
        local.add(i)
        stack.extend(n.children)
    return sorted(inputs), sorted(local)


def partial_mistakes(add: Callable[..., None], tree: Tree, walk: Walk, node: Node) -> None:
    """At a let node: each local partial along an edge of the graph taken as 1."""
    if not node.let:
        return
    inputs, local = graph_inputs(tree, node)
    shape = walk.values[node.id].shape
    for x in inputs:
        xshape = walk.values[x].shape
        if xshape not in ((), shape):
            continue  # a partial that is a matrix: "taken as 1" is not one slip
        name = tree.nodes[x].let or tree.nodes[x].text
        right = f"∂{node.let}/∂{name} ∂{name}"
        add("chain", f"{CODE}{x}", "the chain rule's local partial {partial} dropped (taken as 1) along the path",
            f"∂{node.let} = {right} + ...", f"∂{name} + ...", _dropped(x, local))


def _dropped(x: int, local: list[int]) -> Callable[[Walk, Node, list], np.ndarray | None]:
    def rule(w: Walk, n: Node, tans: list) -> np.ndarray | None:
        dx = tans[x]
        if dx is None:
            return None
        rest = _without(w, tans, x, local)[n.id]
        through = w.full(w.lift(dx, w.values[n.id].ndim), n.id)
        return through if rest is None else rest + through
    return rule


def _without(w: Walk, tans: list, x: int, local: list[int], seed: np.ndarray | None = None) -> list:
    """The let's own expression re-differentiated with the input ``x`` carrying ``seed`` (None:
    nothing) and every other input its tangent in ``tans`` (for the partial alone: None)."""
    tmp = list(tans)
    tmp[x] = seed
    for i in local:
        t = w.local(w.tree.nodes[i], tmp)
        tmp[i] = None if t is None else np.asarray(t, dtype=w.B.dtype)
    return tmp


def local_partial(w: Walk, tree: Tree, node_id: int, x: int) -> object | None:
    """∂L/∂X, the local partial of a let by one input, for scalars (others held): None if not scalar."""
    if w.values[node_id].shape != () or w.values[x].shape != ():
        return None
    _, local = graph_inputs(tree, tree.nodes[node_id])
    tans: list = [None] * len(tree.nodes)
    one = np.asarray(w.B.const(1) + np.zeros((w.K,), dtype=object), dtype=w.B.dtype)
    t = _without(w, tans, x, local, seed=one)[node_id]
    return None if t is None else np.asarray(t).reshape(-1)[0]


def partial_text(tree: Tree, node_id: int, x: int) -> str:
    node = tree.nodes[x]
    return f"∂{tree.nodes[node_id].let}/∂{node.let or node.text}"
