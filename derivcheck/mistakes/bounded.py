"""The search itself: screening in float64, the exact match in mpmath, singles then pairs, the bound.

Screening runs in float64 at two points; a candidate that survives is confirmed in mpmath at
``MATCH_DIGITS`` digits at every point (the case's own points and seeded random rational points
near them): it must equal the claim to ``MATCH_RTOL`` everywhere and differ from the right
derivative somewhere. Nothing weaker is reported. The search stops at ``BUDGET_SECONDS``.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import mpmath
import numpy as np
import sympy

from derivcheck.engines import exact
from derivcheck.errors import EvaluationError
from derivcheck.mistakes.backends import FLOAT, MATCH_DIGITS, MP
from derivcheck.mistakes.catalogue import Mistake, candidates
from derivcheck.mistakes.diagnosis import Diagnosis
from derivcheck.mistakes.differentiate import Walk
from derivcheck.mistakes.explain import explain
from derivcheck.mistakes.tree import Tree
from derivcheck.model import Case, ClaimEntry, Quantity

#: the search stops after this long (per claim) and says that no single rule explains the claim
BUDGET_SECONDS = 1.0
#: random rational points added to the case's own points for the exact match
RANDOM_POINTS = 3
#: at most this many of the case's own points
OWN_POINTS = 3
#: screening tolerance in float64, relative to the size of the claim and the derivative
SCREEN_RTOL = 1e-7
#: the exact match: agreement to this, relative, at every point
MATCH_RTOL = 1e-25
#: the match for a claim known only as float64 values (a user's gradient function)
FLOAT_MATCH_RTOL = 1e-9
#: a claim with more scalar entries than this is not searched
MAX_ENTRIES = 256
#: the most numbers one walk may hold (seeds x entries x nodes): beyond, the claim is not searched
MAX_WORK = 2_000_000
#: the central difference that guards the walk's right derivative at the first point
FD_STEP = 1e-6
FD_RTOL = 1e-4
#: the most diagnoses reported for one claim
MAX_REPORTED = 3
NO_SINGLE = "no single misapplied rule explains the claim"


@dataclass(frozen=True)
class Outcome:
    """What the search found for one claim: diagnoses (maybe none), and whether it finished."""

    diagnoses: tuple[Diagnosis, ...]
    complete: bool
    seconds: float
    candidates: int = 0
    note: str = ""
    groups: tuple[tuple[Mistake, ...], ...] = field(default=(), compare=False, repr=False)  # behind the diagnoses

    @property
    def sentence(self) -> str:
        if self.diagnoses:
            return "; ".join(dict.fromkeys(d.text for d in self.diagnoses))
        return NO_SINGLE + ("" if self.complete or not self.note else f" ({self.note})")


#: a claim known only through a function: its float values at a point, one per claimed entry
ClaimOracle = Callable[[tuple[sympy.Expr, ...]], Sequence[float]]


def _seed_and_weights(case: Case, claim: ClaimEntry) -> tuple[tuple[sympy.Expr, ...], tuple[sympy.Expr, ...]]:
    n, m = case.n_inputs, case.n_outputs

    def unit(size: int, j: int) -> tuple[sympy.Expr, ...]:
        return tuple(sympy.Integer(int(i == j)) for i in range(size))

    q, index = claim.quantity, claim.index
    if q is Quantity.JACOBIAN:
        return unit(n, index[1]), unit(m, index[0])
    if q is Quantity.DIRECTIONAL:
        return tuple(case.directions[index[0]]), unit(m, index[1])
    if q is Quantity.JVP:
        return tuple(case.tangents[index[0]]), unit(m, index[1])
    return unit(n, index[1]), tuple(case.cotangents[index[0]])


def _random_points(case: Case, count: int) -> list[tuple[sympy.Expr, ...]]:
    seed = int.from_bytes(hashlib.sha256(f"mistakes/{case.id}".encode()).digest()[:8], "little")
    rng = np.random.default_rng(seed)
    out = []
    for k in range(count):
        base = case.points[k % len(case.points)]
        point = []
        for x in base:
            size = abs(Fraction(str(sympy.Rational(x)))) if x.is_Rational else Fraction(1)
            step = Fraction(int(rng.integers(-40, 41)), 400) * (1 + size)
            point.append(sympy.Rational(x) + sympy.Rational(step.numerator, step.denominator)
                         if x.is_Rational else x)
        out.append(tuple(point))
    return out


class _Search:
    #: nodes whose tangent is set rather than differentiated (a node partial's seeded intermediate)
    fixed: dict[int, object] = {}  # noqa: RUF012 - never mutated: a subclass sets its own

    def __init__(self, case: Case, tree: Tree, key: str, entries: list[ClaimEntry], start: float,
                 budget: float, oracle: ClaimOracle | None) -> None:
        self.case, self.tree, self.key, self.entries = case, tree, key, entries
        self.oracle = oracle
        self.rtol = FLOAT_MATCH_RTOL if oracle is not None else MATCH_RTOL
        self.start, self.deadline = start, start + budget
        pairs = [_seed_and_weights(case, c) for c in entries]
        seeds = list(dict.fromkeys(s for s, _ in pairs))
        self.seeds = seeds
        self.k_index = np.array([seeds.index(s) for s, _ in pairs])
        self.weights = [w for _, w in pairs]
        self.float_weights = np.array([[float(v) for v in w] for w in self.weights], dtype=np.float64)

    # points -------------------------------------------------------------------------------
    def _prepare(self) -> bool:
        """Float walks at every usable point and the claim there: False if too few points.

        The mpmath walks of the exact match are built only when a candidate needs them.
        """
        case = self.case
        self.points: list[tuple[sympy.Expr, ...]] = []
        self.float_walks: list[Walk] = []
        self.float_bases: list[list] = []
        self.claims: list[list[object]] = []
        self._mp: dict[int, tuple[Walk, list, list[object]] | None] = {}
        for point in list(case.points[:OWN_POINTS]) + _random_points(case, RANDOM_POINTS + 2):
            if len(self.points) >= OWN_POINTS + RANDOM_POINTS:
                break
            self._at(point)
        return len(self.points) >= 3

    def _at(self, point: tuple[sympy.Expr, ...]) -> None:
        case = self.case
        subs = exact.substitution(case.symbols, point)
        try:
            with np.errstate(all="ignore"):
                walk = Walk(self.tree, FLOAT, point, self.seeds)
                base = walk.tangents(self.fixed or None)
                right = self._float_values(walk, base)
            if not np.all(np.isfinite(right)):
                return
            for i, root in enumerate(case.outputs):
                value = float(exact.evaluate(root, subs))
                mine = float(self._output_value(walk, i))
                if not abs(mine - value) <= 1e-7 * (1 + abs(value)):
                    return  # the written tree does not reproduce the case here: do not guess
            if not self.points and not self._right_is_right(point, float(right[0])):
                return  # a kink, or a place the walk does not follow
            if self.oracle is not None:
                try:
                    claims = [mpmath.mpf(float(v)) for v in self.oracle(point)]
                except Exception:  # noqa: BLE001 - a user's function failing away from its point
                    return
                if len(claims) != len(self.entries):
                    return
            else:
                with mpmath.workdps(MATCH_DIGITS):  # the claim's 34 certified digits, all kept
                    claims = [mpmath.mpf(exact.evaluate(c.expr, subs)) for c in self.entries]
        except (ArithmeticError, ValueError, TypeError, EvaluationError):
            return
        if not all(mpmath.isfinite(c) for c in claims):
            return
        self.points.append(point)
        self.float_walks.append(walk)
        self.float_bases.append(base)
        self.claims.append(claims)

    def _exact_walk(self, k: int) -> tuple[Walk, list, list[object]] | None:
        """The mpmath walk at point k, its right tangents and right entries (None if it fails)."""
        if k not in self._mp:
            self._mp[k] = None
            point = self.points[k]
            subs = exact.substitution(self.case.symbols, point)
            try:
                with mpmath.workdps(MATCH_DIGITS):
                    walk = Walk(self.tree, MP, point, self.seeds)
                    for i, root in enumerate(self.case.outputs):
                        value = mpmath.mpf(exact.evaluate(root, subs))
                        if abs(self._output_value(walk, i) - value) > mpmath.mpf(10) ** -20 * (1 + abs(value)):
                            return None
                    base = walk.tangents(self.fixed or None)
                    right = self._entry_values(walk, base)
            except (ArithmeticError, ValueError, TypeError, EvaluationError, ZeroDivisionError):
                return None
            if all(mpmath.isfinite(v) for v in right):
                self._mp[k] = (walk, base, right)
        return self._mp[k]

    def _right_is_right(self, point: tuple[sympy.Expr, ...], right: float) -> bool:
        """The walk's right derivative of the first claimed entry agrees with a central difference
        of the function (a guard: at a kink, or where the walk would not follow the case, the
        point is not used)."""
        seed, weights = _seed_and_weights(self.case, self.entries[0])
        x = np.array([float(c) for c in point])
        direction = np.array([float(c) for c in seed])
        w = np.array([float(c) for c in weights])
        h = FD_STEP * (1 + float(np.max(np.abs(x))))

        def g(at: np.ndarray) -> float:
            walk = Walk(self.tree, FLOAT, tuple(at), [])
            flat = np.concatenate([walk.values[r].reshape(-1) for r in self.tree.roots])
            return float(flat @ w)

        with np.errstate(all="ignore"):
            estimate = (g(x + h * direction) - g(x - h * direction)) / (2 * h)
        return bool(abs(estimate - right) <= FD_RTOL * (1 + abs(right)))

    def _output_value(self, walk: Walk, i: int) -> object:
        flat = np.concatenate([walk.values[r].reshape(-1) for r in self.tree.roots])
        return flat[i]

    def _entry_values(self, walk: Walk, tans: Sequence[np.ndarray | None]) -> list[object]:
        out = walk.outputs(tans)
        return [sum((w * out[k, i] for i, w in enumerate(weights) if w != 0), mpmath.mpf(0))
                if walk.B is MP else sum(float(w) * out[k, i] for i, w in enumerate(weights) if w != 0)
                for k, weights in zip(self.k_index, self.weights)]

    def _float_values(self, walk: Walk, tans: Sequence[np.ndarray | None]) -> np.ndarray:
        out = walk.outputs(tans)
        return np.sum(out[self.k_index] * self.float_weights, axis=1)

    # the search ---------------------------------------------------------------------------
    def run(self) -> Outcome:
        with np.errstate(all="ignore"):
            sizes = [v.size for v in Walk(self.tree, FLOAT, self.case.points[0], []).values]
        if len(self.seeds) * sum(sizes) > MAX_WORK:
            return self._done((), False, note="too large to search")
        if not self._prepare():
            return self._done((), False, note="too few points where the function is defined")
        self.float_walks, self.float_base = self.float_walks[:2], self.float_bases[:2]
        with np.errstate(all="ignore"):
            right = np.concatenate([self._float_values(w, b) for w, b in zip(self.float_walks, self.float_base)])
        claim = np.array([float(c) for cs in self.claims[:2] for c in cs])
        self.scale = np.maximum(np.abs(claim), np.abs(right)).max() or 1.0
        if np.all(np.abs(claim - right) <= SCREEN_RTOL * self.scale) and self._confirm((), right_claim=True):
            return self._done((), True, note="the claim is right")
        self.claim, self.right = claim, right
        self.cands = [m for m in candidates(self.tree, self.float_walks[0]) if not self._held(m.node)]
        self.stopped = False
        deltas, matched = self._singles()
        confirmed = [(m,) for m in matched if self._confirm((m,))]
        if confirmed:
            return self._done(self._report(confirmed), True)
        if self.stopped:
            return self._done((), False, note="search stopped at its bound")
        found, complete = self._pairs(deltas)
        return self._done(self._report(found), complete, note="" if complete else "search stopped at its bound")

    def _done(self, diagnoses: Sequence[Diagnosis], complete: bool, note: str = "") -> Outcome:
        return Outcome(tuple(diagnoses), complete, time.perf_counter() - self.start,
                       len(getattr(self, "cands", ())), note, tuple(getattr(self, "reported", ())))

    def _screen(self, mistakes: dict[int, Mistake]) -> np.ndarray | None:
        values = []
        with np.errstate(all="ignore"):
            for walk, base in zip(self.float_walks, self.float_base):
                try:
                    tans = walk.tangents({**self.fixed, **mistakes}, base)
                except (ValueError, TypeError, IndexError, ArithmeticError):
                    return None
                values.append(self._float_values(walk, tans))
        return np.concatenate(values)

    def _matches(self, values: np.ndarray) -> bool:
        return bool(np.all(np.abs(values - self.claim) <= SCREEN_RTOL * self.scale))

    def _singles(self) -> tuple[dict[int, np.ndarray], list[Mistake]]:
        deltas: dict[int, np.ndarray] = {}
        matched = []
        for i, mistake in enumerate(self.cands):
            if time.perf_counter() > self.deadline:
                self.stopped = True
                break
            values = self._screen({mistake.node: mistake})
            if values is None or not np.all(np.isfinite(values)):
                continue
            delta = values - self.right
            if np.all(np.abs(delta) <= SCREEN_RTOL * self.scale):
                continue  # no effect here
            deltas[i] = delta
            if self._matches(values):
                matched.append(mistake)
        return deltas, matched

    def _confirm(self, mistakes: Sequence[Mistake], *, right_claim: bool = False) -> bool:
        """Equal to the claim at every point to the match tolerance, and not the right derivative
        (with ``right_claim``: the claim equals the right derivative everywhere)."""
        differs = False
        try:
            with mpmath.workdps(MATCH_DIGITS):
                for k, claims in enumerate(self.claims):
                    state = self._exact_walk(k)
                    if state is None:
                        return False
                    walk, base, right = state
                    tans = walk.tangents({**self.fixed, **{m.node: m for m in mistakes}}, base) if mistakes else base
                    values = self._entry_values(walk, tans)
                    size = max([abs(c) for c in claims] + [abs(r) for r in right] + [mpmath.mpf(1) / 10 ** 30])
                    if any(abs(v - c) > self.rtol * size for v, c in zip(values, claims)):
                        return False
                    differs = differs or any(abs(v - r) > self.rtol * size for v, r in zip(values, right))
        except (ArithmeticError, ValueError, TypeError, IndexError, ZeroDivisionError):
            return False
        return differs or right_claim

    def _pairs(self, deltas: dict[int, np.ndarray]) -> tuple[list[tuple[Mistake, ...]], bool]:
        found: list[tuple[Mistake, ...]] = []
        index = sorted(deltas)
        if index:
            d = np.array([deltas[i] for i in index])
            target = self.claim - self.right
            # two mistakes at nodes apart (neither inside the other) add their effects exactly
            total = d[:, None, :] + d[None, :, :]
            close = np.all(np.abs(total - target) <= SCREEN_RTOL * self.scale, axis=2)
            for a, b in zip(*np.nonzero(np.triu(close, 1))):
                ma, mb = self.cands[index[a]], self.cands[index[b]]
                if self._nested(ma, mb) or ma.node == mb.node:
                    continue
                if self._confirm((ma, mb)):
                    found.append((ma, mb))
                if time.perf_counter() > self.deadline:
                    return found, False
        # one inside the other: the outer rule sees the inner mistake, so recompute
        for ma, mb in itertools.combinations(self.cands, 2):
            if not self._nested(ma, mb):
                continue
            if time.perf_counter() > self.deadline:
                return found, False
            values = self._screen({ma.node: ma, mb.node: mb})
            if values is not None and self._matches(values) and self._confirm((ma, mb)):
                found.append((ma, mb))
        return found, True

    def _held(self, node: int) -> bool:
        """A node whose tangent ``fixed`` sets (or inside one): no mistake there changes anything."""
        return any(node == f or self.tree.inside(node, f) for f in self.fixed)

    def _nested(self, a: Mistake, b: Mistake) -> bool:
        return a.node != b.node and (self.tree.inside(a.node, b.node) or self.tree.inside(b.node, a.node))

    def _report(self, found: Sequence[tuple[Mistake, ...]]) -> list[Diagnosis]:
        found = _prefer(self.tree, found, self)
        self.reported = found[:MAX_REPORTED]
        out: list[Diagnosis] = []
        for group in self.reported:
            out.extend(explain(self.case, self.tree, self.key, group, self.seeds))
        return out


def _prefer(tree: Tree, found: Sequence[tuple[Mistake, ...]], search: _Search) -> list[tuple[Mistake, ...]]:
    """Equal explanations, with the same slip said twice folded into one.

    When dropping a chain rule's inner factor explains the claim, a mistake inside that inner
    expression that explains it too turned the inner derivative into the same thing (losing the
    -1 of d(y - b)/db is dropping it): the chain rule is the textbook's name for the slip.
    """
    groups = list(dict.fromkeys(found))
    present = {frozenset(g) for g in groups}
    chains = {m for g in groups for m in g if m.code == "inner-dropped"}

    def said_better(group: tuple[Mistake, ...]) -> bool:
        for m in group:
            for c in chains:
                inner = _inner(tree, c)
                if m is c or not (m.node == inner or tree.inside(m.node, inner)):
                    continue
                if frozenset(c if x is m else x for x in group) in present:
                    return True
        return False

    return sorted((g for g in groups if not said_better(g)), key=len)


def _inner(tree: Tree, mistake: Mistake) -> int:
    node = tree.nodes[mistake.node]
    return node.children[1] if node.kind == "pow" and tree.depends(node.children[1]) and not tree.depends(
        node.children[0]) else node.children[0]
