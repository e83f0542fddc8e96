"""check_function composed: nothing to compare, the user's gradient read, first order redone with
real differences when the complex step turns out not to hold."""

from __future__ import annotations

import numpy as np
import torch

from derivcheck.engines.numeric import Method
from derivcheck.gradcheck.checks import check_function
from derivcheck.gradcheck.numpy_function import NumpyFunction
from derivcheck.gradcheck.result import Approach, Mode, Options
from derivcheck.gradcheck.torch_function import TorchFunction
from derivcheck.verdict import Source, Verdict


def test_a_complex_step_that_does_not_hold_is_redone_with_real_differences() -> None:
    # |x|**3 is not analytic in complex arithmetic, which the one complex evaluation that chooses
    # the method does not show; a comparison that fails on a complex-step value does
    def f(x):
        return x[0] ** 2 + np.sum(np.abs(x[1:]) ** 3)

    def grad(x):  # entry 6 is off by one
        return np.concatenate([[2 * x[0]], 3 * x[1:] * np.abs(x[1:]) + (np.arange(x.size - 1) == 5)])

    result = check_function(NumpyFunction(f, np.linspace(0.3, 1.3, 100)), grad, Options(), "f")
    assert result.verdict is Verdict.MISMATCH and result.strategy is Approach.DIRECTIONAL
    assert [(r.index, r.wrong) for r in result.suspects] == [((0, 6), (Source.CLAIM,))]
    assert result.reference == "numeric (central differences with Richardson extrapolation)"
    assert all(Method.COMPLEX_STEP not in Method.within(r.method) for r in (*result.rows, *result.suspects))
    assert result.notes[0].startswith("the complex step disagrees with real differences")
    assert result.causes == ("the error is confined to one entry: x[6]",)


def test_nothing_to_compare_is_a_pass_that_says_so() -> None:
    empty = TorchFunction(lambda x: x.sum(), torch.zeros(0, dtype=torch.float64, requires_grad=True))
    result = check_function(empty, None, Options(), "f")
    assert result.verdict is Verdict.PASS and result.evaluations == 0 and result.strategy is Approach.NONE
    assert result.notes == ("nothing to compare: the checked inputs have no entries (an empty Jacobian is right)",)


def test_a_gradient_of_the_wrong_shape_is_the_grad_modes_mismatch() -> None:
    fn = NumpyFunction(lambda x: np.sum(x ** 2), np.ones((2, 3)))
    result = check_function(fn, lambda x: (2 * x).T, Options(), "f")
    assert result.verdict is Verdict.MISMATCH and result.evaluations == 2  # the point and its repeat
    assert [(m.mode, m.verdict) for m in result.modes] == [(Mode.GRAD, Verdict.MISMATCH)]
    assert result.notes == (("grad returned shape (3, 2) for 'x' of shape (2, 3) (the transposed shape: a matrix "
                             "transposed?)"),)
