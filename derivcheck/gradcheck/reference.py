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
from derivcheck.verdict import FLOAT32_EPS, NUMERIC_K, Row, Verdict

#: rounding of a float32-only function, in float32 ulps of its size, per sample
FLOAT32_ROUNDING_ULPS = 4.0


class Numeric:
    """Finite differences of the user's function, with the complex step where it is valid."""

    def __init__(self, fn, numeric_k: float = NUMERIC_K) -> None:
        self.fn = fn
        self.numeric_k = numeric_k  # the user's override (Tolerances.numeric_k) holds here too
        self.evaluations = 0
        self.complex: bool | None = None
        self.note = ""

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
        cs = finite_diff.directional(self.fn.evaluate, self.fn.x, direction[None], complex_step=True)
        real = finite_diff.directional(self.fn.evaluate, self.fn.x, direction[None])
        self.evaluations += cs.evaluations + real.evaluations
        if np.all(np.abs(cs.value - real.value) <= self.numeric_k * (real.error + cs.error)):
            return False
        self.complex = False
        self.note = ("the complex step disagrees with real differences (the function is not analytic in "
                     "complex arithmetic); real differences used")
        return True

    def directional(self, vectors: np.ndarray, f: Callable | None = None) -> finite_diff.NumericDerivative:
        """``(m, d)`` derivatives of ``f`` (the user's function by default) along the rows of ``vectors``."""
        if f is None:
            complex_step = self._decide(vectors[0])
            result = finite_diff.directional(self.fn.evaluate, self.fn.x, vectors, complex_step=complex_step)
        else:
            result = finite_diff.directional(f, self.fn.x, vectors)
        self.evaluations += result.evaluations
        return self._floor(result)

    def _floor(self, result: finite_diff.NumericDerivative) -> finite_diff.NumericDerivative:
        """finite_diff assumes float64 values; a function that only computes in float32 rounds
        ~1e-7 of its size at every sample, so its quotients carry at least that over the step."""
        if self.fn.reference_dtype == "float64" or result.step is None:
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
            result = finite_diff.jacobian(self.fn.evaluate, self.fn.x, complex_step=self._decide(first))
        else:
            result = finite_diff.jacobian(f, self.fn.x)
        self.evaluations += result.evaluations
        return self._floor(result)

    def one_sided(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        left, right, error = finite_diff.one_sided(self.fn.evaluate, self.fn.x, vectors)
        return left, right, error

    @property
    def method(self) -> str:
        return "complex step" if self.complex else "central differences with Richardson extrapolation"


def kink_possible(row: Row) -> bool:
    """A failing row might sit on a kink, unless its numeric value came from the complex step
    (which agreed with real differences: the function is analytic along that direction)."""
    return row.verdict is not Verdict.PASS and finite_diff.COMPLEX_LABEL not in (row.method or "")
