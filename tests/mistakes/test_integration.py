"""Wrong claims explained where users read them: `derivcheck run`, its JSON, and the report."""

from __future__ import annotations

import io
import json
from pathlib import Path

from derivcheck.cases.files import load_paths, loads
from derivcheck.cases.run import run_case
from derivcheck.cli import main
from derivcheck.mistakes.catalogue import RULES
from derivcheck.model import Quantity
from derivcheck.report.verification import misapplied_rule_section

REGRESSION = Path(__file__).resolve().parents[2] / "cases" / "tutorials" / "regression.toml"
TUTORIAL = "mse-regression-bias-sign-error"
SENTENCE = ("the claim equals the derivative with the chain rule's inner factor ∂(ys - yp)/∂b = -1 dropped, "
            "at (ys - yp)**2")


def cli(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(args), out=out), out.getvalue()


def test_run_prints_the_diagnosis_and_json_carries_it(tmp_path: Path) -> None:
    target = tmp_path / "results.json"
    code, text = cli("run", str(REGRESSION), "-k", TUTORIAL, "--json", str(target), "--timeout", "0")
    assert code == 0
    lines = text.splitlines()
    case_line = next(i for i, line in enumerate(lines) if TUTORIAL in line)
    assert lines[case_line + 1].strip() == f"d/db: {SENTENCE}"
    (result,) = json.loads(target.read_text(encoding="utf-8"))["results"]
    (diagnosis,) = result["diagnoses"]
    assert {k: diagnosis[k] for k in ("claim", "rule", "node", "text")} == {
        "claim": "d/db", "rule": "chain", "node": "(ys - yp)**2", "text": SENTENCE}


def test_a_failing_case_shows_the_diagnosis_under_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[[case]]\nid = "cube"\nvars = ["x"]\nf = "x**3"\nat = [{x = 1.5}, {x = 2}]\n'
                    '[case.claims]\n"d/dx" = "2*x**2"\n', encoding="utf-8")
    code, text = cli("run", str(path), "--timeout", "0")
    assert code == 1
    lines = text.splitlines()
    rows_end = max(i for i, line in enumerate(lines) if "df/dx" in line)
    assert "d/dx: the claim equals the derivative with the power rule's coefficient taken as 3 - 1" \
        in lines[rows_end + 1]


def test_a_wrong_claim_no_rule_explains_is_said_so(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[[case]]\nid = "cube"\nvars = ["x"]\nf = "x**3"\nat = { x = 1.5 }\nexpect = "mismatch"\n'
                    '[case.claims]\n"d/dx" = "7*x + 1"\n', encoding="utf-8")
    target = tmp_path / "u.json"
    code, text = cli("run", str(path), "--timeout", "0", "--json", str(target))
    assert code == 0
    assert "        d/dx: no single misapplied rule explains the claim" in text.splitlines()
    (result,) = json.loads(target.read_text(encoding="utf-8"))["results"]
    assert result["diagnoses"] == []
    assert result["unexplained"] == [{"claim": "d/dx", "text": "no single misapplied rule explains the claim"}]


def test_right_cases_have_empty_diagnoses(tmp_path: Path) -> None:
    target = tmp_path / "r.json"
    code, _ = cli("run", str(REGRESSION), "-k", "least-squares", "--json", str(target), "--timeout", "0")
    assert code == 0
    results = json.loads(target.read_text(encoding="utf-8"))["results"]
    assert results and all(r["diagnoses"] == [] and r["unexplained"] == [] for r in results)


def _second_order(case) -> bool:
    return any(c.quantity is Quantity.HESSIAN for c in case.claims)


def test_every_shipped_mismatch_is_explained_with_a_rule_from_the_vocabulary() -> None:
    cases = [c for c in load_paths([REGRESSION.parents[1]]).cases if c.expect.value == "mismatch"]
    assert cases
    # the search differentiates once: a second-order claim (a Hessian entry, "d2/dydx") is outside
    # it and must be said to be so; every other shipped mistake must be explained
    exempt = [c for c in cases if _second_order(c)]
    assert [c.id for c in exempt] == ["mistake-clairaut-without-continuity"]
    for case in cases:
        result = run_case(case)
        if case in exempt:
            assert result.diagnoses == ()
            assert result.unexplained
            assert {u.text for u in result.unexplained} == {
                "no single misapplied rule explains the claim (not a first-derivative claim the search covers)"}
            continue
        assert result.diagnoses, (case.id, result.unexplained)
        assert not result.unexplained, (case.id, result.unexplained)
        assert all(d.rule in RULES for d in result.diagnoses)


def test_the_textbook_mistakes_get_their_rules() -> None:
    cases = {c.id: c for c in load_paths([REGRESSION.parents[1] / "textbook"]).cases}
    expected = {
        "mistake-sigmoid-local-gradient": ("exponential", "sigmoid(x)"),
        "mistake-softmax-cross-entropy-sign": ("sign", "logsumexp(z) - dot(onehot, z)"),
        "mistake-chain-rule-node-held": ("chain", "b*c"),
    }
    for case_id, found in expected.items():
        result = run_case(cases[case_id])
        assert found in {(d.rule, d.node) for d in result.diagnoses}, case_id
    result = run_case(cases["mistake-chain-rule-node-held"])
    assert {d.claim for d in result.diagnoses} == {"dJ/db"}
    assert "local partial ∂v/∂b = c dropped (taken as 1) along the path, at v = b*c" in result.diagnoses[0].text


def test_the_report_shows_the_wrong_step_beside_the_right_step() -> None:
    (case,) = [c for c in load_paths([REGRESSION]).cases if c.id == TUTORIAL]
    section = misapplied_rule_section(run_case(case), "d/db")
    assert section is not None
    assert "The misapplied rule (chain)" in section
    assert "| `(ys - yp)**2` | `∂((ys - yp)**2) = 2 (ys - yp) ∂(ys - yp)` | `2 (ys - yp)` |" in section
    assert misapplied_rule_section(run_case(case), "d/dw") is None


def test_the_report_leaves_an_unexplained_claim_alone() -> None:
    (case,), _ = loads('[[case]]\nid = "u"\nvars = ["x"]\nf = "x**3"\nat = [{x = 1}, {x = 2}]\n'
                       'expect = "mismatch"\n[case.claims]\n"d/dx" = "x + 1"\n')
    result = run_case(case)
    assert result.diagnoses == ()
    assert misapplied_rule_section(result, "d/dx") is None


def test_a_terminal_that_cannot_show_the_symbols_gets_them_spelled_out(monkeypatch) -> None:
    import sys

    from derivcheck.output import render_diagnoses

    (case,) = [c for c in load_paths([REGRESSION]).cases if c.id == TUTORIAL]
    result = run_case(case)
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(io.BytesIO(), encoding="ascii"))
    (line,) = render_diagnoses(result)
    assert "inner factor d(ys - yp)/db = -1 dropped" in line
    line.encode("ascii")
