"""Numeric derivatives by finite differences, each entry with an honest error estimate.

This module is the numeric source of truth: it knows nothing about expressions or autograd,
only about a *batched* callable ``f`` that maps a ``(k, n)`` array of points to a ``(k, m)``
array of values (and may answer nan/inf outside its domain).

How an entry is estimated
-------------------------
For every direction ``v`` (a unit vector for a Jacobian column, any vector for a directional
derivative) the step along ``v`` is ``t = s * 2**-k`` for exponents ``k`` on a ladder, where
``s`` is the power of two at or above the input's scale ``max(|x_i|, 1)``.  At each step ``f``
is sampled at ``x + t v`` and ``x - t v``, and three difference quotients are formed with the
*representable* steps ``(x +- t v) - x``: central, forward and backward.  Each ladder of
quotients is extrapolated to step zero by Richardson's scheme (Neville's algorithm in ``t**2``
for central quotients, in ``t`` for one-sided ones), which gives a table of candidates.  Each
candidate's error is the sum of

* truncation: its distance to the two lower-order estimates it was built from and to its
  same-order neighbour one step smaller (all converge more slowly, so this over-bounds it),
  raised to its distance from any quotient at a smaller step that contradicts it (a run of
  large steps can mimic convergence: sin at ``x = 1e8``); and
* rounding: a bound on the error of every sample, propagated through the quotient and the
  extrapolation weights in absolute value.  The bound is ``FUNCTION_ULPS * eps * |f|`` or,
  if larger, three times the noise *measured* near ``x``: the residual of a polynomial fit to
  ``f`` at a few points some ulps apart (``log(1 + x*x)`` rounds ``1 + x*x`` and so carries an
  absolute error ``eps``, far above ``eps * |f|`` at small ``x``).

Per entry the candidate with the smallest error is kept (one-sided ones count
``ONE_SIDED_PENALTY`` times, their error estimates being weaker).  A sample where ``f`` is not
finite spoils only the candidates that use it, so beside a domain boundary the estimate comes
from smaller steps or from the one-sided quotient whose side stays inside the domain, and a
value is nan (with an infinite error) only when no candidate is finite.

The ladder is adaptive with at most three batched calls: a first ladder of large steps (with
the centre and the noise probe); then, only for directions whose error is still above the
rounding of a smaller step, a sparse probe of small steps down to a few ulps of ``x``; then a
dense fill around the best candidate.  Ordinary functions cost 25 evaluations per direction,
hard ones (beside a singularity, far from zero) about 55.

With ``complex_step=True`` the derivative is ``Im f(x + i t v) / t`` at a tiny ``t``: there is
no subtraction, so it is accurate to rounding.  The same quotient at a few points some ulps
away, with a step whose ratio to ``t`` is not a power of two, rounds differently; its scatter
about a smooth fit is the error estimate (9 evaluations per direction).  A direction whose
complex estimates scatter far more than rounding or are not finite (``f`` not analytic there,
or outside its real domain) falls back to the real ladder.

The Hessian uses the same machinery on second differences (diagonal) and four-corner mixed
differences (off-diagonal), extrapolated in ``t**2``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = [
    "COMPLEX_LABEL",
    "NO_ESTIMATE",
    "BatchedFunction",
    "NumericDerivative",
    "directional",
    "hessian",
    "jacobian",
    "one_sided",
]

BatchedFunction = Callable[[np.ndarray], np.ndarray]

EPS = float(np.finfo(np.float64).eps)
TINY = float(np.finfo(np.float64).tiny)
SUBNORMAL = float(np.finfo(np.float64).smallest_subnormal)

# Accuracy assumed of a value of f, in units of eps * |f| (library functions are within an ulp
# or two; the propagation through the weights already assumes the worst signs).
FUNCTION_ULPS = 2.0

# Exponents k of the ladder t = s * 2**-k.  The first round covers the large steps, where
# high-order extrapolation of a smooth function reaches rounding level.  The probe is sparse
# (ratio 16) so that one round reaches 2**-52 * s, a few ulps of x when |x| ~ s; the fill then
# makes the ladder dense (ratio 2) near the best candidate, which a coarse ratio would miss.
FIRST_EXPONENTS = tuple(range(2, 10))
PROBE_EXPONENTS = tuple(range(12, 53, 4))
FILL_BEFORE = 2
FILL_AFTER = 4
MIN_EXPONENT = 1
MAX_EXPONENT = 56

# Measured noise: f is also sampled at x + o * delta * v for the offsets o below (delta = s *
# 2**-NOISE_PROBE_EXPONENT, about a thousand ulps of x when |x| ~ s) and a cubic is fitted to
# those and f(x); its residual is rounding noise for any function smooth on that tiny scale.
# The scale is small enough that smooth parts vanish even beside a singularity, yet large
# enough that intermediate values move by many ulps, so their roundings are independent.  The
# offsets are irregular on purpose: with equal spacing, an intermediate that grows by a near-
# integer number of ulps per sample rounds with a linear drift, which a polynomial absorbs.
NOISE_PROBE_EXPONENT = 42
NOISE_PROBE_OFFSETS = (-3.37, -2.41, -1.53, -0.71, 0.62, 1.44, 2.29, 3.17)
NOISE_PROBE_DEGREE = 3
# Pure noise leaves about the same residual for a cubic and a quintic (a ratio above 10 has
# probability 4e-4 with these offsets); a cubic residual this many times the quintic's is the
# smooth part of f (one varying on a scale far below |x|, like sin at x = 1e10), not noise.
NOISE_CONTAMINATION = 10.0
# Single rounding errors reach a few standard deviations of the measured noise.
NOISE_SAFETY = 3.0
# Measured noise above this fraction of |f(x)| is not rounding: f varies on a scale below the
# probe's (sin at x = 1e14), so the large steps are suspect and the probe round is forced.
ROUGH_NOISE = 1e-8

# Consecutive central quotients whose difference exceeds their noise bounds and is this many
# times the smallest difference among larger steps (truncation only shrinks with the step),
# one that agreed to a relative HIDDEN_NOISE_CONVERGED,
# reveal rounding the noise probe missed (see _Ladder._hidden_noise).
HIDDEN_NOISE_GROWTH = 4.0
HIDDEN_NOISE_CONVERGED = 1e-3
# Hidden rounding above this fraction of |f(x)| is not believed (see _Ladder._hidden_noise).
HIDDEN_NOISE_MAX_REL = 1e-3

# Highest Richardson order (number of eliminated error terms).  Beyond six the weights stop
# paying for themselves in double precision.
MAX_ORDER = 6

# An order-0 candidate has no lower order to compare with; its neighbour at the next smaller
# step differs by 3/4 of its error for a quadratic error term, 1/2 for a linear one, so twice
# the difference bounds it.
ZERO_ORDER_SAFETY = 2.0

# Slack on the leading-term prediction of how much closer the quotients at smaller steps
# must come to a candidate (higher-order terms still matter a little).
DOWNSTREAM_SLACK = 2.0

# One-sided quotients converge only to first order and their Richardson differences are a
# weaker guide (a quotient (f(x+t) - f(x)) / t that decays like 1/t far outside the
# asymptotic range looks converged), so their errors count this many times over.  They still
# win wherever central quotients are not finite (a domain boundary) or much worse.
ONE_SIDED_PENALTY = 4.0

# Every reported error is at least this many eps of |value|: the final operations round too.
ESTIMATE_FLOOR_ULPS = 2.0

# A direction stops refining when its error is below the rounding error a smaller step would
# have (smaller steps cannot help), or already within this many eps of |value|.
GOOD_ENOUGH_ULPS = 64.0

# Complex step: t = s * COMPLEX_STEP is far below any sensible distance to a singularity, yet
# large enough that t * |f'| stays a normal number for derivatives down to ~1e-280.  Rounding
# is measured with the noise probe's offsets and scale, at the step COMPLEX_STEP_RATIO * t (3
# is not a power of two, so the imaginary parts round differently as well).
COMPLEX_STEP = 2.0**-70
COMPLEX_STEP_RATIO = 3.0
COMPLEX_ULPS = 4.0
# A complex-step value farther than this (relative) from the curve through its neighbours is
# not trusted: f is not analytic there, and the real ladder is tried as well.
COMPLEX_FALLBACK_REL = 1e-8

# Candidate tables are built for blocks of entries of at most about this many numbers, and a
# batch of more than MAX_BATCH_ELEMENTS input numbers goes to f in slices (large Jacobians).
CANDIDATE_BUDGET = 2**22
MAX_BATCH_ELEMENTS = 2**25

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
        Same shape: the smallest step (length along the direction) the chosen estimate used,
        the imaginary step for ``"complex-step"`` entries; nan where there is none.
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
    # 2**1023 is the largest finite power of two.
    return np.ldexp(1.0, np.minimum(exponent, 1023))


def _direction_scales(x: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Scale s of each direction: the step t moves input i by t*v_i, so the largest relative
    move max_i |t v_i| / max(|x_i|, 1) equals t / s.  Powers of two keep x +- t exact when
    t <= |x|, so the representable step equals the nominal one there."""
    relative = np.abs(vectors) / np.maximum(np.abs(x), 1.0)
    return _power_of_two_at_least(1.0 / np.max(relative, axis=1))


def _along(moved: np.ndarray, x: np.ndarray, vectors: np.ndarray, nominal: np.ndarray) -> np.ndarray:
    """Length of each representable move ``moved - x`` along its direction.

    ``moved`` is (q, K, n) (points x + nominal * v, rounded), ``vectors`` (q, n), ``nominal``
    (q, K).  Along a coordinate axis the rounded move is exactly a multiple of the axis, and
    that multiple is the true step.  Along a general vector the components round separately,
    so the move is not a multiple of v at all: the nominal length is kept and the rounding is
    left to the noise measurement (which sees the same jitter of the points).
    """
    axis = np.count_nonzero(vectors, axis=1) == 1
    with np.errstate(all="ignore"):
        actual = np.einsum("qkn,qn->qk", moved - x, vectors) / np.einsum("qn,qn->q", vectors, vectors)[:, None]
    return np.where(axis[:, None], actual, nominal)


class _Evaluator:
    """Calls f on a batch, checks the shape, and counts rows."""

    def __init__(self, f: BatchedFunction, *, complex_input: bool = False, scalar: bool = False) -> None:
        self.f = f
        self.complex_input = complex_input
        self.scalar = scalar
        self.evaluations = 0
        self.outputs: int | None = None

    def __call__(self, points: np.ndarray) -> np.ndarray:
        dtype = np.complex128 if self.complex_input else np.float64
        batch = np.ascontiguousarray(points, dtype=dtype)
        # One call normally; a huge batch (large Jacobians) goes in slices to bound memory.
        size = max(1, MAX_BATCH_ELEMENTS // max(batch.shape[1], 1))
        pieces = [self._call_once(batch[lo : lo + size]) for lo in range(0, batch.shape[0], size)]
        return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)

    def _call_once(self, batch: np.ndarray) -> np.ndarray:
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
        if self.scalar and raw.shape[1] != 1:
            raise ValueError(f"a Hessian needs a scalar function, f of shape (k, 1); it returned shape {raw.shape!r}")
        if self.outputs is not None and raw.shape[1] != self.outputs:
            raise ValueError(
                f"f must return the same number of outputs m in every call; got {raw.shape[1]!r} after {self.outputs!r}"
            )
        self.outputs = raw.shape[1]
        if self.complex_input:
            if not np.iscomplexobj(raw):
                # f dropped the imaginary part, so Im f says nothing about f'.
                return np.full(raw.shape, complex(np.nan, np.nan))
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
    """Bound on the rounding error of each sample: the eps*|f| model or the measured noise.

    Values near underflow lose relative precision, so no bound is below the smallest normal.
    """
    return np.maximum(np.maximum(FUNCTION_ULPS * EPS * np.abs(values), NOISE_SAFETY * sigma), TINY)


def _fit_residual_deviation(offsets: np.ndarray, unit: np.ndarray, degree: int) -> np.ndarray:
    """Residual standard deviation (q, m) of least-squares polynomials of ``degree``."""
    design = offsets[:, :, None] ** np.arange(degree + 1)  # (q, N, p)
    projector = np.linalg.pinv(design)  # (q, p, N)
    residual = unit - design @ (projector @ np.nan_to_num(unit))
    return np.sqrt(np.sum(residual**2, axis=1) / (offsets.shape[1] - degree - 1))


def _noise_along(offsets: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """Standard deviation (q, m) of the rounding noise along each of q lines, from fits.

    ``offsets`` is (q, N) and ``samples`` (q, N, m): N values along each line.  A cubic is
    fitted per line and output and its residual measures the noise.  If a quintic fits much
    better, the cubic's residual was the smooth part of the function (one that varies on a
    scale far below its input's, like sin at x = 1e10) and the quintic's residual is used.
    nan where a sample is not finite.
    """
    with np.errstate(all="ignore"):
        # Normalise before squaring: residuals of values near 1e-160 would underflow.
        scale = np.max(np.abs(samples), axis=1, keepdims=True)
        scale = np.where((scale > 0) & np.isfinite(scale), scale, 1.0)
        unit = samples / scale
        low = _fit_residual_deviation(offsets, unit, NOISE_PROBE_DEGREE)
        high = _fit_residual_deviation(offsets, unit, NOISE_PROBE_DEGREE + 2)
        return np.where(low > NOISE_CONTAMINATION * high, high, low) * scale[:, 0, :]


def _measured_noise(offsets: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """Noise (m,) of f near x: the RMS over the lines of :func:`_noise_along` (rounding noise
    is a property of f at x, not of the direction), leaving out lines with non-finite values."""
    sigma = _noise_along(offsets, samples)
    with np.errstate(all="ignore"):
        finite = np.isfinite(sigma)
        top = np.max(np.where(finite, sigma, 0.0), axis=0)  # (m,)
        ratio = np.where(finite, sigma / np.where(top > 0, top, 1.0), 0.0)
        mean_square = (ratio**2).sum(axis=0) / np.maximum(finite.sum(axis=0), 1)
    return top * np.sqrt(mean_square)


class _FirstDerivativeStencil:
    """Samples x +- t v; central, forward and backward quotients of the first derivative."""

    kinds = ("central", "forward", "backward")
    # Rounding error of a first difference grows like 1/t: doubling per halved step.
    growth = 2.0

    def __init__(self, x: np.ndarray, vectors: np.ndarray, scales: np.ndarray) -> None:
        self.x = x
        self.vectors = vectors
        self.scales = scales
        self.entries = vectors.shape[0]

    def points(self, entry: np.ndarray, exponent: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
        t = np.ldexp(self.scales[entry], -exponent)
        v = self.vectors[entry]
        plus = self.x + t[:, None] * v
        minus = self.x - t[:, None] * v
        pts = np.stack([plus, minus], axis=1)
        # The representable steps (x + t v) - x and x - (x - t v), see _along.
        sides = _along(pts, self.x, v, np.stack([t, -t], axis=1))
        t_plus, t_minus = sides[:, 0], -sides[:, 1]
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
            # Unequal representable steps (only where x +- t rounds: t > |x_i|, or x + t
            # crossing a power of two) leave a first-order error (tp - tm)/2 * f''; f'' comes
            # from the same three samples.
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
        steps = {"pi": plus_i - xi, "mi": xi - minus_i, "pj": plus_j - xj, "mj": xj - minus_j}
        return pts, valid, {**steps, "diagonal": diagonal}

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
            # Diagonal: second derivative through x - tm, x, x + tp.  Unequal representable
            # steps (only when t > |x_i|, and then tp - tm is an ulp of t) leave a bias
            # (tp - tm) * f_xxx / 3, far below the rounding term eps |f| / t**2.
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
            # Rounding that large is not rounding.
            plausible = both_sides & (hidden <= HIDDEN_NOISE_MAX_REL * np.abs(self.center))
        return NOISE_SAFETY * np.where(plausible, hidden, 0.0)

    def _choose_block(self, kinds: tuple[str, ...], part: slice) -> _Choice:
        done = self.done[part]
        # Per entry, its evaluated columns first, in exponent order; the rest pad with nan.
        gather = np.argsort(~done, axis=1, kind="stable")
        counts = done.sum(axis=1)
        columns = int(counts.max())
        gather = gather[:, :columns]
        pad = np.arange(columns)[None, :] >= counts[:, None]
        exps = np.where(pad, np.nan, self.exponents[gather].astype(float))
        rows = np.arange(done.shape[0])[:, None]
        values, errors, kind_ids, firsts, last_noise, steps = [], [], [], [], [], []
        hidden = self._hidden_noise(part, rows, gather, pad) if "central" in kinds else None  # (B, m)
        for kind_id, kind in enumerate(kinds):
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
            values.append(cands.value)
            errors.append(penalty * cands.error)
            kind_ids.append(np.full(cands.first.size, kind_id))
            firsts.append(cands.first)
            last_noise.append(penalty * noise[np.arange(noise.shape[0]), counts - 1])  # (B, m)
            steps.append(store["step"][rows, gather][:, cands.last])  # (B, N): each window's smallest step
        value = np.concatenate(values, axis=2)
        error = np.concatenate(errors, axis=2)
        kind_id = np.concatenate(kind_ids)
        first = np.concatenate(firsts)
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
        chosen = np.where(ok, chosen, np.nan)
        best_kind = kind_id[best]
        labels = np.array([_KIND_LABELS[k] for k in kinds], dtype=object)
        method = np.where(ok, labels[best_kind], NO_ESTIMATE).astype(object)
        b_index = np.arange(value.shape[0])[:, None]
        step = np.where(ok, np.take_along_axis(np.concatenate(steps, axis=1), best, axis=1), np.nan)
        first_exponent = np.where(ok, exps[b_index, first[best]], np.nan)
        # Smaller steps cannot help once the error is below the rounding error of the next
        # smaller step (rounding grows as the step shrinks) or near rounding of the value.
        noise_next = self.stencil.growth * np.stack(last_noise)[best_kind, b_index, np.arange(value.shape[1])[None, :]]
        with np.errstate(invalid="ignore"):
            resolved = (chosen_error <= noise_next) | (chosen_error <= GOOD_ENOUGH_ULPS * EPS * np.abs(chosen))
            # Measured noise far above rounding means f is not smooth on the probe's scale,
            # so the steps so far (much larger) are suspect and the noise bound means little.
            rough = self.sigma > ROUGH_NOISE * np.abs(self.center)
        resolved &= ~rough[None, :]
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


def _complex_step(
    f: BatchedFunction, x: np.ndarray, vectors: np.ndarray, scales: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """The complex step ``Im f(x + i t v) / t``: value, error, doubtful (each (D, m)), evaluations.

    The rounding is measured like the real ladder's noise: complex-step derivatives at points
    a few ulps away along ``v`` (with the step ``COMPLEX_STEP_RATIO * t``, so the imaginary
    parts round differently too) lie on a smooth curve up to their rounding, and the residual
    of a polynomial fit through them and the value measures it.  sin(1/x) rounds 1/x, which
    the imaginary part inherits: a second step at the same point would not see that.
    """
    call = _Evaluator(f, complex_input=True)
    t = scales * COMPLEX_STEP
    wide = t * COMPLEX_STEP_RATIO
    delta = np.ldexp(scales, -NOISE_PROBE_EXPONENT)
    nominal = np.asarray(NOISE_PROBE_OFFSETS)
    shifted = x + nominal[None, :, None] * delta[:, None, None] * vectors[:, None, :]  # (D, N, n)
    offsets = _along(shifted, x, vectors, nominal[None, :] * delta[:, None]) / delta[:, None]
    count, probes = shifted.shape[:2]
    pts = np.concatenate(
        [
            x + 1j * t[:, None] * vectors,
            (shifted + 1j * wide[:, None, None] * vectors[:, None, :]).reshape(-1, x.size),
        ]
    )
    raw = call(pts)
    value = raw[:count].imag / t[:, None]
    around = raw[count:].imag.reshape(count, probes, -1) / wide[:, None, None]
    line = np.concatenate([value[:, None, :], around], axis=1)
    sigma = _noise_along(np.concatenate([np.zeros((count, 1)), offsets], axis=1), line)
    with np.errstate(all="ignore"):
        # The value's own distance from the curve through the other points: rounding, or,
        # when f is not analytic there (Im f does not scale with the step), most of the value.
        design = offsets[:, :, None] ** np.arange(NOISE_PROBE_DEGREE + 1)
        curve_at_x = (np.linalg.pinv(design) @ around)[:, 0, :]
        deviation = np.fmax(sigma, np.abs(value - curve_at_x))
        # Below the smallest normal number Im f keeps only absolute precision (subnormal
        # spacing), so a derivative under SUBNORMAL / t cannot be resolved.
        floor = COMPLEX_ULPS * SUBNORMAL / t[:, None]
        error = NOISE_SAFETY * deviation + COMPLEX_ULPS * EPS * np.abs(value) + floor
        # Scatter far beyond rounding: f is not analytic there, or x is on a branch cut (log
        # of a negative number); the real ladder may do better.
        doubtful = ~(deviation <= COMPLEX_FALLBACK_REL * np.abs(value))
    ok = np.isfinite(value) & np.isfinite(error)
    return np.where(ok, value, np.nan), np.where(ok, error, np.inf), doubtful | ~ok, call.evaluations


def _real_ladder(f: BatchedFunction, x: np.ndarray, vectors: np.ndarray, scales: np.ndarray) -> tuple[_Choice, int]:
    call = _Evaluator(f)
    stencil = _FirstDerivativeStencil(x, vectors, scales)
    (choice,) = _run_ladder(stencil, call, x, (_FirstDerivativeStencil.kinds,))
    return choice, call.evaluations


def _directional_core(f: BatchedFunction, x: np.ndarray, vectors: np.ndarray, complex_step: bool) -> NumericDerivative:
    scales = _direction_scales(x, vectors)
    if not complex_step:
        choice, evaluations = _real_ladder(f, x, vectors, scales)
        return NumericDerivative(choice.value.T, choice.error.T, choice.method.T, evaluations, choice.step.T)
    value, error, doubtful, evaluations = _complex_step(f, x, vectors, scales)
    method = np.full(value.shape, COMPLEX_LABEL, dtype=object)
    step = np.broadcast_to((scales * COMPLEX_STEP)[:, None], value.shape).copy()
    redo = np.flatnonzero(np.any(doubtful, axis=1))
    if redo.size:
        choice, more = _real_ladder(f, x, vectors[redo], scales[redo])
        evaluations += more
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


def directional(
    f: BatchedFunction, x: np.ndarray, directions: np.ndarray, *, complex_step: bool = False
) -> NumericDerivative:
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
    call = _Evaluator(f, scalar=True)
    stencil = _HessianStencil(point, _power_of_two_at_least(np.maximum(np.abs(point), 1.0)))
    (choice,) = _run_ladder(stencil, call, point, (_HessianStencil.kinds,))
    n = point.size
    out = {}
    for name, fill in (("value", np.nan), ("error", np.inf), ("method", NO_ESTIMATE), ("step", np.nan)):
        flat = getattr(choice, name)[:, 0]
        full = np.full((n, n), fill, dtype=object if name == "method" else np.float64)
        full[stencil.rows, stencil.cols] = flat
        full[stencil.cols, stencil.rows] = flat
        out[name] = full
    return NumericDerivative(out["value"], out["error"], out["method"], call.evaluations, out["step"])
