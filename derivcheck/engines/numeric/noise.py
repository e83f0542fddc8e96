"""The rounding noise a function shows near a point, measured from a polynomial fit.
"""

from __future__ import annotations

import numpy as np

from derivcheck.engines.numeric.sampling import (
    EPS,
    FUNCTION_ULPS,
    NOISE_CONTAMINATION,
    NOISE_PROBE_DEGREE,
    NOISE_SAFETY,
    TINY,
)


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
