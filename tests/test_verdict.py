"""The comparator: which source is wrong, error budgets without fixed floors, kinks, inconclusive."""

from __future__ import annotations

import math

import pytest

from derivcheck.model import Quantity
from derivcheck.verdict import ClaimValue, Entry, Source, Tolerances, Verdict, dtype_rule, judge, overall


def entry(**kw) -> Entry:
    base = dict(quantity=Quantity.JACOBIAN, point=0, index=(0, 0), label="df/dx")
    base.update(kw)
    return Entry(**base)


def test_agreement_passes() -> None:
    row = judge(entry(exact=2.0, reverse=2.0, forward=2.0 + 1e-15, numeric=2.0 + 1e-11, numeric_error=1e-10, scale=2.0))
    assert row.verdict is Verdict.PASS and row.wrong == ()
    assert row.error == abs((2.0 + 1e-15) - 2.0)


def test_wrong_reverse_mode_is_named() -> None:
    row = judge(entry(exact=2.0, reverse=2.0 * (1 + 1e-5), forward=2.0, numeric=2.0, numeric_error=1e-12, scale=2.0))
    assert row.verdict is Verdict.MISMATCH and row.wrong == (Source.REVERSE,)


def test_exact_is_blamed_only_when_every_engine_agrees_against_it() -> None:
    row = judge(entry(exact=1.0, reverse=0.5, forward=0.5, numeric=0.5, numeric_error=1e-12, scale=1.0))
    assert row.wrong == (Source.EXACT,)


def test_an_inaccurate_numeric_estimate_does_not_fail_the_entry() -> None:
    row = judge(entry(exact=1.0, reverse=1.0, forward=1.0, numeric=1.001, numeric_error=1e-9, scale=1.0))
    assert row.verdict is Verdict.PASS and "numeric is wrong" in row.note


@pytest.mark.parametrize(
    "claim, cause",
    [(-3.0, "sign flipped"), (6.0, "twice"), (1.5, "half"), (3.0 * 1.0001, "truncated constant")],
)
def test_wrong_claims_are_caught_with_a_likely_cause(claim: float, cause: str) -> None:
    row = judge(entry(exact=3.0, reverse=3.0, numeric=3.0, numeric_error=1e-12, scale=3.0,
                      claims=(ClaimValue("d/dx", "text", claim),)))
    assert row.verdict is Verdict.MISMATCH and row.wrong == (Source.CLAIM,)
    assert cause in row.note


def test_truncated_two_over_sqrt_pi_is_a_wrong_claim() -> None:
    exact = 2 / math.sqrt(math.pi)
    row = judge(entry(exact=exact, reverse=exact, numeric=exact, numeric_error=1e-14, scale=exact,
                      claims=(ClaimValue("d/dx", "1.128", 1.128),)))
    assert row.verdict is Verdict.MISMATCH


def test_no_absolute_floor_hides_a_half_error_in_a_tiny_entry() -> None:
    # neighbours of size 1, this entry of size 1e-9 off by 50%
    row = judge(entry(exact=1e-9, reverse=1.5e-9, forward=1e-9, numeric=1e-9, numeric_error=1e-17, scale=1.0))
    assert row.verdict is Verdict.MISMATCH and row.wrong == (Source.REVERSE,)
    # and the same when every entry is tiny: tolerances scale with the quantity
    row = judge(entry(exact=1e-9, reverse=1e-9 * (1 + 1e-14), numeric=1e-9, numeric_error=1e-22, scale=1e-9))
    assert row.verdict is Verdict.PASS


def test_kink_values_between_one_sided_derivatives_are_subgradients() -> None:
    inside = judge(entry(exact=0.5, reverse=0.0, forward=0.0, numeric=0.5, numeric_error=0.5,
                         left=0.0, right=1.0, one_sided_error=1e-10, scale=1.0))
    assert inside.verdict is Verdict.NOT_DIFFERENTIABLE and "left 0, right 1" in inside.note
    outside = judge(entry(exact=0.5, reverse=2.0, numeric=0.5, numeric_error=0.5,
                          left=0.0, right=1.0, one_sided_error=1e-10, scale=1.0))
    assert outside.verdict is Verdict.MISMATCH and outside.wrong == (Source.REVERSE,)


def test_smooth_points_ignore_one_sided_values_that_agree() -> None:
    row = judge(entry(exact=1.0, reverse=1.0, numeric=1.0, numeric_error=1e-12, left=1.0, right=1.0 + 1e-9,
                      one_sided_error=1e-8, scale=1.0))
    assert row.verdict is Verdict.PASS


def test_without_exact_a_loose_numeric_reference_is_inconclusive() -> None:
    row = judge(entry(reverse=1.0, numeric=1.01, numeric_error=0.05, scale=1.0))
    assert row.verdict is Verdict.INCONCLUSIVE and "too large to decide" in row.note
    row = judge(entry(reverse=1.0, numeric=math.nan, numeric_error=math.inf))
    assert row.verdict is Verdict.INCONCLUSIVE
    row = judge(entry(reverse=-1.0, numeric=1.0, numeric_error=1e-10, scale=1.0))
    assert row.verdict is Verdict.MISMATCH and "sign flipped" in row.note


def test_float32_tolerances_are_looser_but_still_catch_real_bugs() -> None:
    tol = Tolerances.for_dtype("float32")
    ok = judge(entry(reverse=1.0 + 3e-5, numeric=1.0, numeric_error=1e-12, scale=1.0, dtype="float32"), tol)
    assert ok.verdict is Verdict.PASS
    bad = judge(entry(reverse=1.02, numeric=1.0, numeric_error=1e-12, scale=1.0, dtype="float32"), tol)
    assert bad.verdict is Verdict.MISMATCH


def test_overall_prefers_the_most_serious_verdict() -> None:
    assert overall([Verdict.PASS, Verdict.NOT_DIFFERENTIABLE]) is Verdict.NOT_DIFFERENTIABLE
    assert overall([Verdict.INCONCLUSIVE, Verdict.MISMATCH]) is Verdict.MISMATCH
    assert overall([]) is Verdict.PASS


def test_the_size_of_the_terms_allows_rounding_of_a_gradient_that_cancels_to_zero() -> None:
    # the least-squares gradient at its solution: exact -1.9e-15 at the decimal w, torch -2.2e-16
    tight = entry(exact=-1.8666e-15, reverse=-2.22e-16, forward=-2.22e-16, numeric=-2.22e-16,
                  numeric_error=3e-21, scale=1.87e-15)
    assert judge(tight).verdict is Verdict.MISMATCH
    sized = judge(entry(exact=-1.8666e-15, reverse=-2.22e-16, forward=-2.22e-16, numeric=-2.22e-16,
                        numeric_error=3e-21, scale=1.87e-15, term_size=40.0))
    assert sized.verdict is Verdict.PASS and sized.tolerance >= 1e-12 * 40


def test_the_size_of_the_terms_never_hides_a_relative_error_of_one_in_a_million() -> None:
    row = judge(entry(exact=1.0, reverse=1.000001, forward=1.0, numeric=1.0, numeric_error=1e-15,
                      scale=1.0, term_size=40.0))
    assert row.verdict is Verdict.MISMATCH and row.wrong == (Source.REVERSE,)



def test_a_rounding_size_gradient_at_a_loss_minimum_is_zero_within_the_rounding_of_its_terms() -> None:
    # SSIM of an image against itself: the loss is 2e-11 (rounding of terms of size 1), every
    # source gives a gradient of rounding size, and the numeric reference resolves it to 2e-10
    at_minimum = {"reverse": -1.56e-11, "forward": -1.56e-11, "numeric": 0.0, "numeric_error": 2.2e-10,
                  "function_scale": 2e-11}
    assert judge(entry(**at_minimum)).verdict is Verdict.INCONCLUSIVE  # terms unknown: undecided
    row = judge(entry(**at_minimum, function_terms=1.0))
    assert row.verdict is Verdict.PASS and "rounding of the function's terms" in row.note


def test_the_size_of_the_functions_terms_never_hides_a_gradient_at_a_minimum() -> None:
    wrong = judge(entry(reverse=1e-3, forward=0.0, numeric=0.0, numeric_error=1e-10, function_terms=1.0))
    assert wrong.verdict is Verdict.MISMATCH and wrong.wrong == (Source.REVERSE,)
    # nor decides a slope whose error is loose beside the terms (above ZERO_ROUNDING of them)
    slope = judge(entry(reverse=2e-4, numeric=2.1e-4, numeric_error=1e-3, function_terms=1e2))
    assert slope.verdict is Verdict.INCONCLUSIVE
    # a slope at the rounding of the terms that every source gives alike passes (kornia's SSIM3D
    # at its minimum: -1.6e-11 +- 1.2e-12 beside terms of 0.82)
    tiny = judge(entry(reverse=-1.586e-11, forward=-1.586e-11, numeric=-1.598e-11, numeric_error=1.2e-12,
                       function_terms=0.82))
    assert tiny.verdict is Verdict.PASS and "rounding of the function's terms" in tiny.note


def test_dtype_table_covers_every_dtype_and_orders_them_by_precision():
    import torch

    for name in ("float64", "float32", "float16", "bfloat16", "complex64", "complex128"):
        rule = dtype_rule(name)
        assert rule == dtype_rule(f"torch.{name}")
        if name != "complex64" and name != "complex128":
            assert rule.eps == pytest.approx(torch.finfo(getattr(torch, name)).eps)
    order = ["float64", "float32", "float16", "bfloat16"]
    rtols = [Tolerances.for_dtype(d).autograd_rtol for d in order]
    assert rtols == sorted(rtols)
    assert Tolerances.for_dtype("complex128") == Tolerances.for_dtype("float64")
    assert Tolerances.for_dtype("complex64") == Tolerances.for_dtype("float32")
    # a 1% error is outside float16's per-entry tolerance
    assert Tolerances.for_dtype("float16").autograd_rtol < 1e-2
    with pytest.raises(ValueError, match="no tolerances for dtype 'int8'"):
        dtype_rule("int8")


def test_dtype_is_typed_and_reads_as_torchs_name() -> None:
    import torch

    from derivcheck import check_grad
    from derivcheck.verdict import DType

    assert DType.of("torch.bfloat16") is DType.BFLOAT16 and DType.of(torch.float32) is DType.FLOAT32
    assert DType.FLOAT64.double and DType.COMPLEX128.double and not DType.FLOAT32.double
    result = check_grad(lambda t: (t ** 2).sum(), torch.ones(2, dtype=torch.float64, requires_grad=True))
    assert result.dtype is DType.FLOAT64 and result.dtype == "float64"
    with pytest.raises(ValueError, match="no tolerances for dtype 'int8'"):
        DType.of("int8")
