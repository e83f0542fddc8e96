"""The numeric reference for a user's function: finite differences in float64, with the complex
step where the function is analytic in complex arithmetic.

``finite_diff`` does the differentiation; this module decides the method (one watched complex
evaluation, then a cross-check with real differences whenever a comparison fails on a
complex-step value) and widens the error estimate of a function that only computes in float32.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from derivcheck.engines import numeric as finite_diff
from derivcheck.engines.numeric import FIRST_ESTIMATES, Method
from derivcheck.verdict import DECIDABLE_RTOL, FLOAT32_EPS, FLOAT64_EPS, NUMERIC_K, DType, Row, Verdict

#: rounding of a float32-only function, in float32 ulps of its size, per sample
FLOAT32_ROUNDING_ULPS = 4.0
#: the fewest evaluations one direction's step ladder costs (first round, noise probe included):
#: what a budget must have left to start one
LADDER_COST = 25
#: no typical magnitude below this: an input of size 1e-300 is stepped as if it were 1e-150
TYPICAL_FLOOR = 1e-150
#: the shrinking search settles an entry whose error is below this fraction of the entry
SHRINK_MAX_REL = 1e-7
#: inputs whose tensor's typical magnitude is below this are at rounding scale (sqrt(eps)): where
#: steps on their own scale leave an entry undecided, steps on the scale of 1 get a second look
TINY_INPUT = 1.5e-8
#: the two-step estimate's error is this many times |D(t) - D(2t)| / 3 (the t**2 term it cancelled)
PAIR_SAFETY = 2.0
#: levels of the shrinking search for bisection's probes (a block it cannot decide is not split)
PROBE_LEVELS = 4
#: a clean small-step estimate this many tolerances from the derivatives under test decides a
#: mismatch without the step ladder
CLEAR_MARGIN = 100.0
#: ... and a ladder estimate this many, for the worst direction, spares the other directions' ladders
CONFIRMED_MARGIN = 10.0


class Numeric:
    """Finite differences of the user's function, with the complex step where it is valid."""

    def __init__(self, fn, numeric_k: float = NUMERIC_K, budget: int | None = None) -> None:
        self.fn = fn
        self.numeric_k = numeric_k  # the user's override (Tolerances.numeric_k) holds here too
        self.budget = budget  # the most function evaluations the refinements may bring the total to
        self.evaluations = 0
        self.complex: bool | None = None
        self.note = ""
        self.notes: list[str] = []  # what the steps met: points outside the domain, the budget
        self.typical = typical_magnitudes(fn)
        self.quick_exponent = (finite_diff.QUICK_EXPONENT if getattr(fn, "reference_dtype", DType.FLOAT64) == DType.FLOAT64
                               else finite_diff.QUICK_EXPONENT_FLOAT32)
        self.refined = 0  # directions the step ladder refined
        self.unrefined = 0  # directions the budget left with their first estimate only
        self.smoothness = ""  # set when small steps overruled the ladder's large ones
        self.jump = ""  # set when the function jumps at x itself
        self.spared = ""  # set when one confirmed mismatch spared the other directions' ladders
        self._smooth: set[bytes] = set()  # directions along which small steps found f smooth at x
        self._outside = 0  # stencil points where the function raised or changed its output's shape
        self._outside_why = ""
        self.noise = 0.0  # the largest rounding noise measured in f's values near x (ladder, complex step)

    def evaluate(self, points: np.ndarray) -> np.ndarray:
        """The user's function at a batch of points; a point where it raises or returns another
        number of outputs is outside its domain (nan), like a point where it is not finite."""
        try:
            out = self.fn.evaluate(points)
            if out.shape == (len(points), self.fn.m):
                return out
        except Exception:  # noqa: BLE001 - one bad point spoils a batched call: find it below
            pass
        rows = []
        nan = np.nan + 0j if np.iscomplexobj(points) else np.nan
        for point in points:
            try:
                row = self.fn.evaluate(point[None])
                if row.shape != (1, self.fn.m):
                    raise _ShapeChanged(f"the output has {row.shape[1]} entries instead of {self.fn.m}")
            except Exception as exc:  # noqa: BLE001 - the user's function may raise anything there
                if np.iscomplexobj(points):  # complex arithmetic refused: the complex step falls back
                    row = np.full((1, self.fn.m), nan)
                else:
                    self._outside += 1
                    self._outside_why = self._outside_why or _one_line(exc)
                    row = np.full((1, self.fn.m), nan)
            rows.append(row)
        return np.concatenate(rows) if rows else np.zeros((0, self.fn.m))

    def _decide(self, probe: np.ndarray) -> bool:
        """Use the complex step when one complex evaluation shows it is valid (see ``complex_safe``)."""
        if self.complex is None:
            self.complex = bool(self.fn.complex_safe(probe))
            self.evaluations += 1
        return self.complex

    def distrusts(self, direction: np.ndarray) -> bool:
        """Cross-check the complex step with real differences along ``direction`` (called when a
        comparison fails on a complex-step value); on disagreement, real differences from now on."""
        if not self.complex:
            return False
        cs = finite_diff.directional(self.evaluate, self.fn.x, direction[None], complex_step=True)
        real = finite_diff.directional(self.evaluate, self.fn.x, direction[None])
        self.evaluations += cs.evaluations + real.evaluations
        if np.all(np.abs(cs.value - real.value) <= self.numeric_k * (real.error + cs.error)):
            return False
        self.complex = False
        self.note = ("the complex step disagrees with real differences (the function is not analytic in "
                     "complex arithmetic); real differences used")
        return True

    def directional(self, vectors: np.ndarray, f: Callable | None = None,
                    typical: np.ndarray | None = None) -> finite_diff.NumericDerivative:
        """``(m, d)`` derivatives of ``f`` (the user's function by default) along the rows of ``vectors``."""
        if f is None:
            complex_step = self._decide(vectors[0])
            result = finite_diff.directional(self.evaluate, self.fn.x, vectors, complex_step=complex_step,
                                             typical=self.typical if typical is None else typical,
                                             check_steps=(self.quick_exponent,))
            self._measured(result)
        else:
            result = finite_diff.directional(f, self.fn.x, vectors)
        self.evaluations += result.evaluations
        return self._floor(result)

    def _floor(self, result: finite_diff.NumericDerivative) -> finite_diff.NumericDerivative:
        """finite_diff assumes float64 values; a function that only computes in float32 rounds
        ~1e-7 of its size at every sample, so its quotients carry at least that over the step."""
        if self.fn.reference_dtype == DType.FLOAT64 or result.step is None:
            return result
        size = float(np.max(np.abs(self.fn.value))) if self.fn.value.size else 0.0
        with np.errstate(all="ignore"):
            floor = FLOAT32_ROUNDING_ULPS * FLOAT32_EPS * size / result.step
        error = np.fmax(result.error, np.where(np.isfinite(floor), floor, np.inf))
        return dataclasses.replace(result, error=error)

    def jacobian(self, f: Callable | None = None) -> finite_diff.NumericDerivative:
        first = np.zeros(self.fn.n)
        first[0] = 1.0
        if f is None:
            result = finite_diff.jacobian(self.evaluate, self.fn.x, complex_step=self._decide(first),
                                          typical=self.typical)
            self._measured(result)
        else:
            result = finite_diff.jacobian(f, self.fn.x)
        self.evaluations += result.evaluations
        return self._floor(result)

    def _measured(self, result: finite_diff.NumericDerivative) -> None:
        """Keep the rounding noise the steps measured in f's values (see ``terms``)."""
        noise = np.zeros(0) if result.noise is None else result.noise[np.isfinite(result.noise)]
        self.noise = max(self.noise, float(noise.max(initial=0.0)))

    @property
    def terms(self) -> float:
        """The size of the terms f's values are computed from, as their measured rounding shows
        (noise / eps): above |f(x)| where they cancel (a loss at its minimum); 0 before a measurement."""
        return self.noise / (FLOAT64_EPS if self.fn.reference_dtype == DType.FLOAT64 else FLOAT32_EPS)

    def smooth_at_x(self, vector: np.ndarray) -> bool:
        """Whether the shrinking search found f smooth at x along ``vector`` (its one-sided quotients
        agree at small steps, for every output): no kink at x there, nothing for ``one_sided`` to find."""
        return np.asarray(vector, dtype=np.float64).tobytes() in self._smooth

    def one_sided(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.budget is not None and self.evaluations + LADDER_COST * len(vectors) > self.budget:
            self.notes.append(f"the budget of {self.budget} evaluations left no room to look for kinks "
                              f"(one-sided differences) along {len(vectors)} direction(s)")
            nan = np.full((self.fn.m, len(vectors)), np.nan)
            return nan, nan, np.full_like(nan, np.inf)
        counter = _Counted(self.evaluate)
        left, right, error = finite_diff.one_sided(counter, self.fn.x, vectors, typical=self.typical)
        self.evaluations += counter.rows
        return left, right, error

    def settled(self, vectors: np.ndarray, agrees: Callable[[finite_diff.NumericDerivative], np.ndarray],
                ladder: bool = True, apart: Callable[[finite_diff.NumericDerivative], np.ndarray] | None = None
                ) -> finite_diff.NumericDerivative:
        """``(m, d)`` derivatives along the rows of ``vectors``: one central difference each, and
        the step ladder only for the directions where ``agrees`` (a ``(d,)`` mask of the
        directions whose first estimate the derivatives under test match) says no.

        The ladder decides a mismatch; the first estimate only ever confirms agreement, which a
        wrong derivative reaches only by matching the difference's truncation error by chance.
        ``apart`` (``(d,)``: how many tolerances the derivatives under test are from an estimate)
        bounds the ladder's cost: a clean small-step estimate ``CLEAR_MARGIN`` tolerances away is a
        mismatch as it stands, and the ladder confirms the worst direction first, the rest only
        while none is confirmed (one confirmed mismatch decides the check).
        """
        quick = self._floor(finite_diff.central_once(self.evaluate, self.fn.x, vectors, typical=self.typical,
                                                     exponent=self.quick_exponent))
        self.evaluations += quick.evaluations
        return self.refine(quick, vectors, agrees(quick), agrees, ladder, apart)

    def refine(self, num: finite_diff.NumericDerivative, vectors: np.ndarray, settled: np.ndarray,
               agrees: Callable[[finite_diff.NumericDerivative], np.ndarray] | None = None, ladder: bool = True,
               apart: Callable[[finite_diff.NumericDerivative], np.ndarray] | None = None
               ) -> finite_diff.NumericDerivative:
        """``num`` refined for each direction that is not ``settled`` and still holds a first
        estimate only (as far as the budget allows): first by the shrinking search (a few small
        steps, cheap), then, where ``agrees`` still says no, by the step ladder (unless ``ladder``
        is false: then the shrinking search's estimate and error stand)."""
        first = np.all(_is_first_estimate(num.method).astype(bool), axis=0)
        redo = np.flatnonzero(~np.asarray(settled, dtype=bool) & first)
        if redo.size == 0:
            return num
        afford = redo.size
        if self.budget is not None:
            afford = max(0, min(redo.size, (self.budget - self.evaluations) // LADDER_COST))
            if afford < redo.size:
                self.unrefined += redo.size - afford
                self.notes.append(
                    f"the budget of {self.budget} evaluations stopped the refinement of {redo.size - afford} of "
                    f"{len(vectors)} {'entries' if _axes(vectors) else 'directions'}: their first estimate is "
                    f"unconfirmed (raise budget= to refine them)")
        value, error = num.value.copy(), num.error.copy()
        method = num.method.copy()
        step = np.full(value.shape, np.nan) if num.step is None else np.array(num.step, dtype=np.float64)
        skipped = redo[afford:]
        error[:, skipped] = np.inf  # no error estimate: no verdict rests on them
        method[:, skipped] = Method.UNREFINED
        done = redo[:afford]
        if done.size and agrees is not None:
            done = self._pair(num, vectors, done, agrees, value, error, method)
        if done.size:
            self.refined += done.size
            local = self._floor(finite_diff.shrinking(self.evaluate, self.fn.x, vectors[done], typical=self.typical,
                                                      exponent=self.quick_exponent,
                                                      levels=finite_diff.SHRINK_LEVELS if ladder else PROBE_LEVELS))
            self.evaluations += local.evaluations
            value[:, done], error[:, done], method[:, done] = local.value, local.error, local.method
            step[:, done] = local.step
            for k in np.flatnonzero(np.all(np.isfinite(local.error), axis=0)):
                self._smooth.add(vectors[done[k]].tobytes())
            pending = np.ones(done.size, dtype=bool)
            estimate = finite_diff.NumericDerivative(value, error, method, 0, step)
            if agrees is not None:
                pending = ~np.asarray(agrees(estimate))[done]
                # small steps round more: they settle an entry only as tightly as the first step
                # would have, or far below a bug worth finding in the entry itself
                with np.errstate(invalid="ignore"):
                    tight = np.all(local.error <= np.fmax(num.error[:, done], SHRINK_MAX_REL * np.abs(local.value)),
                                   axis=0)
                pending |= ~tight
            far = None
            if apart is not None:  # a clear mismatch: the ladder would only confirm it (a network: 1,000 calls)
                far = np.asarray(apart(estimate))[done]
                pending &= ~((far > CLEAR_MARGIN) & np.all(np.isfinite(local.error), axis=0))
            if not ladder:  # the shrinking search decides (bisection's probes): where it found no clean
                pending[:] = False  # pair of steps the block stays undecided, and is not split further
            order = np.flatnonzero(pending)
            # with ``apart``, one direction at a time (the worst by the small steps' values first), until
            # one mismatch is clearly confirmed: it decides the check, the rest keep their estimates
            groups = ([order] if order.size else []) if far is None else \
                [order[k:k + 1] for k in self._worst_first(order, done, estimate, apart)]
            for k, group in enumerate(groups):
                if k and np.any(np.asarray(apart(finite_diff.NumericDerivative(value, error, method, 0, step)))[done]
                                > CONFIRMED_MARGIN):
                    rest = sum(g.size for g in groups[k:])
                    self.spared = (f"{rest} failing direction(s) kept their small-step estimates: a mismatch "
                                   f"confirmed by the step ladder decides the check")
                    break
                mask = np.zeros(done.size, dtype=bool)
                mask[group] = True
                at = done[group]
                full = self._local(self.directional(vectors[at]), _columns(local, mask))
                value[:, at], error[:, at], method[:, at] = full.value, full.error, full.method
                step[:, at] = np.nan if full.step is None else full.step
            self._absolute_steps(vectors, done, value, error, method, step)
        return finite_diff.NumericDerivative(value, error, method, self.evaluations, step)

    def _absolute_steps(self, vectors: np.ndarray, done: np.ndarray, value: np.ndarray, error: np.ndarray,
                        method: np.ndarray, step: np.ndarray) -> None:
        """Columns the ladder left undecided (error above ``DECIDABLE_RTOL`` of the values) whose inputs
        are at rounding scale (``TINY_INPUT``: a tensor of angles at 2.2e-16, kornia's small-angle
        branch: steps on their own scale drown in the rounding of outputs of size 1) get a second
        ladder with steps on the scale of 1, gradcheck's absolute convention; the smaller error
        wins, entry by entry."""
        with np.errstate(invalid="ignore"):
            top = float(np.nanmax(np.abs(value))) if np.isfinite(value).any() else 0.0
            wide = ~np.all(error[:, done] <= DECIDABLE_RTOL * np.fmax(np.abs(value[:, done]), top), axis=0)
        tiny = np.array([bool(np.any(self.typical[vectors[k] != 0] < TINY_INPUT)) for k in done], dtype=bool)
        at = done[wide & tiny]
        if at.size == 0 or (self.budget is not None and self.evaluations + LADDER_COST * at.size > self.budget):
            return
        again = self.directional(vectors[at], typical=np.fmax(self.typical, 1.0))
        with np.errstate(invalid="ignore"):
            better = np.isfinite(again.error) & ~(again.error >= error[:, at])
        for k, column in enumerate(at):
            rows = better[:, k]
            value[rows, column], error[rows, column] = again.value[rows, k], again.error[rows, k]
            method[rows, column] = again.method[rows, k]
            step[rows, column] = np.nan if again.step is None else again.step[rows, k]

    def _pair(self, num: finite_diff.NumericDerivative, vectors: np.ndarray, done: np.ndarray,
              agrees: Callable[[finite_diff.NumericDerivative], np.ndarray], value: np.ndarray, error: np.ndarray,
              method: np.ndarray) -> np.ndarray:
        """The first estimate D(t) with more at 2t (then 4t): Richardson's (4 D(t) - D(2t)) / 3
        cancels the t**2 term and |D(t) - D(2t)| / 3 bounds what is left; where that bound is too
        wide, the same at (2t, 4t) and (R(t) - R(2t)) / 15 (the t**4 term) bound it. Two to four
        evaluations per column settle a smooth function whose first estimate missed only by its
        truncation error (an iterated SVD solver: 3,443 evaluations before); ``value``, ``error``
        and ``method`` take the columns it settles. Returns the others."""
        first = done[np.all(num.method[:, done] == Method.QUICK, axis=0)]
        if first.size == 0:
            return done
        near, near_error = num.value[:, first], num.error[:, first]
        wide = self._wider(vectors[first], 1)
        with np.errstate(all="ignore"):
            combined = (4 * near - wide.value) / 3
            bound = PAIR_SAFETY * np.abs(near - wide.value) / 3 + (4 * near_error + wide.error) / 3
        left = self._settle(first, combined, bound, agrees, value, error, method)
        if left.size:  # one level more, for the columns whose t**2 term was too large to bound them
            k = np.searchsorted(first, left)
            wider = self._wider(vectors[left], 2)
            with np.errstate(all="ignore"):
                outer = (4 * wide.value[:, k] - wider.value) / 3
                twice = (16 * combined[:, k] - outer) / 15
                bound = (PAIR_SAFETY * np.abs(combined[:, k] - outer) / 15
                         + (64 * near_error[:, k] + 20 * wide.error[:, k] + wider.error) / 45)
            left = self._settle(left, twice, bound, agrees, value, error, method)
        return np.setdiff1d(done, np.setdiff1d(first, left))

    def _wider(self, vectors: np.ndarray, doublings: int) -> finite_diff.NumericDerivative:
        """One central difference per row at ``2**doublings`` times the first estimate's step."""
        wide = self._floor(finite_diff.central_once(self.evaluate, self.fn.x, vectors, typical=self.typical,
                                                    exponent=self.quick_exponent - doublings))
        self.evaluations += wide.evaluations
        return wide

    @staticmethod
    def _settle(columns: np.ndarray, estimate: np.ndarray, bound: np.ndarray,
                agrees: Callable[[finite_diff.NumericDerivative], np.ndarray], value: np.ndarray, error: np.ndarray,
                method: np.ndarray) -> np.ndarray:
        """Take ``estimate`` (m, len(columns)) into ``value`` where ``agrees`` settles it; the rest back."""
        ok = np.isfinite(estimate) & np.isfinite(bound)
        trial_value, trial_error = value.copy(), error.copy()
        trial_value[:, columns], trial_error[:, columns] = estimate, np.where(ok, bound, np.inf)
        settled = np.asarray(agrees(finite_diff.NumericDerivative(trial_value, trial_error, method, 0)))[columns]
        settled &= np.all(ok, axis=0)
        value[:, columns[settled]], error[:, columns[settled]] = estimate[:, settled], bound[:, settled]
        method[:, columns[settled]] = Method.PAIR
        return columns[~settled]

    @staticmethod
    def _worst_first(order: np.ndarray, done: np.ndarray, estimate: finite_diff.NumericDerivative,
                     apart: Callable[[finite_diff.NumericDerivative], np.ndarray]) -> list[int]:
        """Positions in ``order`` by how far the small steps' values are from the derivatives under
        test (their errors aside: a kink leaves no error bound, but the value still points)."""
        bare = dataclasses.replace(estimate, error=np.where(np.isfinite(estimate.error), estimate.error, 0.0))
        rough = np.asarray(apart(bare))[done][order]
        return [int(k) for k in np.argsort(-rough, kind="stable")]

    def _local(self, ladder: finite_diff.NumericDerivative, local: finite_diff.NumericDerivative
               ) -> finite_diff.NumericDerivative:
        """The ladder's estimates, replaced by the shrinking search's where the two disagree: the
        ladder's large steps then met a jump or a kink that the small steps stay clear of (their
        one-sided quotients agree), and the function's slope at x is the small steps' one."""
        with np.errstate(invalid="ignore"):
            settled = np.isfinite(local.error)
            apart = np.abs(ladder.value - local.value) > self.numeric_k * (ladder.error + local.error)
            kink = settled & (apart | ~np.isfinite(ladder.value))
            # both agree, the small steps' estimate the tighter (the ladder met a kink 1e-6 away on one
            # side and widened its error; the small steps stay clear of it): the tighter one stands
            use = kink | (settled & ~apart & (local.error < ladder.error))
            # no pair of small steps agrees (a jump or kink at x): the ladder's value is only as good
            # as its distance from the smallest step's quotient (1/t beside a jump)
            rough = ~settled & np.isfinite(local.value) & np.isfinite(ladder.value)
            bumpy = np.zeros_like(ladder.error) if local.roughness is None else local.roughness
            if local.jump is not None:
                self._note_jump(rough & (local.jump > 0), local.jump)
            widened = np.where(rough, np.fmax(ladder.error, np.fmax(np.abs(ladder.value - local.value), bumpy)),
                               ladder.error)
            # a ladder estimate cannot be surer than its distance from the small steps' estimate (a
            # complex step reading exactly 0 beside a minimum that rounding moved: 1e-301 claimed)
            # (where the small steps disagree beyond their own error: within it, as beside a kink
            # 1e-6 away that left them +-0.48, they say nothing against a clean one-sided ladder)
            distance = np.abs(ladder.value - local.value)
            widened = np.where(settled & (distance > local.error), np.fmax(widened, distance), widened)
        ladder = dataclasses.replace(ladder, error=widened)
        if not use.any():
            return ladder
        if kink.any():
            self.smoothness = ("the function is not smooth on the scale of the larger steps (a jump or a kink "
                               "within them): smaller steps, clear of it on both sides, decided")
        step = np.full(ladder.value.shape, np.nan) if ladder.step is None else ladder.step
        return finite_diff.NumericDerivative(
            np.where(use, local.value, ladder.value), np.where(use, local.error, ladder.error),
            np.where(use, local.method, ladder.method), ladder.evaluations, np.where(use, local.step, step))

    def _note_jump(self, jumped: np.ndarray, size: np.ndarray) -> None:
        """Name a jump at x: no pair of small steps agrees and the one-sided quotients grow as the
        step shrinks (a step function, a ``where`` whose branches differ, ``floor``): the value
        itself changes by about ``size`` across x."""
        if not jumped.any() or self.jump:
            return
        self.jump = (f"the function jumps at x (its value changes by about {float(np.max(size[jumped])):.3g} "
                     f"across x, however small the step): not differentiable there, and no difference quotient "
                     f"can decide; check at a point beside the jump")

    def outside_note(self) -> str:
        """What the steps met outside the function's domain, or ``""``."""
        if not self._outside:
            return ""
        return (f"func raised or changed its output's shape at {self._outside} finite-difference point(s) near x "
                f"({self._outside_why}): treated as outside its domain; smaller or one-sided steps used there")

    @property
    def method(self) -> str:
        return "complex step" if self.complex else "central differences with Richardson extrapolation"


def _columns(num: finite_diff.NumericDerivative, keep: np.ndarray) -> finite_diff.NumericDerivative:
    return finite_diff.NumericDerivative(num.value[:, keep], num.error[:, keep], num.method[:, keep], 0,
                                         None if num.step is None else num.step[:, keep],
                                         None if num.roughness is None else num.roughness[:, keep],
                                         None if num.jump is None else num.jump[:, keep])


class _ShapeChanged(Exception):
    """The function returned another number of outputs at a point (torch.stack of a varying list)."""


class _Counted:
    """A batched function that counts the rows it is called with."""

    def __init__(self, f: Callable[[np.ndarray], np.ndarray]) -> None:
        self.f, self.rows = f, 0

    def __call__(self, points: np.ndarray) -> np.ndarray:
        self.rows += len(points)
        return self.f(points)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:200]


#: per entry of a method array: whether it holds a first estimate only
_is_first_estimate = np.frompyfunc(lambda method: method in FIRST_ESTIMATES, 1, 1)


def _axes(vectors: np.ndarray) -> bool:
    return bool(np.all(np.count_nonzero(vectors, axis=1) == 1))


def typical_magnitudes(fn) -> np.ndarray:
    """Each input entry's typical magnitude: the root mean square of its tensor (1 for a tensor of
    zeros), so that an entry equal to 0 is stepped on the scale of its neighbours."""
    typical = np.ones(fn.n)
    for slot in fn.slots:
        part = np.abs(fn.x[slot.offset:slot.offset + slot.size])
        part = part[np.isfinite(part)]
        rms = float(np.sqrt(np.mean(part ** 2))) if part.size else 0.0
        if rms > 0 and np.isfinite(rms):
            typical[slot.offset:slot.offset + slot.size] = max(rms, TYPICAL_FLOOR)
    return typical


def kink_possible(row: Row) -> bool:
    """A failing row might sit on a kink, unless its numeric value came from the complex step
    (which agreed with real differences: the function is analytic along that direction)."""
    return row.verdict is not Verdict.PASS and Method.COMPLEX_STEP not in Method.within(row.method)
