"""The step ladder beside a function that changes its arithmetic at sub-rounding steps.

An eigen- or singular-vector solver treats an off-diagonal entry below about 100 eps of the
matrix as zero (LAPACK's deflation test): for steps that small the computed vector is another
one, and f's quotients jump to another value. A null vector of an exactly consistent system
makes f(x) = 0, so the samples look free of rounding. The quotients at ordinary steps, which
agree over thirty binary orders, are the derivative; the jump at the smallest steps is rounding
of the matrix, not a slope.
"""

from __future__ import annotations

import numpy as np
import pytest

from derivcheck.engines.numeric import directional, jacobian

EPS = float(np.finfo(np.float64).eps)


def deflating_eigenvector(points: np.ndarray) -> np.ndarray:
    """v0 / v1 of the eigenvector for the smaller eigenvalue of [[a, b], [b, d]], a > d, with an
    off-diagonal b below 100 eps (|a| + |d|) deflated to 0 (then the vector is (0, 1): f = 0)."""
    a, b, d = points[:, 0], points[:, 1], points[:, 2]
    smaller = (a + d) / 2 - np.sqrt(((a - d) / 2) ** 2 + b**2)
    ratio = b / (smaller - a)
    return np.where(np.abs(b) <= 100 * EPS * (np.abs(a) + np.abs(d)), 0.0, ratio)[:, None]


def exact_slope(a: float, d: float) -> float:
    return 1.0 / (d - a)  # d/db of b / (smaller - a) at b = 0, where smaller = d


@pytest.mark.parametrize(("a", "d", "typical"), [(1.0, 0.25, 0.6), (3.0, -1.0, 1.0), (1.0, 0.5, 1e-3)])
def test_a_branch_at_sub_rounding_steps_does_not_outvote_ordinary_steps(a: float, d: float, typical: float) -> None:
    x = np.array([a, 0.0, d])
    result = directional(deflating_eigenvector, x, np.array([[0.0, 1.0, 0.0]]), typical=np.full(3, typical))
    assert result.value[0, 0] == pytest.approx(exact_slope(a, d), rel=1e-9)
    assert result.error[0, 0] < 1e-8 * abs(exact_slope(a, d))
    assert abs(result.value[0, 0] - exact_slope(a, d)) <= result.error[0, 0] * 4


def test_the_jacobian_column_of_the_deflated_entry_is_the_slope() -> None:
    x = np.array([1.0, 0.0, 0.25])
    result = jacobian(deflating_eigenvector, x, typical=np.full(3, 0.6))
    assert result.value[0, 1] == pytest.approx(exact_slope(1.0, 0.25), rel=1e-9)
    assert abs(result.value[0, 1] - exact_slope(1.0, 0.25)) <= 4 * result.error[0, 1]


@pytest.mark.parametrize("delta", [1e-10, 1e-8])
def test_kinks_beside_a_zero_value_are_not_taken_for_rounding(delta: float) -> None:
    # f(x) = 0 and flat within delta of x, slopes 1 and -2 beyond: every quotient at a step above
    # delta reads -1/2, those below read 0 (the derivative). A feature 1e-10 away is a million
    # ulps of the input's scale, not a solver's rounding: no confident -1/2
    def two_kinks(p: np.ndarray) -> np.ndarray:
        return (np.maximum(p[:, :1] - delta, 0.0) + 2 * np.maximum(-p[:, :1] - delta, 0.0))

    result = directional(two_kinks, np.array([0.0]), np.array([[1.0]]))
    assert abs(result.value[0, 0]) <= 4 * result.error[0, 0]


@pytest.mark.parametrize("complex_step", [False, True])
def test_the_measured_rounding_of_values_that_cancel_shows_the_size_of_their_terms(complex_step: bool) -> None:
    # (1 + 2 p**2) - 1 is 2e-8 at p = 1e-4, computed from terms of size 1: its values round
    # like 1's, about eps, not like 2e-8's
    def cancelling(p: np.ndarray) -> np.ndarray:
        return (1.0 + 2 * p[:, :1] ** 2) - 1.0

    result = directional(cancelling, np.array([1e-4]), np.array([[1.0]]), complex_step=complex_step)
    assert result.value[0, 0] == pytest.approx(4e-4, rel=1e-6)
    assert 1e-3 <= result.noise[0, 0] / EPS <= 10.0


def test_a_jump_within_the_noise_probe_is_not_reported_as_rounding() -> None:
    result = directional(lambda p: np.floor(p * 1000), np.array([0.25]), np.array([[1.0]]))
    assert np.isnan(result.noise[0, 0])
