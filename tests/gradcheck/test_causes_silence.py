"""Likely causes where their arithmetic cannot apply (zero ratios, shapes that do not fit, empty
layouts): each rule says nothing and never raises; the conjugation rule for complex inputs."""

from __future__ import annotations

import numpy as np
import pytest

from derivcheck.flat_index import Layout
from derivcheck.gradcheck.causes import (
    confinement_cause,
    conjugate_cause,
    coupling_cause,
    ratio_cause,
    term_cause,
    transposed_cause,
)

VECTOR = Layout(("x",), ((4,),), (0,))
COMPLEX = Layout(("z",), ((2, 2, 2),), (0,), complex=(True,))  # a (2, 2) complex tensor: real view


@pytest.mark.parametrize("reference, computed", [
    (np.array([1.0, 2.0, 3.0]), np.array([0.0, 0.0, 5.0])),  # median ratio 0: corrcoef's ZeroDivisionError
    (np.array([1e-300, 2.0]), np.array([1e300, 0.0])),  # ratios overflow
    (np.array([np.nan, 1.0]), np.array([np.inf, np.nan])),
    (np.array([]), np.array([])),
])
def test_ratio_rule_says_nothing_where_no_ratio_applies(reference, computed) -> None:
    assert ratio_cause(reference, computed) is None


def test_ratio_rule_still_names_a_factor() -> None:
    assert "factor of 2 missing" in ratio_cause(np.array([2.0, 4.0]), np.array([1.0, 2.0]))


@pytest.mark.parametrize("call", [
    lambda: transposed_cause(VECTOR, np.ones((3, 3)), np.ones((2, 5))),  # a batched gradient of another shape
    lambda: transposed_cause(Layout(("w",), ((2, 2),), (0,)), np.ones(3), np.ones(3)),
    lambda: coupling_cause(np.ones((2, 2)), np.ones((3, 3))),
    lambda: confinement_cause(Layout((), (), ()), [0]),
    lambda: confinement_cause(VECTOR, [7]),
    lambda: term_cause(np.ones(3), [("w", np.ones(5))], np.ones(3) * 2),
    lambda: conjugate_cause(VECTOR, VECTOR, np.ones((4, 4)), np.ones((4, 4))),
    lambda: conjugate_cause(COMPLEX, COMPLEX, np.ones((2, 8)), np.ones((8, 2))),
])
def test_rules_that_cannot_apply_say_nothing(call) -> None:
    assert call() is None


def test_a_conjugated_input_gradient_is_named() -> None:
    rng = np.random.default_rng(0)
    reference = rng.standard_normal((1, 8))
    computed = reference * np.array([1, -1] * 4)
    assert "conjugated" in conjugate_cause(COMPLEX, Layout(("out",), ((),), (0,)), reference, computed)
    assert conjugate_cause(COMPLEX, Layout(("out",), ((),), (0,)), reference, reference) is None
