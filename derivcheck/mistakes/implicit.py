"""The search on an implicit case: dy/dx = -F_x/F_y on F = 0, differentiated as a student would.

The claim is a quotient of two partials of F, so two kinds of slip are searched: one wrong rule
inside F (each partial then carries it: the same walk, two seeds), and the quotient itself
mishandled: flipped (-F_y/F_x, the reciprocal: "quotient") or its minus sign lost (F_x/F_y:
"sign"). The exact match is the ordinary one: the claim's value at every point (the case's and
seeded random rational points near them: the identity must hold off the curve too), to 1e-25.
Only first derivatives (one independent variable per claim) are searched.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import sympy

from derivcheck.mistakes.backends import FLOAT
from derivcheck.mistakes.bounded import FD_RTOL, FD_STEP, MATCH_RTOL, SCREEN_RTOL, Outcome, _Search
from derivcheck.mistakes.diagnosis import Diagnosis
from derivcheck.mistakes.differentiate import Walk
from derivcheck.mistakes.tree import Tree
from derivcheck.model import Case, ClaimEntry

#: the quotient's slips: (rule, code, what, wrong step, numerator sign, flipped)
QUOTIENT_SLIPS = (
    ("quotient", "flipped", "the implicit quotient -∂F/∂{x} / ∂F/∂{y} flipped (its reciprocal taken)",
     "-(∂F/∂{y})/(∂F/∂{x})", -1, True),
    ("sign", "implicit-sign", "the minus sign of the implicit quotient -∂F/∂{x} / ∂F/∂{y} lost",
     "(∂F/∂{x})/(∂F/∂{y})", 1, False),
)


def implicit_outcome(case: Case, tree: Tree, key: str, entries: list[ClaimEntry], start: float,
                     budget: float) -> Outcome | None:
    """The search for an implicit claim; None when it is not one the search covers (order 2 or more)."""
    implicit = case.implicit
    if implicit is None:
        return None
    sequences = [implicit.sequences[c.index[0]] for c in entries]
    if any(len(s) != 1 for s in sequences):
        return None
    return _ImplicitSearch(case, tree, key, entries, start, budget, [s[0] for s in sequences]).run()


def _unit(size: int, j: int) -> tuple[sympy.Expr, ...]:
    return tuple(sympy.Integer(int(i == j)) for i in range(size))


class _ImplicitSearch(_Search):
    """The search, with each claimed entry -F_j/F_y (or a slip of that quotient) of the walk's
    partials of F rather than a linear combination of them."""

    def __init__(self, case: Case, tree: Tree, key: str, entries: list[ClaimEntry], start: float,
                 budget: float, independents: Sequence[int]) -> None:
        self.case, self.tree, self.key, self.entries = case, tree, key, entries
        self.oracle = None
        self.rtol = MATCH_RTOL
        self.start, self.deadline = start, start + budget
        n, y = case.n_inputs, case.implicit.dependent
        self.seeds = list(dict.fromkeys([_unit(n, j) for j in independents] + [_unit(n, y)]))
        self.k_index = np.array([self.seeds.index(_unit(n, j)) for j in independents])
        self.k_y = self.seeds.index(_unit(n, y))
        self.independents = list(independents)
        self.slip: tuple[int, bool] = (-1, False)  # (numerator sign, flipped): the right quotient

    def _quotient(self, out: np.ndarray) -> list:
        sign, flipped = self.slip
        fy = out[self.k_y, 0]
        return [sign * fy / out[k, 0] if flipped else sign * out[k, 0] / fy for k in self.k_index]

    def _float_values(self, walk: Walk, tans: Sequence[np.ndarray | None]) -> np.ndarray:
        return np.array(self._quotient(walk.outputs(tans)), dtype=np.float64)

    def _entry_values(self, walk: Walk, tans: Sequence[np.ndarray | None]) -> list[object]:
        return self._quotient(walk.outputs(tans))

    def _right_is_right(self, point: tuple[sympy.Expr, ...], right: float) -> bool:
        """F's two partials from the walk agree with central differences of F (the guard)."""
        x = np.array([float(c) for c in point])
        h = FD_STEP * (1 + float(np.max(np.abs(x))))
        walk = Walk(self.tree, FLOAT, point, self.seeds)
        out = walk.outputs(walk.tangents())

        def g(at: np.ndarray) -> float:
            return float(Walk(self.tree, FLOAT, tuple(at), []).values[self.tree.roots[0]])

        with np.errstate(all="ignore"):
            for k, seed in enumerate(self.seeds):
                e = np.array([float(c) for c in seed])
                estimate = (g(x + h * e) - g(x - h * e)) / (2 * h)
                if not abs(estimate - out[k, 0]) <= FD_RTOL * (1 + abs(out[k, 0])):
                    return False
        return bool(np.isfinite(right))

    def _prepare(self) -> bool:
        """The points once (the quotient's slips and the node search share them)."""
        if not hasattr(self, "_ready"):
            self._ready = super()._prepare()
            for k in range(len(self.points) if self._ready else 0):
                self._exact_walk(k)  # the right quotient's values, cached before any slip is tried
        return self._ready

    def run(self) -> Outcome:
        if not self._prepare():
            return self._done((), False, note="too few points where the function is defined")
        found = self._quotient_slips()
        if found:
            return self._done(found, True)
        return super().run()

    def _quotient_slips(self) -> list[Diagnosis]:
        found = []
        root = self.tree.nodes[self.tree.roots[0]].text
        y = str(self.case.symbols[self.case.implicit.dependent])
        x = str(self.case.symbols[self.independents[0]])
        for rule, _code, what, wrong, sign, flipped in QUOTIENT_SLIPS:
            self.slip = (sign, flipped)
            try:
                with np.errstate(all="ignore"):
                    values = np.concatenate([self._float_values(w, b) for w, b in
                                             zip(self.float_walks[:2], self.float_bases[:2])])
                claim = np.array([float(c) for cs in self.claims[:2] for c in cs])
                scale = float(np.max(np.abs(claim))) or 1.0
                close = bool(np.all(np.abs(values - claim) <= SCREEN_RTOL * scale))
                ok = close and self._confirm(())
            finally:
                self.slip = (-1, False)
            if ok:
                text = "the claim equals the derivative with " + what.format(x=x, y=y) + f", at {root}"
                found.append(Diagnosis(self.key, rule, root, text, f"d{y}/d{x} = -(∂F/∂{x})/(∂F/∂{y})",
                                       wrong.format(x=x, y=y)))
        return found

