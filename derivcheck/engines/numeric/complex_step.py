"""The complex step Im f(x + i t v) / t, with a scatter-based error estimate.
"""

from __future__ import annotations

import numpy as np

from derivcheck.engines.numeric.noise import _noise_along
from derivcheck.engines.numeric.sampling import (
    COMPLEX_FALLBACK_REL,
    COMPLEX_STEP,
    COMPLEX_STEP_RATIO,
    COMPLEX_ULPS,
    EPS,
    NOISE_PROBE_DEGREE,
    NOISE_PROBE_EXPONENT,
    NOISE_PROBE_OFFSETS,
    NOISE_SAFETY,
    SUBNORMAL,
    BatchedFunction,
    _along,
    _Evaluator,
)

# --------------------------------------------------------------------------------------------
# Complex step
# --------------------------------------------------------------------------------------------


def _complex_step(
    f: BatchedFunction, x: np.ndarray, vectors: np.ndarray, scales: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """The complex step ``Im f(x + i t v) / t``: value, error, doubtful, the rounding noise of
    the real parts (f's values; each (D, m)), evaluations.

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
    real = np.concatenate([raw[:count].real[:, None, :], raw[count:].real.reshape(count, probes, -1)], axis=1)
    real_noise = _noise_along(np.concatenate([np.zeros((count, 1)), offsets], axis=1), real)
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
    return np.where(ok, value, np.nan), np.where(ok, error, np.inf), doubtful | ~ok, real_noise, call.evaluations
