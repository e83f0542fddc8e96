"""A case through all engines: verdicts, claims, kinks, domain errors and the gradient's promises."""

from __future__ import annotations

from pathlib import Path

import pytest

from derivcheck.cases.files import load_file
from derivcheck.cases.run import Status, run_case
from derivcheck.model import Quantity
from derivcheck.verdict import Source, Verdict


def run(tmp_path: Path, body: str):
    path = tmp_path / "c.toml"
    path.write_text("[[case]]\n" + body, encoding="utf-8")
    cases, errors = load_file(path)
    assert not errors, [str(e) for e in errors]
    return run_case(cases[0])


def test_chain_rule_tutorial_passes_with_every_source(tmp_path: Path) -> None:
    result = run(tmp_path, """
id = "chain-rule-graph"
vars = ["a", "b", "c"]
let = { v = "b*c", u = "a + v" }
f = "3*u"
at = { a = 5, b = 3, c = 2 }
directions = [[1, 1, 1]]
[case.claims]
grad = ["3", "3*c", "3*b"]
""")
    assert result.status is Status.OK and result.verdict is Verdict.PASS
    grad = [r for r in result.rows if r.quantity is Quantity.JACOBIAN]
    assert [r.exact for r in grad] == [3.0, 6.0, 9.0]
    assert all(r.reverse == r.exact and r.forward == r.exact for r in grad)
    assert all(abs(r.numeric - r.exact) <= 1e-9 for r in grad)
    assert all(len(r.claims) == 1 for r in grad)
    (steepest,) = result.steepest
    assert steepest.ok and steepest.gradient_norm == pytest.approx((9 + 36 + 81) ** 0.5)
    assert steepest.along_gradient == pytest.approx(steepest.gradient_norm, rel=1e-10)
    assert steepest.best_sampled < steepest.gradient_norm


def test_an_unmarked_wrong_claim_fails_and_is_named(tmp_path: Path) -> None:
    result = run(tmp_path, """
id = "mse-bias"
vars = ["w", "b"]
data = { xs = [1, 2, 3], ys = [2, 4, 5] }
let = { yp = "w*xs + b" }
f = "mean((ys - yp)**2)"
at = { w = 1, b = 0.5 }
[case.claims]
"d/db" = "sum(2*(ys - yp))/3"
""")
    assert result.status is Status.FAILED and result.verdict is Verdict.MISMATCH
    wrong = [r for r in result.rows if Source.CLAIM in r.wrong]
    assert [r.label for r in wrong] == ["df/db"]
    assert "sign flipped" in wrong[0].note and "d/db" in result.message


def test_expected_mismatch_passes_only_when_caught(tmp_path: Path) -> None:
    body = 'id = "sq"\nvars = ["x"]\nf = "x^2"\nat = {{ x = 1 }}\nexpect = "mismatch"\n[case.claims]\n"d/dx" = {}\n'
    assert run(tmp_path, body.format("3")).status is Status.OK
    missed = run(tmp_path, body.format("2"))
    assert missed.status is Status.FAILED and "every claim is right" in missed.message


def test_jvp_is_not_vjp_for_a_nonsymmetric_jacobian(tmp_path: Path) -> None:
    result = run(tmp_path, """
id = "nonsymmetric"
vars = ["x", "y"]
f = ["x + 2*y", "3*x + 4*y"]
at = { x = 1, y = 1 }
tangents = [[1, 1]]
cotangents = [[1, 1]]
[case.claims]
jvp = [["3", "7"]]
vjp = [["3", "7"]]
""")
    wrong = {r.quantity for r in result.rows if Source.CLAIM in r.wrong}
    assert wrong == {Quantity.VJP}
    vjp = [r.exact for r in result.rows if r.quantity is Quantity.VJP]
    assert vjp == [4.0, 6.0]


def test_second_derivatives(tmp_path: Path) -> None:
    result = run(tmp_path, """
id = "x2y"
vars = ["x", "y"]
f = "x^2*y"
at = { x = 2, y = 3 }
order = 2
[case.claims]
"d/dx" = 12
"d2/dxdx" = 6
"d2/dxdy" = 4
""")
    assert result.status is Status.OK
    hess = {r.index: r for r in result.rows if r.quantity is Quantity.HESSIAN}
    assert hess[(0, 0, 0)].exact == 6.0 and hess[(0, 0, 1)].exact == 4.0 and hess[(0, 1, 1)].exact == 0.0
    assert hess[(0, 0, 1)].forward == pytest.approx(4.0, rel=1e-12)
    assert hess[(0, 0, 0)].numeric == pytest.approx(6.0, rel=1e-6)


def test_relu_at_zero_is_not_differentiable(tmp_path: Path) -> None:
    body = 'id = "relu-kink"\nvars = ["x", "y"]\nf = "relu(x) + y^2"\nat = { x = 0, y = 1 }\n'
    plain = run(tmp_path, body)
    assert plain.status is Status.FAILED and plain.verdict is Verdict.NOT_DIFFERENTIABLE
    (kink,) = [r for r in plain.rows if r.verdict is Verdict.NOT_DIFFERENTIABLE]
    assert kink.label == "df/dx" and kink.left == pytest.approx(0, abs=1e-9) and kink.right == pytest.approx(1)
    expected = run(tmp_path, body + 'expect = "not-differentiable"\n')
    assert expected.status is Status.OK


def test_claim_outside_the_subgradient_interval_is_wrong(tmp_path: Path) -> None:
    result = run(tmp_path, 'id = "abs-kink"\nvars = ["x"]\nf = "abs(x)"\nat = { x = 0 }\n'
                           'expect = "not-differentiable"\n[case.claims]\n"d/dx" = 2\n')
    assert result.status is Status.FAILED and result.verdict is Verdict.MISMATCH


def test_point_outside_the_domain_is_an_error_naming_the_sub_expression(tmp_path: Path) -> None:
    result = run(tmp_path, 'id = "log-neg"\nvars = ["x"]\nf = "log(x - 2) + x"\nat = [{ x = 3 }, { x = 1 }]\n')
    assert result.status is Status.ERROR
    assert "case 'log-neg': field 'at[1]'" in result.message and "log(x - 2)" in result.message


LEAST_SQUARES = """
id = "least-squares-at-solution"
vars = ["w[2]"]
data = { X = [[1, 1], [2, 1], [3, 1]], y = ["7/6", "11/6", "5/2"] }
f = "sum((X @ w - y)**2)"
at = { w = [0.6666666666666666, 0.5] }
[case.claims]
"d/dw" = "2*X.T @ X @ w - 2*X.T @ y"
"""


def test_least_squares_at_its_solution_typed_as_decimals_is_no_false_alarm(tmp_path: Path) -> None:
    # issue 13: the gradient is ~1e-15 only because terms of size 10 cancel, and torch holds the
    # binary number nearest 0.6666666666666666; both are rounding, not a wrong derivative
    result = run(tmp_path, LEAST_SQUARES)
    assert result.status is Status.OK, result.message
    assert all(r.verdict is Verdict.PASS for r in result.rows)


def test_a_gradient_of_size_one_off_by_one_in_a_million_still_fails(tmp_path: Path) -> None:
    result = run(tmp_path, LEAST_SQUARES.replace('"2*X.T @ X @ w - 2*X.T @ y"', '"1.000001*(2*X.T @ X @ w - 2*X.T @ y) + [1, 1]"')
                 .replace("[[1, 1], [2, 1], [3, 1]]", "[[1, 1], [2, 1], [3, 1]]"))
    assert result.status is Status.FAILED


def test_exact_points_directions_and_domains_as_constant_text(tmp_path: Path) -> None:
    result = run(tmp_path, """
id = "exact-points"
vars = ["t", "w[2]"]
data = { c = "sqrt(2)/2" }
f = "sin(t)*c + w[0]*w[1]"
at = { t = "pi/4", w = ["2/3", "1/2"] }
directions = [["cos(pi/6)", "sin(pi/6)", 0]]
tangents = [[1, "1/3", 0]]
sample = 2
domain = { t = ["-pi", "pi"] }
[case.claims]
"d/dt" = "cos(t)*c"
"d/dw" = ["w[1]", "w[0]"]
""")
    assert result.status is Status.OK, result.message
    first = {r.label: r for r in result.rows if r.point == 0}
    assert first["df/dt"].exact_text.startswith("0.5000000000000000000000000000000")  # cos(pi/4) sqrt(2)/2
    assert first["df/dw[1]"].exact_text.startswith("0.6666666666666666666666666666666")  # 2/3 stays exact
