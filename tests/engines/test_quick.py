"""The numeric engine's cheap estimates: one central difference, and the shrinking search."""

from __future__ import annotations

import numpy as np
import pytest

from derivcheck.engines.numeric import QUICK_EXPONENT, central_once, shrinking


def test_one_central_difference_per_direction_against_the_exact_derivative() -> None:
    x = np.array([0.3, -1.7, 2.5])
    d = central_once(lambda p: np.sin(p) * np.exp(p[:, :1]), x, np.eye(3))
    exact = np.diag(np.cos(x) * np.exp(x[0]))
    exact[:, 0] += np.sin(x) * np.exp(x[0])
    assert d.evaluations == 6
    assert np.all(np.abs(d.value - exact) <= 1e-9 * np.abs(exact).max())


def test_the_step_of_a_zero_entry_follows_the_typical_magnitude() -> None:
    x = np.array([0.0, 3e-3])
    small = central_once(lambda p: p**2, x, np.eye(2), typical=np.array([3e-3, 3e-3]))
    plain = central_once(lambda p: p**2, x, np.eye(2))
    assert small.step[0, 0] == pytest.approx(2.0**-8 * 2.0**-QUICK_EXPONENT)  # 2**-8 >= 3e-3
    assert plain.step[0, 0] == pytest.approx(2.0**-QUICK_EXPONENT)


def test_a_point_outside_the_domain_gives_no_estimate() -> None:
    d = central_once(lambda p: np.log(p), np.array([1e-7]), np.eye(1))
    assert np.isnan(d.value[0, 0]) and d.error[0, 0] == np.inf and d.method[0, 0] == "none"


def test_the_shrinking_search_steps_off_a_staircase() -> None:
    stairs = lambda p: np.round(p * 1000) / 1000  # noqa: E731
    d = shrinking(stairs, np.array([0.5005 - 1e-6, 0.2503]), np.eye(2))
    assert np.all(d.value == 0) and np.all(d.error < 1e-6)


def test_the_shrinking_search_finds_the_slope_beside_a_kink() -> None:
    d = shrinking(lambda p: np.abs(p - 3e-6), np.array([0.0]), np.eye(1))
    assert d.value[0, 0] == pytest.approx(-1.0, abs=1e-9) and d.error[0, 0] < 1e-9


def test_the_shrinking_search_has_no_estimate_on_a_kink_at_the_point() -> None:
    d = shrinking(lambda p: np.abs(p), np.array([0.0]), np.eye(1))
    assert d.error[0, 0] == np.inf and d.method[0, 0] == "none"


def test_the_shrinking_search_sees_rounding_the_eps_model_misses() -> None:
    # GELU's far tail: 1 + tanh(u) near 1e-11 is quantised in steps of eps
    c = np.sqrt(2 / np.pi)
    gelu = lambda p: 0.5 * p * (1 + np.tanh(c * (p + 0.044715 * p**3)))  # noqa: E731
    d = shrinking(gelu, np.array([-6.0]), np.eye(1))
    u = c * (-6.0 + 0.044715 * (-6.0) ** 3)
    exact = 0.5 * (1 + np.tanh(u)) + 0.5 * -6.0 * (1 - np.tanh(u) ** 2) * c * (1 + 3 * 0.044715 * 36)
    assert abs(d.value[0, 0] - exact) <= 4 * d.error[0, 0]
