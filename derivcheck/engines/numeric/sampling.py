"""Step ladders' shared pieces: named constants, the result type, points, directions and batched
evaluation with representable steps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from derivcheck.engines.numeric.methods import Method

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
# Measured noise is eps times the size of the terms f's values are computed from, which
# cancellation can leave far above the values themselves (a loss at its minimum: 0 from terms
# of size 1); terms beyond this many times the values f takes over the ladder's steps are not
# terms but a jump within the probe's scale, and the noise is not reported as rounding.
NOISE_TERMS_MAX = 1e6
# Measured noise above this fraction of |f(x)| is not rounding: f varies on a scale below the
# probe's (sin at x = 1e14), so the large steps are suspect and the probe round is forced.
ROUGH_NOISE = 1e-8

# Consecutive central quotients whose difference exceeds their noise bounds and is this many
# times the smallest difference among larger steps (truncation only shrinks with the step),
# one that agreed to a relative HIDDEN_NOISE_CONVERGED,
# reveal rounding the noise probe missed (see _Ladder._hidden_noise).
HIDDEN_NOISE_GROWTH = 4.0
HIDDEN_NOISE_CONVERGED = 1e-3
# Hidden rounding above this fraction of |f(x)| is not believed (see _Ladder._hidden_noise),
# nor above this many eps of how far f moves over the ladder's largest step, where f(x) is 0:
# a solver's own thresholds (LAPACK deflates below ~100 eps of the matrix) err by tens of
# ulps of its terms, while a kink 1e-10 away, seen as "rounding", would be 1e6 of them.
HIDDEN_NOISE_MAX_REL = 1e-3
HIDDEN_NOISE_TERMS_ULPS = 4096.0

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
    "central": Method.CENTRAL,
    "forward": Method.FORWARD,
    "backward": Method.BACKWARD,
}
NO_ESTIMATE = Method.NONE
COMPLEX_LABEL = Method.COMPLEX_STEP


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
        Same shape, dtype object: how each entry was obtained, a ``Method`` (``"complex-step"``,
        ``"central-richardson"``, ``"forward-richardson"``, ``"backward-richardson"``,
        ``"none"``, ...).
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
    #: where no estimate was made for want of smoothness (the shrinking search): the smallest
    #: non-scaling half second difference |f(x+t) + f(x-t) - 2 f(x)| / 2t, a floor on any estimate's error
    roughness: np.ndarray | None = None
    #: where the one-sided quotients grow as the step shrinks (gap ~ J / t: the value jumps at x):
    #: the size J of the jump; 0 elsewhere (a kink's gap stays put)
    jump: np.ndarray | None = None
    #: the rounding noise (a standard deviation) the step ladder or the complex step measured in
    #: f's values a few ulps from x, per output and direction; ``noise / eps`` is the size of the
    #: terms f's values are computed from, which cancellation can leave far above |f(x)|
    noise: np.ndarray | None = None


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


def _direction_scales(x: np.ndarray, vectors: np.ndarray, typical: np.ndarray | None = None) -> np.ndarray:
    """Scale s of each direction: the step t moves input i by t*v_i, so the largest relative
    move max_i |t v_i| / max(|x_i|, typical_i) equals t / s.  ``typical`` is each input's usual
    magnitude (default 1): an entry equal to 0 moves on the scale of its neighbours, not of 0.
    Powers of two keep x +- t exact when t <= |x|, so the representable step equals the nominal
    one there."""
    floor = 1.0 if typical is None else typical
    relative = np.abs(vectors) / np.maximum(np.abs(x), floor)
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
