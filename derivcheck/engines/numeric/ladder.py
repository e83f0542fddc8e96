"""The step ladder: Richardson extrapolation, candidates with error estimates, the choice per entry.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from derivcheck.engines.numeric.noise import _measured_noise
from derivcheck.engines.numeric.sampling import (
    _KIND_LABELS,
    CANDIDATE_BUDGET,
    DOWNSTREAM_SLACK,
    EPS,
    ESTIMATE_FLOOR_ULPS,
    FILL_AFTER,
    FILL_BEFORE,
    FIRST_EXPONENTS,
    GOOD_ENOUGH_ULPS,
    HIDDEN_NOISE_CONVERGED,
    HIDDEN_NOISE_GROWTH,
    HIDDEN_NOISE_MAX_REL,
    HIDDEN_NOISE_TERMS_ULPS,
    MAX_EXPONENT,
    MAX_ORDER,
    MIN_EXPONENT,
    NO_ESTIMATE,
    NOISE_PROBE_EXPONENT,
    NOISE_PROBE_OFFSETS,
    NOISE_SAFETY,
    NOISE_TERMS_MAX,
    ONE_SIDED_PENALTY,
    PROBE_EXPONENTS,
    ROUGH_NOISE,
    ZERO_ORDER_SAFETY,
    _along,
    _Evaluator,
)

# --------------------------------------------------------------------------------------------
# Richardson extrapolation and the choice of the best candidate
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Candidates:
    """Every extrapolated estimate of one kind: arrays (D, m, N) and window bounds (N,)."""

    value: np.ndarray
    error: np.ndarray
    first: np.ndarray  # (N,) first (largest-step) column of the window
    last: np.ndarray  # (N,) last (smallest-step) column of the window


def _downstream_check(
    estimate: np.ndarray, error: np.ndarray, values: np.ndarray, u: np.ndarray, noise: np.ndarray, order: int
) -> np.ndarray:
    """Raise the error of each candidate that the quotients at smaller steps contradict.

    If the candidate built from columns c..c+order were right, the plain quotient at a
    smaller step k would be closer to it than the window's last quotient, by about the ratio
    of the expansion variables (leading error term).  Far outside the asymptotic range a run
    of quotients can mimic convergence (sin at x = 1e8 with steps that are huge multiples of
    its period, where sin(2**j) / 2**j is nearly constant over several j); the next smaller
    steps break the pattern, and so do the quotients once the steps are small enough to be
    right.  The distance to such a contradicting quotient becomes the candidate's error.
    """
    columns = values.shape[1]
    last = values[:, order:]  # window c ends at column c + order
    u_last = u[:, order:, None]
    raised = error.copy()
    for ahead in range(1, columns - order):
        count = columns - order - ahead  # windows that have a column `ahead` beyond their end
        later = values[:, order + ahead :]
        ratio = u[:, order + ahead :, None] / u_last[:, :count]
        allowed = DOWNSTREAM_SLACK * np.abs(last[:, :count] - estimate[:, :count]) * ratio
        allowed += error[:, :count] + noise[:, order + ahead :]
        distance = np.abs(later - estimate[:, :count])
        raised[:, :count] = np.fmax(raised[:, :count], np.where(distance > allowed, distance, np.nan))
    return raised


def _extrapolate(values: np.ndarray, u: np.ndarray, noise: np.ndarray) -> _Candidates:
    """Neville table of polynomial extrapolation in ``u`` to ``u = 0``.

    ``values`` and ``noise`` are (D, C, m) with columns ordered by decreasing step, ``u`` is
    (D, C); nan columns (not evaluated, or f not finite) spoil exactly the windows using them.
    """
    columns = values.shape[1]
    index = np.arange(columns)
    with np.errstate(all="ignore"):
        trunc = np.full(values.shape, np.inf)
        if columns > 1:
            trunc[:, :-1] = ZERO_ORDER_SAFETY * np.abs(values[:, :-1] - values[:, 1:])
        out_value, first, last = [values], [index], [index]
        out_error = [_downstream_check(values, trunc + noise, values, u, noise, 0)]
        previous, previous_noise = values, noise
        for order in range(1, min(MAX_ORDER, columns - 1) + 1):
            u_large = u[:, : columns - order, None]
            u_small = u[:, order:, None]
            a = u_large / (u_large - u_small)
            b = -u_small / (u_large - u_small)
            current = a * previous[:, 1:] + b * previous[:, :-1]
            current_noise = np.abs(a) * previous_noise[:, 1:] + np.abs(b) * previous_noise[:, :-1]
            # The two lower-order parents converge more slowly than their child, so their
            # distance from it over-bounds its truncation error; so does the distance to the
            # same-order neighbour one step smaller, which also guards against a chance
            # agreement of the parents.
            trunc = np.maximum(np.abs(current - previous[:, :-1]), np.abs(current - previous[:, 1:]))
            if current.shape[1] > 1:
                neighbour = np.full(current.shape, np.nan)
                neighbour[:, :-1] = np.abs(current[:, 1:] - current[:, :-1])
                trunc = np.fmax(trunc, neighbour)
            error = _downstream_check(current, trunc + current_noise, values, u, noise, order)
            out_value.append(current)
            out_error.append(error)
            first.append(index[: columns - order])
            last.append(index[: columns - order] + order)
            previous, previous_noise = current, current_noise
    value = np.concatenate(out_value, axis=1).transpose(0, 2, 1)
    error = np.concatenate(out_error, axis=1).transpose(0, 2, 1)
    return _Candidates(value, error, np.concatenate(first), np.concatenate(last))


@dataclass(frozen=True)
class _Choice:
    """The best candidate per (entry, output) for one group of kinds."""

    value: np.ndarray  # (D, m)
    error: np.ndarray  # (D, m)
    method: np.ndarray  # (D, m) object
    step: np.ndarray  # (D, m)
    first_exponent: np.ndarray  # (D, m) exponent of the largest step in the window
    resolved: np.ndarray  # (D, m) bool: smaller steps cannot help
    noise: np.ndarray  # (D, m) the rounding noise of f's values measured near x (the same per entry)


@dataclass(frozen=True)
class _Columns:
    """A block's evaluated columns per entry, first and in exponent order: (B, C) arrays."""

    gather: np.ndarray  # column indices into the ladder's exponents
    counts: np.ndarray  # (B,) evaluated columns per entry
    pad: np.ndarray  # bool: past the entry's evaluated columns
    exps: np.ndarray  # exponents, nan where padded
    rows: np.ndarray  # (B, 1) entry indices, for fancy indexing


@dataclass(frozen=True)
class _KindCandidates:
    """One kind's candidates over a block of B entries: value, error (B, m, N), windows, their steps."""

    value: np.ndarray
    error: np.ndarray  # penalised for a one-sided kind
    first: np.ndarray  # (N,) first column of each window
    last_noise: np.ndarray  # (B, m) noise of the entry's smallest-step quotient, penalised
    steps: np.ndarray  # (B, N) each window's smallest step


class _Ladder:
    """Quotients of every kind at every evaluated (entry, exponent), with adaptive rounds.

    Storage is compact: one column per exponent that some entry has evaluated (a handful),
    not per exponent of the whole grid.
    """

    def __init__(self, stencil, call: _Evaluator, x: np.ndarray) -> None:
        self.stencil = stencil
        self.call = call
        self.x = x
        self.center: np.ndarray | None = None
        self.sigma = np.zeros(0)
        self.exponents = np.zeros(0, dtype=int)  # sorted exponents with a column
        self.done = np.zeros((stencil.entries, 0), dtype=bool)
        self.store: dict[str, dict[str, np.ndarray]] = {}

    def _first_call_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """Rows for the centre and the noise probe, and the probe points' offsets along v."""
        vectors, scales = self.stencil.probe()
        delta = np.ldexp(scales, -NOISE_PROBE_EXPONENT)
        nominal = np.asarray(NOISE_PROBE_OFFSETS)
        probe = self.x + nominal[None, :, None] * delta[:, None, None] * vectors[:, None, :]  # (q, N, n)
        # Offsets of the rounded points, in units of delta along each direction.
        offsets = _along(probe, self.x, vectors, nominal[None, :] * delta[:, None]) / delta[:, None]
        return np.concatenate([self.x[None, :], probe.reshape(-1, self.x.size)]), offsets

    def _add_columns(self, exponents: np.ndarray, outputs: int) -> None:
        fresh = np.setdiff1d(exponents, self.exponents)
        if fresh.size == 0 and self.store:
            return
        merged = np.union1d(self.exponents, fresh)
        where = np.searchsorted(merged, self.exponents)
        entries = self.stencil.entries

        def grow(old: np.ndarray, fill: object) -> np.ndarray:
            new = np.full((entries, merged.size) + old.shape[2:], fill, dtype=old.dtype)
            new[:, where] = old
            return new

        self.done = grow(self.done, False)
        if not self.store:
            for kind in self.stencil.kinds:
                self.store[kind] = {
                    "value": np.full((entries, 0, outputs), np.nan),
                    "noise": np.full((entries, 0, outputs), np.nan),
                    "u": np.full((entries, 0), np.nan),
                    "step": np.full((entries, 0), np.nan),
                }
        for kind_store in self.store.values():
            for name, old in kind_store.items():
                kind_store[name] = grow(old, np.nan)
        self.exponents = merged

    def evaluate(self, wanted: np.ndarray) -> None:
        """Evaluate every (entry, exponent) with ``wanted[entry, k]`` not yet done, in one call."""
        done_grid = np.zeros_like(wanted)
        done_grid[:, self.exponents] = self.done
        entries, exponents = np.nonzero(wanted & ~done_grid)
        if entries.size == 0 and self.center is not None:
            return
        pts, valid, aux = self.stencil.points(entries, exponents)
        rows = pts[valid]
        first = self.center is None
        if first:
            head, offsets = self._first_call_rows()
            rows = np.concatenate([head, rows])
        out = self.call(rows)
        if first:
            self.center = out[0]
            q, count = offsets.shape
            probed = out[1 : 1 + q * count].reshape(q, count, -1)
            line = np.concatenate([np.broadcast_to(self.center, (q, 1, out.shape[1])), probed], axis=1)
            self.sigma = _measured_noise(np.concatenate([np.zeros((q, 1)), offsets], axis=1), line)
            out = out[1 + q * count :]
        samples = np.full(valid.shape + (out.shape[1],), np.nan)
        samples[valid] = out
        quotients = self.stencil.combine(aux, samples, self.center, self.sigma)
        self._add_columns(np.unique(exponents), out.shape[1])
        column = np.searchsorted(self.exponents, exponents)
        self.done[entries, column] = True
        for kind, q in quotients.items():
            store = self.store[kind]
            store["value"][entries, column] = q.value
            store["noise"][entries, column] = q.noise
            store["u"][entries, column] = q.u
            store["step"][entries, column] = q.step

    def choose(self, kinds: tuple[str, ...]) -> _Choice:
        """Best candidate over the given kinds, per entry and output (in blocks of entries,
        so that the candidate tables stay small for large Jacobians)."""
        outputs = self.store[kinds[0]]["value"].shape[2]
        per_entry = outputs * max(self.exponents.size, 1) * (MAX_ORDER + 1) * len(kinds)
        block = max(1, CANDIDATE_BUDGET // per_entry)
        parts = [self._choose_block(kinds, slice(lo, lo + block)) for lo in range(0, self.stencil.entries, block)]
        return _Choice(*(np.concatenate([getattr(p, name) for p in parts]) for name in _Choice.__dataclass_fields__))

    def _hidden_noise(self, part: slice, rows: np.ndarray, gather: np.ndarray, pad: np.ndarray) -> np.ndarray | None:
        """Rounding error of the samples that the noise probe missed (B, m), from the ladder.

        The probe sees rounding only where intermediates move by many ulps over its tiny
        scale.  In the far tail of a saturating function they do not: ``1 + tanh(u)`` near
        ``1e-10`` is quantised in steps of eps, flat over the probe, so f looks smooth to
        rounding while its samples carry an absolute error ``eps * |terms|`` far above
        ``eps * |f|``.  The central quotients betray it: at smaller steps truncation only
        shrinks, so where consecutive quotients differ beyond their noise bounds *after* an
        earlier pair came closer (differences growing again as the step shrinks), the
        difference is rounding at the smaller step, ``d ~ e / t``.  The largest such ``d * t``
        (times NOISE_SAFETY: one pair sees one draw of the rounding) is taken as a sample
        error of every sample.
        """
        if any(kind not in self.store for kind in ("central", "forward", "backward")) or gather.shape[1] < 3:
            return None

        def implied(kind: str) -> np.ndarray:
            store = self.store[kind]
            value = np.where(pad[..., None], np.nan, store["value"][part][rows, gather])  # (B, C, m)
            noise = store["noise"][part][rows, gather]
            step = np.where(pad, np.nan, store["step"][part][rows, gather])  # (B, C)
            diff = np.abs(value[:, 1:] - value[:, :-1])  # (B, C-1, m)
            bound = noise[:, 1:] + noise[:, :-1]
            # Smallest difference among the larger steps, before each pair.  Only pairs that
            # agree to HIDDEN_NOISE_CONVERGED count as having come closer: in an erratic
            # truncation region (sin at x = 1e8 with huge steps) none do.
            converged = np.isfinite(diff) & (diff <= HIDDEN_NOISE_CONVERGED * np.abs(value[:, 1:]))
            closest = np.minimum.accumulate(np.where(converged, diff, np.inf), axis=1)
            before = np.concatenate([np.full_like(closest[:, :1], np.inf), closest[:, :-1]], axis=1)
            grown = (diff > bound) & (diff > HIDDEN_NOISE_GROWTH * before)
            return np.max(np.where(grown & np.isfinite(diff), (diff - bound) * step[:, 1:, None], 0.0), axis=1)

        with np.errstate(all="ignore"):
            hidden = implied("central")
            # Rounding spoils every sample, so both one-sided ladders show it too; a kink or
            # jump beside x on one side leaves the other side's quotients clean (relu at
            # x = 1e-7: the forward quotients are all exactly 1).
            both_sides = (implied("forward") > 0) & (implied("backward") > 0)
            # Rounding that large is not rounding: beside |f(x)|, or a few thousand ulps of how
            # far f moves over the steps: f(x) is 0 where f vanishes at x (an SVD's null
            # vector), yet its terms round like the values it takes one step away.
            plausible = both_sides & ((hidden <= HIDDEN_NOISE_MAX_REL * np.abs(self.center))
                                      | (hidden <= HIDDEN_NOISE_TERMS_ULPS * EPS * self._moved(part)))
        return NOISE_SAFETY * np.where(plausible, hidden, 0.0)

    def _columns(self, part: slice) -> _Columns:
        """Per entry of the block, its evaluated columns first, in exponent order; the rest pad."""
        done = self.done[part]
        gather = np.argsort(~done, axis=1, kind="stable")
        counts = done.sum(axis=1)
        columns = int(counts.max())
        gather = gather[:, :columns]
        pad = np.arange(columns)[None, :] >= counts[:, None]
        exps = np.where(pad, np.nan, self.exponents[gather].astype(float))
        return _Columns(gather, counts, pad, exps, np.arange(done.shape[0])[:, None])

    def _kind_candidates(self, kind: str, part: slice, cols: _Columns, hidden: np.ndarray | None) -> _KindCandidates:
        """One kind's extrapolated candidates over the block, one-sided ones penalised."""
        rows, gather, pad = cols.rows, cols.gather, cols.pad
        store = {name: array[part] for name, array in self.store[kind].items()}
        value = np.where(pad[..., None], np.nan, store["value"][rows, gather])
        noise = store["noise"][rows, gather]
        if hidden is not None:
            # Each sample may carry the hidden error: central quotients divide two of
            # them by 2t, one-sided ones by t.
            share = 1.0 if kind == "central" else 2.0
            with np.errstate(all="ignore"):
                extra = share * hidden[:, None, :] / store["step"][rows, gather][..., None]
            noise = noise + np.where(np.isnan(extra), 0.0, extra)
        u = np.where(pad, np.nan, store["u"][rows, gather])
        cands = _extrapolate(value, u, noise)
        penalty = 1.0 if kind == "central" else ONE_SIDED_PENALTY
        return _KindCandidates(
            cands.value, penalty * cands.error, cands.first,
            penalty * noise[np.arange(noise.shape[0]), cols.counts - 1],  # (B, m)
            store["step"][rows, gather][:, cands.last])  # (B, N): each window's smallest step

    @staticmethod
    def _best_candidate(value: np.ndarray, error: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(index, value, error with its floor, finite) of the smallest-error candidate per (entry, output)."""
        finite_value = np.isfinite(value)
        # Finite errors first; a finite value with an infinite error beats no value at all.
        largest = np.finfo(np.float64).max
        rank = np.where(finite_value & np.isfinite(error), error, np.where(finite_value, largest, np.inf))
        best = np.argmin(rank, axis=2)  # (B, m)
        chosen = np.take_along_axis(value, best[..., None], axis=2)[..., 0]
        chosen_error = np.take_along_axis(error, best[..., None], axis=2)[..., 0]
        ok = np.isfinite(chosen)
        chosen_error = np.where(ok & ~np.isnan(chosen_error), chosen_error, np.inf)
        chosen_error = chosen_error + ESTIMATE_FLOOR_ULPS * EPS * np.where(ok, np.abs(chosen), 0.0)
        return best, np.where(ok, chosen, np.nan), chosen_error, ok

    def _choose_block(self, kinds: tuple[str, ...], part: slice) -> _Choice:
        """The best candidate per (entry, output) of one block of entries, over the given kinds."""
        cols = self._columns(part)
        hidden = self._hidden_noise(part, cols.rows, cols.gather, cols.pad) if "central" in kinds else None  # (B, m)
        per_kind = [self._kind_candidates(kind, part, cols, hidden) for kind in kinds]
        value = np.concatenate([c.value for c in per_kind], axis=2)
        error = np.concatenate([c.error for c in per_kind], axis=2)
        kind_id = np.concatenate([np.full(c.first.size, k) for k, c in enumerate(per_kind)])
        first = np.concatenate([c.first for c in per_kind])
        best, chosen, chosen_error, ok = self._best_candidate(value, error)
        best_kind = kind_id[best]
        labels = np.array([_KIND_LABELS[k] for k in kinds], dtype=object)
        method = np.where(ok, labels[best_kind], NO_ESTIMATE).astype(object)
        b_index = np.arange(value.shape[0])[:, None]
        step = np.where(ok, np.take_along_axis(np.concatenate([c.steps for c in per_kind], axis=1), best, axis=1),
                        np.nan)
        first_exponent = np.where(ok, cols.exps[b_index, first[best]], np.nan)
        last_noise = np.stack([c.last_noise for c in per_kind])
        noise_next = self.stencil.growth * last_noise[best_kind, b_index, np.arange(value.shape[1])[None, :]]
        return _Choice(chosen, chosen_error, method, step, first_exponent, self._resolved(chosen, chosen_error, noise_next),
                       self._rounding(part))

    def _moved(self, part: slice) -> np.ndarray:
        """How far f moves over the steps taken (B, m): the largest |D(t)| t of every kind."""
        with np.errstate(all="ignore"):
            moved = [np.nanmax(np.abs(store["value"][part] * store["step"][part][..., None]), axis=1, initial=0.0)
                     for store in self.store.values()]
        return np.max(moved, axis=0)

    def _rounding(self, part: slice) -> np.ndarray:
        """The measured noise (B, m) where it can be rounding: eps times terms at most
        ``NOISE_TERMS_MAX`` times the values f takes over the steps (|f(x)|, or how far it
        moves); nan where it is more (a jump within the probe's scale)."""
        size = np.fmax(np.abs(self.center), self._moved(part))
        with np.errstate(invalid="ignore"):
            return np.where(self.sigma <= NOISE_TERMS_MAX * EPS * size, np.broadcast_to(self.sigma, size.shape), np.nan)

    def _resolved(self, chosen: np.ndarray, chosen_error: np.ndarray, noise_next: np.ndarray) -> np.ndarray:
        """Smaller steps cannot help once the error is below the rounding error of the next
        smaller step (rounding grows as the step shrinks) or near rounding of the value."""
        with np.errstate(invalid="ignore"):
            resolved = (chosen_error <= noise_next) | (chosen_error <= GOOD_ENOUGH_ULPS * EPS * np.abs(chosen))
            # Measured noise far above rounding means f is not smooth on the probe's scale,
            # so the steps so far (much larger) are suspect and the noise bound means little.
            rough = self.sigma > ROUGH_NOISE * np.abs(self.center)
        return resolved & ~rough[None, :]


def _run_ladder(stencil, call: _Evaluator, x: np.ndarray, groups: tuple[tuple[str, ...], ...],
                check_steps: tuple[int, ...] = ()) -> list[_Choice]:
    """Three rounds at most: first ladder; probe for unresolved entries; fill near the best.

    ``check_steps`` are exponents of smaller steps sampled in the first round too: their
    quotients contradict a candidate that large steps fake (a staircase, or a kink a few large
    steps away, looks smooth with the wrong slope on their scale), so it is not resolved early.
    """
    ladder = _Ladder(stencil, call, x)
    grid = MAX_EXPONENT + 1
    wanted = np.zeros((stencil.entries, grid), dtype=bool)
    wanted[:, list(FIRST_EXPONENTS) + [k for k in check_steps if MIN_EXPONENT <= k <= MAX_EXPONENT]] = True
    ladder.evaluate(wanted)
    choices = [ladder.choose(kinds) for kinds in groups]
    unresolved = np.zeros(stencil.entries, dtype=bool)
    for choice in choices:
        unresolved |= ~np.all(choice.resolved, axis=1)
    if not unresolved.any():
        return choices
    wanted = np.zeros_like(wanted)
    wanted[np.ix_(unresolved, list(PROBE_EXPONENTS))] = True
    ladder.evaluate(wanted)
    choices = [ladder.choose(kinds) for kinds in groups]
    wanted = np.zeros_like(wanted)
    exponent_axis = np.arange(grid)
    for choice in choices:
        centre = choice.first_exponent  # (D, m), nan where nothing finite
        has = np.isfinite(centre) & unresolved[:, None]
        lo = np.where(has, centre - FILL_BEFORE, np.inf)[..., None]
        hi = np.where(has, centre + FILL_AFTER, -np.inf)[..., None]
        wanted |= np.any((exponent_axis >= lo) & (exponent_axis <= hi), axis=1)
    # Entries with no finite estimate at all get the whole dense ladder: the only hope.
    for choice in choices:
        hopeless = unresolved & ~np.all(np.isfinite(choice.value), axis=1)
        wanted[hopeless, MIN_EXPONENT:] = True
    wanted[:, :MIN_EXPONENT] = False
    if wanted.any():
        ladder.evaluate(wanted)
        choices = [ladder.choose(kinds) for kinds in groups]
    return choices
