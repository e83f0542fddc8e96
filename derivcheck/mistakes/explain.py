"""The sentences: which rule, what went wrong, where in the text as written."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import sympy

from derivcheck.mistakes.backends import SYM
from derivcheck.mistakes.diagnosis import Diagnosis
from derivcheck.mistakes.differentiate import Walk
from derivcheck.mistakes.graph import CODE, local_partial, partial_text
from derivcheck.mistakes.tree import Tree, Unsupported
from derivcheck.model import Case

if TYPE_CHECKING:
    from derivcheck.mistakes.catalogue import Mistake

#: an inner derivative is shown in the sentence only when its text is at most this long
MAX_SHOWN = 40


def explain(case: Case, tree: Tree, key: str, group: Sequence[Mistake],
            seeds: Sequence[Sequence[sympy.Expr]]) -> list[Diagnosis]:
    """One diagnosis per mistake of ``group``; with two mistakes both carry the joint sentence."""
    var = _variable(case, seeds)
    parts, steps = [], []
    for mistake in group:
        what = mistake.what.replace("{var}", var)
        if "{partial}" in what:
            what = what.replace("{partial}", _partial(case, tree, mistake, seeds))
        if "{inner}" in what:
            what = what.replace("{inner}", _inner_factor(case, tree, mistake, seeds, var))
        parts.append(f"{what}, at {where(tree, mistake.node)}")
        steps.append((mistake.right.replace("{var}", var), mistake.wrong.replace("{var}", var)))
    text = "the claim equals the derivative with " + ", and with ".join(parts)
    return [Diagnosis(key, m.rule, tree.nodes[m.node].text, text, right, wrong)
            for m, (right, wrong) in zip(group, steps)]


def where(tree: Tree, node_id: int) -> str:
    """A node as written, with the let it sits in."""
    node = tree.nodes[node_id]
    if node.let:
        return f"{node.let} = {node.text}"
    if node.where not in ("f",) and not node.where.startswith("f["):
        return f"{node.text} (in {node.where})"
    return node.text


def _variable(case: Case, seeds: Sequence[Sequence[sympy.Expr]]) -> str:
    """The variable the claim differentiates by, when it is one."""
    owners = set()
    for seed in seeds:
        ones = [j for j, c in enumerate(seed) if c != 0]
        if len(ones) != 1:
            return "the direction"
        offset = 0
        for v in case.variables:
            if offset <= ones[0] < offset + v.size:
                owners.add(v.name)
            offset += v.size
    return owners.pop() if len(owners) == 1 else "the variable"


def _inner_factor(case: Case, tree: Tree, mistake: Mistake, seeds: Sequence[Sequence[sympy.Expr]], var: str) -> str:
    node = tree.nodes[mistake.node]
    inner = node.children[1] if node.kind == "pow" and tree.depends(node.children[1]) and not \
        tree.depends(node.children[0]) else node.children[0]
    inner_text = tree.nodes[inner].let or tree.nodes[inner].text
    shown = f"∂({inner_text})/∂{var}"
    try:
        walk = Walk(tree, SYM, case.symbols, seeds)
        mask = tree.subtree[inner] | (1 << inner)
        tans = walk.tangents({}, None) if mask.bit_count() > 60 else _subtree_tangents(walk, tree, inner)
        t = tans[inner]
        if t is None:
            return shown
        t = np.asarray(t).reshape(len(seeds), -1)
        live = [k for k in range(len(seeds)) if any(v != 0 for v in t[k])]
        var = _variable(case, [seeds[k] for k in live]) if live else var
        shown = f"∂({inner_text})/∂{var}"
        values = {sympy.simplify(v) for k in live for v in t[k] if v != 0}
    except (Unsupported, TypeError, ValueError, ArithmeticError, IndexError):
        return shown
    if len(values) == 1:
        value = str(values.pop()).replace("**", "^")
        if len(value) <= MAX_SHOWN:
            return f"{shown} = {value}"
    return shown


def _subtree_tangents(walk: Walk, tree: Tree, top: int) -> list:
    tans: list = [None] * len(tree.nodes)
    mask = tree.subtree[top] | (1 << top)
    for node in tree.nodes:
        if mask >> node.id & 1:
            t = walk.local(node, tans)
            tans[node.id] = None if t is None else np.asarray(t, dtype=object)
    return tans


def _partial(case: Case, tree: Tree, mistake: Mistake, seeds: Sequence[Sequence[sympy.Expr]]) -> str:
    """∂L/∂X of a dropped local partial, with its value in the case's symbols when it is short."""
    x = int(mistake.code[len(CODE):])
    shown = partial_text(tree, mistake.node, x)
    try:
        value = local_partial(Walk(tree, SYM, case.symbols, seeds[:1]), tree, mistake.node, x)
    except (Unsupported, TypeError, ValueError, ArithmeticError, IndexError):
        return shown
    if value is None:
        return shown
    text = str(sympy.simplify(value)).replace("**", "^")
    return f"{shown} = {text}" if len(text) <= MAX_SHOWN else shown
