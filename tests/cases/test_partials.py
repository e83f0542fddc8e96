"""Leibniz claims through the loader and the runner: higher orders and partials at graph nodes."""

from __future__ import annotations

from pathlib import Path

import pytest
import sympy

from derivcheck.cases.files import load_file
from derivcheck.cases.run import Status, run_case
from derivcheck.language.parser import parse
from derivcheck.model import Quantity
from derivcheck.verdict import Source, Verdict


def load(tmp_path: Path, text: str):
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    return load_file(path)


def run_one(tmp_path: Path, text: str):
    cases, errors = load(tmp_path, text)
    assert not errors, [str(e) for e in errors]
    return run_case(cases[0])


TUTORIAL = """
[[case]]
id = "chain-rule-graph"
name = "J"
vars = ["a", "b", "c"]
let = { v = "b*c", u = "a + v" }
f = "3*u"
at = { a = 5, b = 3, c = 2 }
[case.claims]
"dJ/du" = 3
"du/dv" = 1
"dv/db" = "c"
"dJ/db" = "3*c"
"d2J/dbdc" = 3
"""


def test_node_partials_are_sums_over_paths_of_local_partials(tmp_path: Path) -> None:
    cases, errors = load(tmp_path, TUTORIAL)
    assert not errors
    case = cases[0]
    a, b, c = case.symbols
    by_key = {claim.key: claim for claim in case.claims}
    assert by_key["dJ/db"].quantity is Quantity.JACOBIAN  # a plain partial, as before
    assert by_key["d2J/dbdc"].quantity is Quantity.HESSIAN
    node = case.partials[by_key["dJ/du"].index[0]]
    assert node.node_values == (a + b * c,)
    result = run_case(case)
    assert result.status is Status.OK, result.message
    rows = {r.label: r for r in result.rows}
    assert rows["dJ/du"].exact == 3 and rows["du/dv"].exact == 1 and rows["dv/db"].exact == 2
    assert rows["dJ/du"].reverse == 3 and abs(rows["dJ/du"].numeric - 3) < 1e-12


def test_a_wrong_node_partial_is_caught(tmp_path: Path) -> None:
    result = run_one(tmp_path, TUTORIAL.replace('"dv/db" = "c"', '"dv/db" = "b"'))
    assert result.status is Status.FAILED
    wrong = [r for r in result.rows if Source.CLAIM in r.wrong]
    assert [r.label for r in wrong] == ["dv/db"]


def test_a_node_reached_by_two_paths_adds_them(tmp_path: Path) -> None:
    # J = u * sin(u) with u = x*y: dJ/du = sin(u) + u cos(u); y held
    result = run_one(tmp_path, """
[[case]]
id = "two-paths"
name = "J"
vars = ["x", "y"]
let = { u = "x*y", w = "sin(u)" }
f = "u*w + y"
at = { x = "1/3", y = 2 }
[case.claims]
"dJ/du" = "sin(u) + u*cos(u)"
"dJ/dw" = "u"
"dw/du" = "cos(u)"
""")
    assert result.status is Status.OK, result.message
    assert {r.label for r in result.rows if r.quantity is Quantity.PARTIAL} == {"dJ/du", "dJ/dw", "dw/du"}


def test_vector_intermediates_give_vector_claims(tmp_path: Path) -> None:
    result = run_one(tmp_path, """
[[case]]
id = "network-deltas"
name = "E"
vars = ["W[2,2]", "x[2]"]
let = { a = "W @ x", h = "tanh(a)" }
f = "sum(h**2)/2"
at = { W = [[0.5, -1], [2, 0.25]], x = [1, 2] }
[case.claims]
"dE/da" = "h*(1 - h**2)"
"dh/da" = [["1 - h[0]**2", 0], [0, "1 - h[1]**2"]]
""")
    assert result.status is Status.OK, result.message
    deltas = [r for r in result.rows if r.label.startswith("dE/da")]
    assert len(deltas) == 2 and all(r.verdict is Verdict.PASS and r.claims for r in deltas)


def test_third_and_fourth_orders_by_every_source(tmp_path: Path) -> None:
    result = run_one(tmp_path, """
[[case]]
id = "higher"
vars = ["x", "y"]
f = "x**3*y**2 + sin(x*y)"
at = { x = "1/2", y = 2 }
order = 3
[case.claims]
"d2/dx2" = "6*x*y**2 - y**2*sin(x*y)"
"d3/dx2dy" = "12*x*y - 2*y*sin(x*y) - y**2*x*cos(x*y)"
"d4/dx4" = "y**4*sin(x*y)"
""")
    assert result.status is Status.OK, result.message
    rows = {r.label: r for r in result.rows if r.quantity is Quantity.PARTIAL}
    assert set(rows) == {"d3f/dx3", "d3f/dx2dy", "d3f/dxdy2", "d3f/dy3", "d4f/dx4"}
    x, y = sympy.Rational(1, 2), sympy.Integer(2)
    assert abs(rows["d4f/dx4"].exact - float(y**4 * sympy.sin(x * y))) < 1e-15
    for row in rows.values():
        assert row.reverse is not None and row.numeric is not None and row.verdict is Verdict.PASS


def test_leibniz_order_is_the_rightmost_variable_first(tmp_path: Path) -> None:
    cases, errors = load(tmp_path, """
[[case]]
id = "order"
vars = ["x", "y"]
f = "x**2*y**3"
at = { x = 1, y = 1 }
[case.claims]
"d3/dxdy2" = "12*x*y"
""")
    assert not errors
    partial = cases[0].partials[0]
    assert partial.wrt == ((0, 1, 1),)


def test_claim_key_errors_are_all_reported_with_suggestions(tmp_path: Path) -> None:
    cases, errors = load(tmp_path, """
[[case]]
id = "Bad-Keys"
title = "several mistakes"
vars = ["x"]
f = "x**2"
at = { x = 1 }
[case.claims]
grd = [2]
"d/dq" = 2
"dg/dx" = 2
""")
    assert not cases and len(errors) == 1
    lines = str(errors[0]).splitlines()
    assert len(lines) == 4  # the id, and each claim
    assert all("case 'Bad-Keys'" in line for line in lines)
    assert "did you mean 'grad'?" in lines[1]
    assert "'q' is not a variable" in lines[2]
    assert "numerator 'g' is not the function" in lines[3]
    assert errors[0].title == "several mistakes"



@pytest.mark.parametrize("inner, outer", [
    ("sin(x*y)", "u**3 + x*u"),
    ("exp(x) + y**2", "log(u) * y"),
    ("x/(1 + y**2)", "tanh(u) + sigmoid(u*x)"),
    ("sqrt(x**2 + y**2)", "u**2 - 2*u*y"),
])
def test_node_partials_compose_by_the_chain_rule(tmp_path: Path, inner: str, outer: str) -> None:
    # J(x, y) = outer(u(x, y), x): dJ/dx = dJ/du du/dx + the partial of outer by x with u held
    result = run_one(tmp_path, f"""
[[case]]
id = "compose"
name = "J"
vars = ["x", "y"]
let = {{ u = "{inner}" }}
f = "{outer}"
at = {{ x = "1/2", y = "3/4" }}
[case.claims]
"dJ/du" = "0"
"du/dx" = "0"
""")
    rows = {r.label: r for r in result.rows}
    x, y, u = sympy.symbols("x y u", real=True)
    point = {x: sympy.Rational(1, 2), y: sympy.Rational(3, 4)}
    u_value = parse(inner, {"x": x, "y": y}).subs(point)
    held = float(sympy.diff(parse(outer, {"x": x, "y": y, "u": u}), x).subs({u: u_value, **point}).evalf(30))
    total, via_node = rows["dJ/dx"].exact, rows["dJ/du"].exact * rows["du/dx"].exact
    assert abs(total - (via_node + held)) <= 1e-12 * max(1.0, abs(total))
    for label in ("dJ/du", "du/dx"):
        row = rows[label]
        assert abs(row.reverse - row.exact) <= 1e-12 * max(1.0, abs(row.exact))
        assert abs(row.numeric - row.exact) <= 1e-8 * max(1.0, abs(row.exact))
