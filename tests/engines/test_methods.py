"""The numeric method as a typed value: members are their labels, decisions test membership."""

import json

import numpy as np

from derivcheck.engines import numeric as finite_diff
from derivcheck.engines.numeric import Method
from derivcheck.engines.numeric.methods import labelled
from derivcheck.gradcheck.reference import kink_possible
from derivcheck.model import Quantity
from derivcheck.verdict import Entry, Tolerances, judge


def test_members_read_as_the_labels_users_see() -> None:
    text = '["complex-step", "central-one-step (unrefined: budget)"]'
    assert json.dumps([Method.COMPLEX_STEP, Method.UNREFINED]) == text
    assert f"{Method.CENTRAL}" == "central-richardson" and str(Method.QUICK) == "central-one-step"


def test_within_reads_joined_labels_and_ignores_other_text() -> None:
    assert Method.within("central-richardson, complex-step") == {Method.CENTRAL, Method.COMPLEX_STEP}
    assert Method.within("float64 autograd of the same code") == frozenset()
    # a substring is not a member: the old test `"complex-step" in text` would have matched this
    assert Method.within("not-complex-step") == frozenset()


def test_labelled_keeps_members_not_numpy_strings() -> None:
    out = labelled(np.array([True, False]), Method.QUICK)
    assert out.dtype == object and out[0] is Method.QUICK and out[1] is Method.NONE


def test_engines_return_members() -> None:
    x = np.array([0.5, 1.0])
    quick = finite_diff.central_once(lambda p: np.sin(p), x, np.eye(2))
    assert all(m is Method.QUICK for m in quick.method.ravel())
    cs = finite_diff.directional(lambda p: np.sin(p), x, np.eye(2), complex_step=True)
    assert all(m is Method.COMPLEX_STEP for m in cs.method.ravel())


def _row(method: str):
    return judge(Entry(quantity=Quantity.JACOBIAN, point=0, index=(0, 0), label="d", reverse=2.0, numeric=1.0,
                       numeric_error=1e-12, method=method, scale=1.0), Tolerances())


def test_a_kink_is_possible_unless_the_complex_step_stood_behind_the_value() -> None:
    assert kink_possible(_row(Method.CENTRAL))
    assert not kink_possible(_row(f"{Method.CENTRAL}, {Method.COMPLEX_STEP}"))
    assert kink_possible(_row("complex-steps"))  # text that merely contains the label decides nothing
