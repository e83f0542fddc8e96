"""The shape every wrong rule shares: its name from the fixed vocabulary, its words, its steps,
and the wrong local tangent it puts in place of the right one at one node."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from derivcheck.mistakes.differentiate import Walk
from derivcheck.mistakes.tree import Node

RULES = (
    "chain", "product", "quotient", "power", "exponential", "logarithm", "trigonometric",
    "inverse-trigonometric", "hyperbolic", "sum", "constant", "constant-factor", "sign", "mean", "transpose",
)

Tans = Sequence["np.ndarray | None"]
Local = Callable[[Walk, Node, Tans], "np.ndarray | None"]


@dataclass(frozen=True)
class Mistake:
    """One wrong local rule at one node."""

    rule: str  # one of RULES
    code: str  # which mistake of the rule, e.g. "inner-dropped"
    node: int
    what: str  # the mistake in words, completed by ``explain`` ({inner} and {var} filled there)
    right: str  # the right local step, in the node's own text
    wrong: str  # the wrong step
    local: Local

    def tangent(self, walk: Walk, node: Node, tans: Tans) -> np.ndarray | None:
        return self.local(walk, node, tans)


def operand_text(node: Node) -> str:
    """A node's text, in parentheses when it is not a single term."""
    if node.kind in ("var", "const", "call", "index", "list", "dot") or node.let:
        return node.let or node.text
    return f"({node.text})"


def is_square(value: np.ndarray) -> bool:
    """A square matrix bigger than 1 x 1 (where a transpose can be wrong)."""
    return value.ndim == 2 and value.shape[0] == value.shape[1] > 1


def total(*terms: np.ndarray | None) -> np.ndarray | None:
    """The sum of the tangents present; None when none is."""
    present = [t for t in terms if t is not None]
    if not present:
        return None
    out = present[0]
    for t in present[1:]:
        out = out + t
    return out


def nonzero_constant(value: np.ndarray) -> bool:
    """Whether a constant operand is not zero (its derivative kept would change something)."""
    try:
        return bool(np.any(np.asarray(value, dtype=float) != 0))
    except (TypeError, ValueError):
        return True
