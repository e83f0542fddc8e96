"""build_result: the one place a CheckResult is made."""

from __future__ import annotations

import time

from derivcheck import CheckResult
from derivcheck.gradcheck.result import Approach, Mode, ModeResult, build_result
from derivcheck.model import Quantity
from derivcheck.verdict import Entry, Tolerances, Verdict, judge


def row(reverse: float):
    return judge(Entry(quantity=Quantity.JACOBIAN, point=0, index=(0, 0), label="dout/dx", reverse=reverse,
                       numeric=1.0, numeric_error=1e-12, method="central-richardson", scale=1.0), Tolerances())


def test_the_verdict_follows_the_rows_unless_given() -> None:
    shape = {"n_inputs": 1, "n_outputs": 1, "dtype": "float64", "start": time.perf_counter()}
    assert build_result("f", rows=[row(1.0)], **shape).verdict is Verdict.PASS
    assert build_result("f", rows=[row(1.0)], suspects=[row(2.0)], **shape).verdict is Verdict.MISMATCH
    assert build_result("f", verdict=Verdict.INCONCLUSIVE, rows=[row(1.0)], **shape).verdict is Verdict.INCONCLUSIVE


def test_causes_once_each_in_order_and_empty_texts_dropped() -> None:
    result = build_result("f", n_inputs=2, n_outputs=1, dtype="float32", start=time.perf_counter(),
                          rows=[row(2.0)], causes=["b", None, "a", "b", ""], notes=["n", "", "n"],
                          modes=[ModeResult(Mode.REVERSE, Verdict.MISMATCH)], strategy=Approach.FULL_JACOBIAN)
    assert isinstance(result, CheckResult)
    assert result.causes == ("b", "a") and result.notes == ("n", "n")
    assert result.rows == (result.rows[0],) and isinstance(result.modes, tuple)
    assert result.seconds >= 0 and result.reference == "none" and result.localised_completely
    assert result.message.startswith("f: reverse mode is wrong")
