"""Numeric derivatives by finite differences, each entry with an honest error estimate.

This module is the numeric source of truth: it knows nothing about expressions or autograd,
only about a *batched* callable ``f`` that maps a ``(k, n)`` array of points to a ``(k, m)``
array of values (and may answer nan/inf outside its domain).

How an entry is estimated
-------------------------
For every direction ``v`` (a unit vector for a Jacobian column, any vector for a directional
derivative) the step along ``v`` is ``t = s * 2**-k`` for exponents ``k`` on a fixed ladder,
where ``s`` is the power of two at or above the input's scale ``max(|x_i|, 1)``.  At each step
the function is sampled at ``x + t v`` and ``x - t v`` (one batched call per round for every
direction and step), and three difference quotients are formed from the *representable* steps
``(x + t v) - x``: central, forward and backward.  Each ladder of quotients is extrapolated to
step zero with Richardson's scheme (Neville's algorithm in ``t**2`` for central quotients and in
``t`` for one-sided ones), which gives a table of candidate estimates.  Every candidate carries

* a truncation error: the larger difference to the two lower-order estimates it was built
  from, and to its neighbour of the same order (all of which converge more slowly), and
* a rounding error: ``FUNCTION_ULPS * eps * |f|`` at every sample, propagated through the
  difference quotient and the extrapolation weights in absolute value.

Per entry the candidate with the smallest total is kept.  A stencil point where ``f`` is not
finite spoils only the candidates that use it, so near a domain boundary the estimate comes
from smaller steps or from the one-sided quotient whose side stays inside the domain.

The ladder is adaptive but the number of batched calls is bounded (three rounds): a first
ladder of large steps, then — only for directions whose error is still above the rounding
floor of smaller steps — a sparse probe of small steps, then a dense fill around the best
probe.  That keeps ordinary functions cheap and still finds the tiny steps that a derivative
at ``x = 1e8`` or beside a singularity needs.

With ``complex_step=True`` the derivative is ``Im f(x + i t v) / t`` at a tiny ``t``: there is
no subtraction, so it is accurate to rounding.  Two steps whose ratio is not a power of two
give different roundings, and their disagreement is the error estimate; a direction whose
complex estimates disagree or are not finite (``f`` not analytic there, or outside its real
domain) falls back to the real ladder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import math

import numpy as np

__all__ = [
    "NumericDerivative",
    "BatchedFunction",
    "jacobian",
    "directional",
    "one_sided",
    "hessian",
    "FUNCTION_ULPS",
    "FIRST_EXPONENTS",
    "PROBE_EXPONENTS",
    "COMPLEX_STEP",
]

BatchedFunction = Callable[[np.ndarray], np.ndarray]

EPS = float(np.finfo(np.float64).eps)

# Accuracy assumed of a value of f, in units of eps * |f|.  Library functions are within an
# ulp or two; the triangle-inequality propagation below already assumes the worst signs.
FUNCTION_ULPS = 2.0

# Exponents k of the ladder t = s * 2**-k.  The first round covers the large steps, where
# high-order extrapolation of a smooth function reaches rounding level; the probe is sparse
# (ratio 16) so that one round reaches steps 1e-13 * s; the fill makes the ladder dense (ratio
# 2) around the best probe so the final choice is not off by the probe's coarse ratio.
FIRST_EXPONENTS = tuple(range(2, 10))
PROBE_EXPONENTS = tuple(range(12, 45, 4))
FILL_BEFORE = 3
FILL_AFTER = 3
MIN_EXPONENT = 1
MAX_EXPONENT = 50

# Measured noise: f is also sampled at x + j * delta * v (j = +-1, +-2, +-3, delta = s *
# 2**NOISE_PROBE_EXPONENT); the 4th to 6th differences of those seven values are pure rounding
# noise for any function that is smooth on that tiny scale, and reveal noise the eps*|f| model
# misses (log(1 + x*x) at small x rounds 1 + x*x: absolute error eps, not eps*|f|).  The
# scale is small enough that smooth parts vanish even near a singularity, yet large enough that
# intermediate values still move by many ulps, so their roundings are independent.
NOISE_PROBE_EXPONENT = 40
NOISE_PROBE_OFFSETS = (-3.0, -2.0, -1.0, 1.0, 2.0, 3.0)
NOISE_PROBE_ORDERS = (4, 5, 6)
# Single rounding errors reach a few standard deviations of the measured noise.
NOISE_SAFETY = 3.0

# Highest Richardson order (number of eliminated error terms).  Beyond six the weights stop
# paying for themselves in double precision.
MAX_ORDER = 6

# An order-0 candidate has no lower order to compare with; its neighbour at the next smaller
# step differs by 3/4 of its error for a quadratic error term, 1/2 for a linear one, so twice
# the difference bounds it.
ZERO_ORDER_SAFETY = 2.0

# Every reported error is at least this many eps of |value|: the final division and additions
# round too.
ESTIMATE_FLOOR_ULPS = 2.0

# A direction stops refining when its error is below the rounding error a smaller step would
# have (smaller steps cannot help), or already within this many eps of |value|.
GOOD_ENOUGH_ULPS = 16.0

# Complex step: t = s * COMPLEX_STEP is far below any sensible distance to a singularity, yet
# large enough that t * |f'| stays a normal number for derivatives down to ~1e-280.  The second
# step is COMPLEX_STEP_RATIO times larger; 3 is not a power of two, so its roundings differ
# and the disagreement measures them.
COMPLEX_STEP = 2.0**-70
COMPLEX_STEP_RATIO = 3.0
COMPLEX_SAFETY = 4.0
COMPLEX_ULPS = 4.0
# A complex-step estimate whose two steps disagree by more than this (relative) is not
# trusted: f is not analytic there, and the real ladder is tried as well.
COMPLEX_FALLBACK_REL = 1e-8

_KIND_LABELS = {
    "central": "central-richardson",
    "forward": "forward-richardson",
    "backward": "backward-richardson",
}
NO_ESTIMATE = "none"
COMPLEX_LABEL = "complex-step"


@dataclass(frozen=True)
class NumericDerivative:
    """Finite-difference derivative values with a per-entry error estimate.

    Attributes
    ----------
    value : numpy.ndarray
        float64; shape ``(m, n)`` for a Jacobian, ``(m, d)`` for directional derivatives,
        ``(n, n)`` for a Hessian.  nan where no finite estimate could be made.
    error : numpy.ndarray
        Same shape: estimated absolute error of each entry (``>= 0``; inf with a nan value).
    method : numpy.ndarray
        Same shape, dtype object: how each entry was obtained, one of ``"complex-step"``,
        ``"central-richardson"``, ``"forward-richardson"``, ``"backward-richardson"`` or
        ``"none"``.
    evaluations : int
        Number of function evaluations (each row of a batched call counts one).
    step : numpy.ndarray
        Same shape: the smallest step (length along the direction) the chosen estimate used;
        nan where there is none.
    """

    value: np.ndarray
    error: np.ndarray
    method: np.ndarray
    evaluations: int
    step: np.ndarray | None = None


# --------------------------------------------------------------------------------------------
# Input checks and the batched call
# --------------------------------------------------------------------------------------------


def _as_point(x: object) -> np.ndarray:
    point = np.asarray(x, dtype=np.float64)
    if point.ndim != 1 or point.size == 0:
        raise ValueError(f"x must be a non-empty 1-D array of shape (n,), got shape {point.shape!r}")
    if not np.all(np.isfinite(point)):
        raise ValueError(f"x must be finite, got {point!r}")
    return point


def _as_directions(directions: object, n: int) -> np.ndarray:
    vectors = np.asarray(directions, dtype=np.float64)
    if vectors.ndim != 2 or vectors.shape[1] != n or vectors.shape[0] == 0:
        raise ValueError(f"directions must have shape (d, {n}) with d >= 1, got shape {vectors.shape!r}")
    if not np.all(np.isfinite(vectors)):
        raise ValueError(f"directions must be finite, got {vectors!r}")
    zero = np.flatnonzero(~np.any(vectors != 0.0, axis=1))
    if zero.size:
        raise ValueError(f"each direction must be a nonzero vector; row {int(zero[0])} is {vectors[zero[0]]!r}")
    return vectors


def _power_of_two_at_least(values: np.ndarray) -> np.ndarray:
    """Smallest power of two >= each (positive) value."""
    mantissa, exponent = np.frexp(values)
    # frexp gives values = mantissa * 2**exponent with mantissa in [0.5, 1); an exact power of
    # two has mantissa 0.5 and is its own answer.
    exponent = np.where(mantissa == 0.5, exponent - 1, exponent)
    return np.ldexp(1.0, exponent)


def _direction_scales(x: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Scale s of each direction: the step t moves input i by t*v_i, so the largest relative
    move max_i |t v_i| / max(|x_i|, 1) equals t / s.  Powers of two keep x +- t exact when
    t <= |x|, so the representable step equals the nominal one there."""
    relative = np.abs(vectors) / np.maximum(np.abs(x), 1.0)
    return _power_of_two_at_least(1.0 / np.max(relative, axis=1))


class _Evaluator:
    """Calls f on a batch, checks the shape, and counts rows."""

    def __init__(self, f: BatchedFunction, *, complex_input: bool = False) -> None:
        self.f = f
        self.complex_input = complex_input
        self.evaluations = 0
        self.outputs: int | None = None

    def __call__(self, points: np.ndarray) -> np.ndarray:
        dtype = np.complex128 if self.complex_input else np.float64
        batch = np.ascontiguousarray(points, dtype=dtype)
        with np.errstate(all="ignore"):
            raw = np.asarray(self.f(batch))
        self.evaluations += batch.shape[0]
        if raw.ndim == 1 and raw.shape[0] == batch.shape[0]:
            raw = raw[:, None]
        if raw.ndim != 2 or raw.shape[0] != batch.shape[0]:
            raise ValueError(
                f"f must map a (k, n) batch to a (k, m) array; for a batch of shape {batch.shape!r} "
                f"it returned shape {raw.shape!r}"
            )
        if self.outputs is not None and raw.shape[1] != self.outputs:
            raise ValueError(f"f must return the same number of outputs m every call; got {raw.shape[1]!r} after {self.outputs!r}")
        self.outputs = raw.shape[1]
        if self.complex_input:
            if not np.iscomplexobj(raw):
                # f dropped the imaginary part, so Im f says nothing about f'.
                return np.full(raw.shape, np.nan + 0j)
            return raw.astype(np.complex128, copy=False)
        if np.iscomplexobj(raw):
            # A complex answer to a real point is outside the real domain (sqrt(-1)).
            raw = np.where(raw.imag == 0.0, raw.real, np.nan)
        return raw.astype(np.float64, copy=False)


# --------------------------------------------------------------------------------------------
# Stencils: where to sample for an (entry, exponent) and how to form difference quotients
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Quotients:
    """Difference quotients of one kind for a batch of (entry, exponent) pairs."""

    value: np.ndarray  # (P, m)
    noise: np.ndarray  # (P, m) rounding error bound
    u: np.ndarray  # (P,) expansion variable of the error series (step**2 or step)
    step: np.ndarray  # (P,) the step length along the direction


def _sample_error(values: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Bound on the rounding error of each sample: the eps*|f| model or the measured noise."""
    return np.maximum(FUNCTION_ULPS * EPS * np.abs(values), NOISE_SAFETY * sigma)


def _measured_noise(samples: np.ndarray) -> np.ndarray:
    """Standard deviation of the rounding noise of each output, from equispaced samples.

    ``samples`` is (q, 7, m): seven equispaced values along each of q directions.  The k-th
    difference of independent noise of deviation sigma has variance binom(2k, k) sigma**2;
    the orders are pooled so that one difference that is small by chance does not hide it.
    """
    pooled = []
    for order in NOISE_PROBE_ORDERS:
        diff = np.diff(samples, n=order, axis=1)
        pooled.append((diff**2 / math.comb(2 * order, order)).transpose(2, 0, 1).reshape(samples.shape[2], -1))
    with np.errstate(all="ignore"):
        stacked = np.concatenate(pooled, axis=1)
        finite = np.isfinite(stacked)
        count = finite.sum(axis=1)
        total = np.where(finite, stacked, 0.0).sum(axis=1)
        variance = np.where(count > 0, total / np.maximum(count, 1), 0.0)
    return np.sqrt(variance)


class _FirstDerivativeStencil:
    """Samples x +- t v; central, forward and backward quotients of the first derivative."""

    kinds = ("central", "forward", "backward")
    # Rounding error of a first difference grows like 1/t: doubling per halved step.
    growth = 2.0
    width = 2

    def __init__(self, x: np.ndarray, vectors: np.ndarray, scales: np.ndarray) -> None:
        self.x = x
        self.vectors = vectors
        self.scales = scales
        self.entries = vectors.shape[0]
        self._norm2 = np.einsum("dn,dn->d", vectors, vectors)

    def points(self, entry: np.ndarray, exponent: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
        t = np.ldexp(self.scales[entry], -exponent)
        v = self.vectors[entry]
        plus = self.x + t[:, None] * v
        minus = self.x - t[:, None] * v
        # The representable steps: (x + t v) - x projected on v (exact for a coordinate
        # direction; the least-squares step for a general one).
        t_plus = np.einsum("pn,pn->p", plus - self.x, v) / self._norm2[entry]
        t_minus = np.einsum("pn,pn->p", self.x - minus, v) / self._norm2[entry]
        pts = np.stack([plus, minus], axis=1)
        valid = np.ones(pts.shape[:2], dtype=bool)
        return pts, valid, {"t_plus": t_plus, "t_minus": t_minus}

    def probe(self) -> tuple[np.ndarray, np.ndarray]:
        """Directions and scales along which to measure the noise of f."""
        return self.vectors, self.scales

    def combine(self, aux: dict, values: np.ndarray, center: np.ndarray, sigma: np.ndarray) -> dict[str, _Quotients]:
        tp = aux["t_plus"][:, None]
        tm = aux["t_minus"][:, None]
        fp, fm = values[:, 0], values[:, 1]
        f0 = center[None, :]
        ep, em, e0 = _sample_error(fp, sigma), _sample_error(fm, sigma), _sample_error(f0, sigma)
        with np.errstate(all="ignore"):
            width = tp + tm
            central = (fp - fm) / width
            # Unequal representable steps (only when t > |x_i|) leave a first-order error
            # (tp - tm)/2 * f''; f'' comes from the same three samples.
            second = 2.0 * (tm * fp - width * f0 + tp * fm) / (tp * tm * width)
            second = np.where(np.isfinite(second), np.abs(second), 2.0 * (np.abs(fp) + np.abs(fm)) / (tp * tm))
            bias = np.where(tp == tm, 0.0, 0.5 * np.abs(tp - tm) * second)
            central_noise = (ep + em) / width + bias
            forward = (fp - f0) / tp
            forward_noise = (ep + e0) / tp
            backward = (f0 - fm) / tm
            backward_noise = (e0 + em) / tm
        half = 0.5 * (aux["t_plus"] + aux["t_minus"])
        return {
            "central": _Quotients(central, central_noise, half**2, half),
            "forward": _Quotients(forward, forward_noise, aux["t_plus"], aux["t_plus"]),
            "backward": _Quotients(backward, backward_noise, aux["t_minus"], aux["t_minus"]),
        }


class _HessianStencil:
    """Second differences of a scalar function: entry e is the pair (rows[e], cols[e])."""

    kinds = ("central",)
    # Rounding error of a second difference grows like 1/t**2.
    growth = 4.0
    width = 4

    def __init__(self, x: np.ndarray, scales: np.ndarray) -> None:
        self.x = x
        self.scales = scales
        self.rows, self.cols = np.triu_indices(x.size)
        self.entries = self.rows.size

    def _coordinate(self, index: np.ndarray, exponent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rounded coordinates x_i + t and x_i - t of input ``index`` at step exponent."""
        t = np.ldexp(self.scales[index], -exponent)
        xi = self.x[index]
        return xi + t, xi - t

    def points(self, entry: np.ndarray, exponent: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
        i, j = self.rows[entry], self.cols[entry]
        plus_i, minus_i = self._coordinate(i, exponent)
        plus_j, minus_j = self._coordinate(j, exponent)
        diagonal = i == j
        off = ~diagonal
        count = entry.size
        pts = np.broadcast_to(self.x, (count, 4, self.x.size)).copy()
        rows = np.arange(count)
        # Slots: (+i +j), (+i -j), (-i +j), (-i -j); a diagonal entry uses (+i), (-i) only.
        for slot, (side_i, side_j) in enumerate(((1, 1), (1, -1), (-1, 1), (-1, -1))):
            pts[rows, slot, i] = plus_i if side_i > 0 else minus_i
            pts[rows[off], slot, j[off]] = (plus_j if side_j > 0 else minus_j)[off]
        pts[diagonal, 1, :] = pts[diagonal, 2, :]
        valid = np.ones((count, 4), dtype=bool)
        valid[diagonal, 2:] = False
        xi, xj = self.x[i], self.x[j]
        return pts, valid, {"pi": plus_i - xi, "mi": xi - minus_i, "pj": plus_j - xj, "mj": xj - minus_j, "diagonal": diagonal}

    def probe(self) -> tuple[np.ndarray, np.ndarray]:
        """Directions and scales along which to measure the noise of f."""
        return np.eye(self.x.size), self.scales

    def combine(self, aux: dict, values: np.ndarray, center: np.ndarray, sigma: np.ndarray) -> dict[str, _Quotients]:
        diagonal = aux["diagonal"][:, None]
        tp, tm = aux["pi"][:, None], aux["mi"][:, None]
        pj, mj = aux["pj"][:, None], aux["mj"][:, None]
        f0 = center[None, :]
        errors = _sample_error(values, sigma)
        e0 = _sample_error(f0, sigma)
        with np.errstate(all="ignore"):
            # Diagonal: second derivative through x - tm, x, x + tp (unequal steps allowed).
            width = tp + tm
            wp, w0, wm = 2.0 / (tp * width), -2.0 / (tp * tm), 2.0 / (tm * width)
            diag = wp * values[:, 0] + w0 * f0 + wm * values[:, 1]
            diag_noise = wp * errors[:, 0] + np.abs(w0) * e0 + wm * errors[:, 1]
            # Off-diagonal: the four-corner mixed difference.
            area = (tp + tm) * (pj + mj)
            mixed = (values[:, 0] - values[:, 1] - values[:, 2] + values[:, 3]) / area
            mixed_noise = np.sum(errors, axis=1) / area
        value = np.where(diagonal, diag, mixed)
        noise = np.where(diagonal, diag_noise, mixed_noise)
        u = np.where(aux["diagonal"], aux["pi"] * aux["mi"], 0.25 * (aux["pi"] + aux["mi"]) * (aux["pj"] + aux["mj"]))
        return {"central": _Quotients(value, noise, u, np.sqrt(u))}


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


def _extrapolate(values: np.ndarray, u: np.ndarray, noise: np.ndarray) -> _Candidates:
    """Neville table of polynomial extrapolation in ``u`` to ``u = 0``.

    ``values`` and ``noise`` are (D, C, m) with columns ordered by decreasing step, ``u`` is
    (D, C); nan columns (not evaluated, or f not finite) spoil exactly the windows using them.
    """
    count, columns, _ = values.shape
    index = np.arange(columns)
    with np.errstate(all="ignore"):
        trunc = np.full(values.shape, np.inf)
        if columns > 1:
            trunc[:, :-1] = ZERO_ORDER_SAFETY * np.abs(values[:, :-1] - values[:, 1:])
        out_value, out_error, first, last = [values], [trunc + noise], [index], [index]
        previous, previous_noise = values, noise
        for order in range(1, min(MAX_ORDER, columns - 1) + 1):
            u_large = u[:, : columns - order, None]
            u_small = u[:, order:, None]
            a = u_large / (u_large - u_small)
            b = -u_small / (u_large - u_small)
            current = a * previous[:, 1:] + b * previous[:, :-1]
            current_noise = np.abs(a) * previous_noise[:, 1:] + np.abs(b) * previous_noise[:, :-1]
            # The two lower-order parents converge more slowly than their child, so their
            # distance from it over-bounds its truncation error.  The same-order neighbours
            # (one step larger and one smaller) guard against a chance agreement of the
            # parents: far outside the asymptotic range (steps much longer than the scale on
            # which f varies) a few quotients can line up for a while and then break away.
            trunc = np.maximum(np.abs(current - previous[:, :-1]), np.abs(current - previous[:, 1:]))
            if current.shape[1] > 1:
                step = np.abs(current[:, 1:] - current[:, :-1])
                neighbour = np.full(current.shape, np.nan)
                neighbour[:, 1:] = step
                trunc = np.fmax(trunc, neighbour)
                neighbour[:, 1:] = np.nan
                neighbour[:, :-1] = step
                trunc = np.fmax(trunc, neighbour)
            out_value.append(current)
            out_error.append(trunc + current_noise)
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


class _Ladder:
    """Quotients of every kind at every evaluated (entry, exponent), with adaptive rounds."""

    def __init__(self, stencil, call: _Evaluator, x: np.ndarray) -> None:
        self.stencil = stencil
        self.call = call
        self.x = x
        self.center: np.ndarray | None = None
        self.sigma = np.zeros(0)
        # (entry, exponent) grid; exponents never evaluated by any entry stay nan and are
        # squeezed out before extrapolation.
        self.done = np.zeros((stencil.entries, MAX_EXPONENT + 1), dtype=bool)
        self.store: dict[str, dict[str, np.ndarray]] = {}

    def evaluate(self, wanted: np.ndarray) -> None:
        """Evaluate every (entry, exponent) with ``wanted[entry, k]`` not yet done, in one call."""
        entries, exponents = np.nonzero(wanted & ~self.done)
        if entries.size == 0 and self.center is not None:
            return
        pts, valid, aux = self.stencil.points(entries, exponents)
        rows = pts[valid]
        first = self.center is None
        if first:
            # The first call also samples the centre and the noise probe.
            vectors, scales = self.stencil.probe()
            delta = np.ldexp(scales, -NOISE_PROBE_EXPONENT)[:, None, None]
            offsets = np.asarray(NOISE_PROBE_OFFSETS)[None, :, None]
            probe = (self.x + offsets * delta * vectors[:, None, :]).reshape(-1, self.x.size)
            rows = np.concatenate([self.x[None, :], probe, rows])
        out = self.call(rows)
        if first:
            self.center = out[0]
            probed = out[1 : 1 + probe.shape[0]].reshape(vectors.shape[0], len(NOISE_PROBE_OFFSETS), -1)
            half = len(NOISE_PROBE_OFFSETS) // 2
            line = np.concatenate([probed[:, :half], np.broadcast_to(self.center, (vectors.shape[0], 1, out.shape[1])), probed[:, half:]], axis=1)
            self.sigma = _measured_noise(line)
            out = out[1 + probe.shape[0] :]
        samples = np.full(valid.shape + (out.shape[1],), np.nan)
        samples[valid] = out
        quotients = self.stencil.combine(aux, samples, self.center, self.sigma)
        if not self.store:
            shape = self.done.shape
            for kind in self.stencil.kinds:
                self.store[kind] = {
                    "value": np.full(shape + (out.shape[1],), np.nan),
                    "noise": np.full(shape + (out.shape[1],), np.nan),
                    "u": np.full(shape, np.nan),
                    "step": np.full(shape, np.nan),
                }
        self.done[entries, exponents] = True
        for kind, q in quotients.items():
            store = self.store[kind]
            store["value"][entries, exponents] = q.value
            store["noise"][entries, exponents] = q.noise
            store["u"][entries, exponents] = q.u
            store["step"][entries, exponents] = q.step

    def choose(self, kinds: tuple[str, ...]) -> _Choice:
        """Best candidate over the given kinds, per entry and output."""
        done = self.done
        # Per entry, its evaluated columns first, in exponent order; the rest pad with nan.
        gather = np.argsort(~done, axis=1, kind="stable")
        counts = done.sum(axis=1)
        columns = int(counts.max())
        gather = gather[:, :columns]
        pad = np.arange(columns)[None, :] >= counts[:, None]
        exps = np.where(pad, np.nan, gather.astype(float))
        rows = np.arange(self.stencil.entries)[:, None]
        values, errors, kind_ids, firsts, lasts, last_noise, steps = [], [], [], [], [], [], []
        for kind_id, kind in enumerate(kinds):
            store = self.store[kind]
            value = np.where(pad[..., None], np.nan, store["value"][rows, gather])
            noise = store["noise"][rows, gather]
            u = np.where(pad, np.nan, store["u"][rows, gather])
            cands = _extrapolate(value, u, noise)
            values.append(cands.value)
            errors.append(cands.error)
            kind_ids.append(np.full(cands.first.size, kind_id))
            firsts.append(cands.first)
            lasts.append(cands.last)
            last_noise.append(noise[np.arange(noise.shape[0]), counts - 1])  # (D, m)
            steps.append(store["step"][rows, gather][:, cands.last])  # (D, N): each window's smallest step
        value = np.concatenate(values, axis=2)
        error = np.concatenate(errors, axis=2)
        kind_id = np.concatenate(kind_ids)
        first = np.concatenate(firsts)
        last = np.concatenate(lasts)
        finite_value = np.isfinite(value)
        rank = np.where(finite_value & np.isfinite(error), error, np.where(finite_value, np.finfo(np.float64).max, np.inf))
        best = np.argmin(rank, axis=2)  # (D, m)
        chosen = np.take_along_axis(value, best[..., None], axis=2)[..., 0]
        chosen_error = np.take_along_axis(error, best[..., None], axis=2)[..., 0]
        ok = np.isfinite(chosen)
        chosen_error = np.where(ok, chosen_error, np.inf)
        chosen_error = np.where(np.isnan(chosen_error), np.inf, chosen_error)
        chosen_error = chosen_error + ESTIMATE_FLOOR_ULPS * EPS * np.where(ok, np.abs(chosen), 0.0)
        chosen = np.where(ok, chosen, np.nan)
        best_kind = kind_id[best]
        labels = np.array([_KIND_LABELS[k] for k in kinds], dtype=object)
        method = np.where(ok, labels[best_kind], NO_ESTIMATE).astype(object)
        d_index = np.arange(value.shape[0])[:, None]
        step_all = np.concatenate(steps, axis=1)  # (D, N)
        step = np.where(ok, np.take_along_axis(step_all, best, axis=1), np.nan)
        first_exponent = np.where(ok, exps[d_index, first[best]], np.nan)
        # Smaller steps cannot help once the error is below the rounding error of the next
        # smaller step (rounding grows as the step shrinks) or near rounding of the value.
        noise_next = self.stencil.growth * np.stack(last_noise)[best_kind, d_index, np.arange(value.shape[1])[None, :]]
        with np.errstate(invalid="ignore"):
            resolved = (chosen_error <= noise_next) | (chosen_error <= GOOD_ENOUGH_ULPS * EPS * np.abs(chosen))
        return _Choice(chosen, chosen_error, method, step, first_exponent, resolved)


def _run_ladder(stencil, call: _Evaluator, x: np.ndarray, groups: tuple[tuple[str, ...], ...]) -> list[_Choice]:
    """Three rounds at most: first ladder; probe for unresolved entries; fill near the best."""
    ladder = _Ladder(stencil, call, x)
    grid = MAX_EXPONENT + 1
    wanted = np.zeros((stencil.entries, grid), dtype=bool)
    wanted[:, list(FIRST_EXPONENTS)] = True
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


# --------------------------------------------------------------------------------------------
# Complex step
# --------------------------------------------------------------------------------------------


def _complex_step(f: BatchedFunction, x: np.ndarray, vectors: np.ndarray, scales: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, bool]:
    """(value (D, m), error (D, m), evaluations, returned_complex) of Im f(x + i t v) / t."""
    call = _Evaluator(f, complex_input=True)
    t1 = scales * COMPLEX_STEP
    t2 = t1 * COMPLEX_STEP_RATIO
    pts = np.concatenate([x + 1j * t1[:, None] * vectors, x + 1j * t2[:, None] * vectors])
    raw = call(pts)
    count = vectors.shape[0]
    d1 = raw[:count].imag / t1[:, None]
    d2 = raw[count:].imag / t2[:, None]
    with np.errstate(all="ignore"):
        error = COMPLEX_SAFETY * np.abs(d1 - d2) + COMPLEX_ULPS * EPS * np.abs(d1)
    ok = np.isfinite(d1) & np.isfinite(error)
    return np.where(ok, d1, np.nan), np.where(ok, error, np.inf), call.evaluations, True


def _directional_core(f: BatchedFunction, x: np.ndarray, vectors: np.ndarray, complex_step: bool) -> NumericDerivative:
    scales = _direction_scales(x, vectors)
    if not complex_step:
        call = _Evaluator(f)
        (choice,) = _run_ladder(_FirstDerivativeStencil(x, vectors, scales), call, x, (_FirstDerivativeStencil.kinds,))
        return NumericDerivative(choice.value.T, choice.error.T, choice.method.T, call.evaluations, choice.step.T)
    value, error, evaluations, _ = _complex_step(f, x, vectors, scales)
    method = np.full(value.shape, COMPLEX_LABEL, dtype=object)
    step = np.broadcast_to((scales * COMPLEX_STEP)[:, None], value.shape).copy()
    with np.errstate(invalid="ignore"):
        doubtful = ~np.isfinite(value) | (error > COMPLEX_FALLBACK_REL * np.abs(value))
    redo = np.flatnonzero(np.any(doubtful, axis=1))
    if redo.size:
        call = _Evaluator(f)
        (choice,) = _run_ladder(_FirstDerivativeStencil(x, vectors[redo], scales[redo]), call, x, (_FirstDerivativeStencil.kinds,))
        evaluations += call.evaluations
        better = choice.error < error[redo]
        value[redo] = np.where(better, choice.value, value[redo])
        error[redo] = np.where(better, choice.error, error[redo])
        method[redo] = np.where(better, choice.method, method[redo])
        step[redo] = np.where(better, choice.step, step[redo])
    method = np.where(np.isfinite(value), method, NO_ESTIMATE).astype(object)
    return NumericDerivative(value.T, error.T, method.T, evaluations, step.T)


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def jacobian(f: BatchedFunction, x: np.ndarray, *, complex_step: bool = False) -> NumericDerivative:
    """Jacobian of a batched function at one point, with an error estimate per entry.

    Parameters
    ----------
    f : callable
        Batched function: a ``(k, n)`` array of points to a ``(k, m)`` array of values
        (float64 in, float64 out; complex128 in and out when ``complex_step``).  It may return
        nan/inf outside its domain.
    x : numpy.ndarray
        The point, shape ``(n,)``, finite.
    complex_step : bool, optional
        Use the complex step ``Im f(x + i t e_j) / t`` (exact to rounding); only for f that
        accepts complex input and is analytic near ``x``.  Entries where it fails fall back
        to finite differences.

    Returns
    -------
    NumericDerivative
        ``value``, ``error``, ``method`` and ``step`` of shape ``(m, n)``.

    Examples
    --------
    >>> import numpy as np
    >>> f = lambda p: np.stack([p[:, 0] * p[:, 1], np.sin(p[:, 0])], axis=1)
    >>> d = jacobian(f, np.array([2.0, 3.0]))
    >>> np.allclose(d.value, [[3.0, 2.0], [np.cos(2.0), 0.0]], rtol=1e-12, atol=1e-12)
    True
    >>> bool(np.all(d.error < 1e-12))
    True
    """
    point = _as_point(x)
    return _directional_core(f, point, np.eye(point.size), complex_step)


def directional(f: BatchedFunction, x: np.ndarray, directions: np.ndarray, *, complex_step: bool = False) -> NumericDerivative:
    """Directional derivatives ``d/dt f(x + t v)`` at ``t = 0`` for each row ``v`` of ``directions``.

    Costs O(d) batched evaluations whatever ``n`` is, so it suits quick checks of large inputs
    (compare with ``J @ v`` from another source).  The vector is used as given, not normalised.

    Parameters
    ----------
    f : callable
        Batched function ``(k, n) -> (k, m)``, see :func:`jacobian`.
    x : numpy.ndarray
        The point, shape ``(n,)``.
    directions : numpy.ndarray
        Shape ``(d, n)``, nonzero rows.
    complex_step : bool, optional
        As for :func:`jacobian`.

    Returns
    -------
    NumericDerivative
        Arrays of shape ``(m, d)``.

    Examples
    --------
    >>> import numpy as np
    >>> f = lambda p: (p[:, 0] ** 2 * p[:, 1])[:, None]
    >>> d = directional(f, np.array([1.0, 2.0]), np.array([[0.6, 0.8]]))
    >>> round(float(d.value[0, 0]), 12)   # grad = (4, 1); 0.6*4 + 0.8*1
    3.2
    """
    point = _as_point(x)
    vectors = _as_directions(directions, point.size)
    return _directional_core(f, point, vectors, complex_step)


def one_sided(f: BatchedFunction, x: np.ndarray, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward and forward one-sided directional derivatives, for finding kinks.

    ``left`` is ``lim_{t->0+} (f(x) - f(x - t v)) / t`` and ``right`` is
    ``lim_{t->0+} (f(x + t v) - f(x)) / t``, each extrapolated over a ladder of steps using
    samples on its own side only.  Where f is differentiable they agree within
    ``2 * error``.

    Parameters
    ----------
    f : callable
        Batched function ``(k, n) -> (k, m)``.
    x : numpy.ndarray
        The point, shape ``(n,)``.
    directions : numpy.ndarray
        Shape ``(d, n)``, nonzero rows.

    Returns
    -------
    left, right, error : numpy.ndarray
        Each of shape ``(m, d)``; ``error`` is the larger of the two sides' estimated
        absolute errors (inf where a side has no finite estimate).

    Examples
    --------
    >>> import numpy as np
    >>> relu = lambda p: np.maximum(p, 0.0)
    >>> left, right, error = one_sided(relu, np.array([0.0]), np.array([[1.0]]))
    >>> float(left[0, 0]), float(right[0, 0])
    (0.0, 1.0)
    """
    point = _as_point(x)
    vectors = _as_directions(directions, point.size)
    call = _Evaluator(f)
    stencil = _FirstDerivativeStencil(point, vectors, _direction_scales(point, vectors))
    left, right = _run_ladder(stencil, call, point, (("backward",), ("forward",)))
    return left.value.T, right.value.T, np.maximum(left.error, right.error).T


def hessian(f: BatchedFunction, x: np.ndarray) -> NumericDerivative:
    """Hessian of a scalar batched function (``m == 1``) by extrapolated second differences.

    Diagonal entries use ``x +- t e_i`` and ``x``; off-diagonal entries the four corners
    ``x +- t_i e_i +- t_j e_j``; both are extrapolated in ``t**2``.  The result is symmetric.

    Parameters
    ----------
    f : callable
        Batched function ``(k, n) -> (k, 1)``.
    x : numpy.ndarray
        The point, shape ``(n,)``.

    Returns
    -------
    NumericDerivative
        Arrays of shape ``(n, n)``; ``method`` is ``"central-richardson"``.

    Examples
    --------
    >>> import numpy as np
    >>> rosen = lambda p: ((1 - p[:, 0]) ** 2 + 100 * (p[:, 1] - p[:, 0] ** 2) ** 2)[:, None]
    >>> h = hessian(rosen, np.array([1.0, 1.0]))
    >>> np.allclose(h.value, [[802.0, -400.0], [-400.0, 200.0]], rtol=1e-10)
    True
    """
    point = _as_point(x)
    call = _Evaluator(f)
    stencil = _HessianStencil(point, _power_of_two_at_least(np.maximum(np.abs(point), 1.0)))
    (choice,) = _run_ladder(stencil, call, point, (_HessianStencil.kinds,))
    if choice.value.shape[1] != 1:
        raise ValueError(f"hessian needs a scalar function (m == 1), f returned m = {choice.value.shape[1]!r} outputs")
    n = point.size
    out = {}
    for name, fill in (("value", np.nan), ("error", np.inf), ("method", NO_ESTIMATE), ("step", np.nan)):
        flat = getattr(choice, name)[:, 0]
        full = np.full((n, n), fill, dtype=object if name == "method" else np.float64)
        full[stencil.rows, stencil.cols] = flat
        full[stencil.cols, stencil.rows] = flat
        out[name] = full
    return NumericDerivative(out["value"], out["error"], out["method"], call.evaluations, out["step"])
