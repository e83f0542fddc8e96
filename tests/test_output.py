"""The summary line and the JSON: totals, every error of a case, no bare separators."""

from __future__ import annotations

import json
from pathlib import Path

from derivcheck.cases.files import loads
from derivcheck.cases.results import error_result
from derivcheck.cases.run import run_case
from derivcheck.output import render_case, render_summary, summary_totals, write_json

GOOD = """
[[case]]
id = "square"
vars = ["x"]
f = "x**2"
at = { x = 3 }
[case.claims]
"d/dx" = 6
"""

BROKEN = """
[[case]]
id = "Broken-Case"
title = "a case with two mistakes"
vars = ["x"]
f = "x**2"
at = { x = 3 }
order = 7
[case.claims]
"d/dq" = 1
"""


def test_json_holds_totals_and_the_title_of_a_case_that_did_not_load(tmp_path: Path) -> None:
    cases, _ = loads(GOOD)
    _, errors = loads(BROKEN)
    results = [run_case(cases[0]), error_result(errors[0])]
    path = tmp_path / "out.json"
    write_json(results, path)
    data = json.loads(path.read_text())
    totals = data["totals"]
    assert {k: totals[k] for k in ("cases", "ok", "failed", "errors", "checks")} == {
        "cases": 2, "ok": 1, "failed": 0, "errors": 1, "checks": len(results[0].rows)}
    assert totals["seconds"] >= 0
    broken = data["results"][1]
    assert broken["title"] == "a case with two mistakes" and broken["case_id"] == "Broken-Case"
    assert render_summary(results).startswith("2 cases: 1 ok, 0 failed, 1 errors;")
    assert summary_totals(results)["cases"] == 2


def test_every_error_of_a_case_is_its_own_line_named_by_its_id() -> None:
    _, errors = loads(BROKEN)
    lines = render_case(error_result(errors[0])).splitlines()
    assert len(lines) == 3
    assert all(line.startswith("ERROR   <text>: case 'Broken-Case': field '") for line in lines)
    assert [line.split("field '")[1].split("'")[0] for line in lines] == ["id", "order", "claims.d/dq"]


def test_a_failed_case_message_never_ends_in_a_bare_separator() -> None:
    cases, _ = loads(GOOD.replace('"d/dx" = 6', '"d/dx" = 5'))
    result = run_case(cases[0])
    assert result.message and not result.message.rstrip().endswith(";")
    engine_broken, _ = loads(GOOD)
    for line in render_case(run_case(engine_broken[0])).splitlines():
        assert not line.rstrip().endswith(";")
