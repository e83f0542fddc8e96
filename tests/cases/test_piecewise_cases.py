"""where() and sums over an index through the loader and every engine."""

from __future__ import annotations

from pathlib import Path

from derivcheck.cases.files import load_file
from derivcheck.cases.run import Status, run_case
from derivcheck.verdict import Source, Verdict


def run_all(tmp_path: Path, text: str):
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    cases, errors = load_file(path)
    assert not errors, [str(e) for e in errors]
    return {c.id: run_case(c) for c in cases}


CASES = """
[[case]]
id = "piecewise-smooth-side"
vars = ["x", "y"]
f = "where(x < 1 and y > 0, x**2*y, sin(x) + y)"
at = [{ x = "1/2", y = 2 }, { x = 2, y = 1 }]
order = 2
[case.claims]
"d/dx" = "where(x < 1 and y > 0, 2*x*y, cos(x))"

[[case]]
id = "piecewise-kink"
vars = ["x"]
f = "where(x < 0, -x, x**2)"
at = { x = 0 }
expect = "not-differentiable"

[[case]]
id = "piecewise-smooth-join"
vars = ["x"]
f = "where(x < 0, x**3, x**2)"
at = { x = 0 }
[case.claims]
"d/dx" = 0

[[case]]
id = "piecewise-wrong-branch"
vars = ["x"]
f = "where(x < 1, x**3, 2*x)"
at = [{ x = "1/2" }, { x = 3 }]
expect = "mismatch"
[case.claims]
"d/dx" = "3*x**2"

[[case]]
id = "sum-series"
vars = ["x[4]"]
f = "sum(x[k]**k / (k + 1) for k in range(4)) + prod(1 + x[k] for k in range(4))"
at = { x = [1, 2, 3, "1/2"] }
[case.claims]
"d/dx" = ["prod(1 + x[k] for k in range(1, 4))", "1/2 + (1 + x[0])*(1 + x[2])*(1 + x[3])", "2*x[2]/3 + (1 + x[0])*(1 + x[1])*(1 + x[3])", "3*x[3]**2/4 + (1 + x[0])*(1 + x[1])*(1 + x[2])"]
"""


def test_piecewise_and_sums_are_checked_by_every_source(tmp_path: Path) -> None:
    results = run_all(tmp_path, CASES)
    for case_id, result in results.items():
        assert result.status is Status.OK, (case_id, result.message)
    kink = results["piecewise-kink"].rows[0]
    assert kink.verdict is Verdict.NOT_DIFFERENTIABLE and (kink.left, kink.right) == (-1.0, 0.0)
    wrong = [r for r in results["piecewise-wrong-branch"].rows if Source.CLAIM in r.wrong]
    assert [r.point for r in wrong] == [1]  # right on the branch x < 1, wrong on the other
    assert all(r.reverse is not None for r in results["sum-series"].rows)
