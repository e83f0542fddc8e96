"""Likely causes, each rule on its own: it names the cause when the evidence fits and says nothing
when it does not (a rule that cannot apply is silent, never a crash)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from derivcheck.flat_index import Layout
from derivcheck.gradcheck.causes import (
    confinement_cause,
    coupling_cause,
    ratio_cause,
    term_cause,
    transposed_cause,
    transposed_shape_cause,
)

REF = np.array([1.5, -2.0, 0.25, 4.0])


@pytest.mark.parametrize(
    ("factor", "expected"),
    [
        (-1.0, "sign flipped"),
        (2.0, "a factor of 2 too many"),
        (0.5, "a factor of 2 missing"),
        (4.0, "constant factor: computed = 4 x reference"),
        (1 / 8, "constant factor: computed = reference / 8"),
        (1 + 3e-5, "relative error +3e-05"),
    ],
)
def test_one_ratio_on_every_entry_is_named(factor, expected):
    assert expected in ratio_cause(REF, factor * REF)


def test_unrelated_values_name_no_ratio():
    assert ratio_cause(REF, np.array([7.0, 1.0, -3.0, 0.5])) is None


def test_a_zero_computed_gradient_is_a_missing_path():
    assert "a term or a path is missing" in ratio_cause(REF, np.zeros(4))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True, width=64), min_size=1, max_size=6),
       st.lists(st.floats(allow_nan=True, allow_infinity=True, width=64), min_size=1, max_size=6))
def test_ratio_rule_never_crashes(reference, computed):
    n = min(len(reference), len(computed))
    out = ratio_cause(np.array(reference[:n]), np.array(computed[:n]))
    assert out is None or isinstance(out, str)


def _layout(*tensors: tuple[str, tuple[int, ...]]) -> Layout:
    offsets, total = [], 0
    for _, shape in tensors:
        offsets.append(total)
        total += int(np.prod(shape, dtype=int))
    return Layout(tuple(n for n, _ in tensors), tuple(s for _, s in tensors), tuple(offsets))


def test_layout_names_entries_row_major():
    layout = _layout(("b", (3,)), ("W", (2, 3)))
    assert [layout.label(i) for i in (0, 2, 3, 5, 8)] == ["b[0]", "b[2]", "W[0, 0]", "W[0, 2]", "W[1, 2]"]
    with pytest.raises(IndexError):
        layout.locate(9)


def test_a_transposed_square_matrix_gradient_is_named():
    rng = np.random.default_rng(0)
    grad = rng.normal(size=(3, 3))
    layout = _layout(("W", (3, 3)))
    assert "'W' is transposed" in transposed_cause(layout, grad.ravel(), grad.T.ravel())
    assert transposed_cause(layout, grad.ravel(), grad.ravel()) is None
    symmetric = grad + grad.T  # its transpose is itself: no evidence either way
    assert transposed_cause(layout, symmetric.ravel(), 2 * symmetric.ravel()) is None


def test_transposed_shape_message_is_recognised():
    assert transposed_shape_cause("got [2, 3] but expected shape compatible with [3, 2]")
    assert transposed_shape_cause("got [2, 3] but expected shape compatible with [2, 4]") is None


def test_a_diagonal_jacobian_where_the_reference_couples_is_named():
    p = np.array([0.2, 0.3, 0.5])
    softmax_jacobian = np.diag(p) - np.outer(p, p)
    assert "coupling terms" in coupling_cause(softmax_jacobian, np.diag(np.diag(softmax_jacobian)))
    assert coupling_cause(np.diag(p), np.diag(2 * p)) is None


def test_confinement_to_one_entry_one_tensor_and_one_batch_row():
    inputs = _layout(("x", (4, 3)), ("b", (3,)))
    assert confinement_cause(inputs, [7]) == "the error is confined to one entry: x[2, 1]"
    assert "only 'b' is wrong" in confinement_cause(inputs, [12, 14])
    assert "batch row 1 of 'x'" in confinement_cause(inputs, [3, 4, 5])
    assert confinement_cause(inputs, [7], complete=False) is None
    assert confinement_cause(inputs, []) is None


def test_a_term_held_constant_is_named_only_when_it_matches():
    reference = np.array([3.0, 5.0])
    variants = [("the first factor", np.array([1.0, 2.0])), ("the second factor", np.array([2.0, 3.0]))]
    assert "the second factor held constant" in term_cause(np.array([2.0, 3.0]), variants, reference)
    assert term_cause(np.array([9.0, 9.0]), variants, reference) is None
    assert term_cause(reference, variants, reference) is None  # a right gradient has no missing term
