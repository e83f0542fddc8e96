"""The report does not stumble on the case language's new constructs: where(), Leibniz claims at
graph nodes and derived quantities, caught wrong or right (shown generically)."""

from __future__ import annotations

from pathlib import Path

from derivcheck.cases.files import loads
from derivcheck.cases.run import run_case
from derivcheck.report.document import write_report

TEXT = """
[[case]]
id = "graph-nodes-wrong"
name = "J"
vars = ["a", "b", "c"]
let = { v = "b*c", u = "a + v" }
f = "3*u"
at = { a = 5, b = 3, c = 2 }
expect = "mismatch"
[case.claims]
"dJ/du" = 3
"dv/db" = "b"

[[case]]
id = "max-rate-wrong"
vars = ["x", "y"]
f = "where(x < 0, x**2, x*y)"
at = { x = 1, y = 2 }
expect = "mismatch"
[case.claims]
max_rate = 3
"""


def test_new_quantities_and_where_are_shown_generically(tmp_path: Path) -> None:
    cases, errors = loads(TEXT)
    assert not errors
    results = [run_case(c) for c in cases]
    assert all(r.ok for r in results), [r.message for r in results]
    out = write_report(cases, results, tmp_path / "report.md", plots=False)
    text = Path(out).read_text(encoding="utf-8")
    assert "entry `dv/db`: at point 1 the claim gives 3, the exact value is 2." in text
    assert "entry `|grad f|`: at point 1 the claim gives 3" in text
    assert text.count("**Other derivatives claimed or asked**") == 2  # dJ/du, dv/db; |grad f|
    assert "| `dJ/du` |" in text
