"""Loading case files: the contract's every key, claim kind, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import sympy

from derivcheck.cases.files import load_file, load_paths
from derivcheck.model import Expect, Quantity


def write(tmp_path: Path, text: str, name: str = "c.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def only_case(tmp_path: Path, text: str):
    cases, errors = load_file(write(tmp_path, text))
    assert not errors, [str(e) for e in errors]
    assert len(cases) == 1
    return cases[0]


def one_error(tmp_path: Path, text: str) -> str:
    cases, errors = load_file(write(tmp_path, text))
    assert not cases
    assert len(errors) == 1
    message = str(errors[0])
    assert "\n" not in message
    return message


CHAIN = """
[[case]]
id = "chain-rule-graph"
title = "J(a, b, c) = 3(a + bc)"
vars = ["a", "b", "c"]
let = { v = "b*c", u = "a + v" }
f = "3*u"
at = { a = 5, b = 3, c = 2 }
directions = [[1, 1, 1]]
tangents = [[1, 0, 0]]
cotangents = [[2]]
order = 2
[case.claims]
grad = ["3", "3*c", "3*b"]
"d/da" = "3"
"d2/dbdc" = 3
directional = ["(3 + 3*c + 3*b)/sqrt(3)"]
jvp = [["3"]]
vjp = [["6", "6*c", "6*b"]]
"""


def test_the_contract_example_loads_with_every_claim_kind(tmp_path: Path) -> None:
    case = only_case(tmp_path, CHAIN)
    a, b, c = case.symbols
    assert case.id == "chain-rule-graph" and case.scalar and case.order == 2
    assert case.outputs == (3 * (a + b * c),)
    assert case.points == ((5, 3, 2),)
    assert case.lets == (("v", "b*c"), ("u", "a + v"))
    third = 1 / sympy.sqrt(3)
    assert case.directions == ((third, third, third),)
    kinds = {(c.key, c.quantity) for c in case.claims}
    assert ("grad", Quantity.JACOBIAN) in kinds and ("d2/dbdc", Quantity.HESSIAN) in kinds
    assert {c.index for c in case.claims if c.key == "grad"} == {(0, 0), (0, 1), (0, 2)}
    assert next(c for c in case.claims if c.key == "d2/dbdc").index == (0, 1, 2)
    assert {c.index for c in case.claims if c.key == "vjp"} == {(0, 0), (0, 1), (0, 2)}


def test_array_variables_data_and_array_claims(tmp_path: Path) -> None:
    case = only_case(tmp_path, """
[[case]]
id = "least-squares"
vars = ["w[2]"]
data = { X = [[1, 1], [3, 1]], y = [2, 4] }
f = "sum((y - X@w)**2) / 4"
at = { w = [0.5, -1] }
[case.claims]
grad = "X.T @ (X@w - y) / 2"
"d/dw" = [ "(X.T @ (X@w - y) / 2)[0]", 1.5 ]
""")
    assert [s.name for s in case.symbols] == ["w[0]", "w[1]"]
    assert case.points == ((sympy.Rational(1, 2), -1),)
    grad = [c for c in case.claims if c.key == "grad"]
    assert [c.index for c in grad] == [(0, 0), (0, 1)]


def test_matrix_variable_is_flattened_in_c_order(tmp_path: Path) -> None:
    case = only_case(tmp_path, """
[[case]]
id = "mean-square"
vars = ["x[2,2]"]
f = "mean(3*(x+2)**2)"
at = { x = [[1, 1], [1, 1]] }
[case.claims]
"d/dx" = [[4.5, 4.5], [4.5, 4.5]]
""")
    assert [s.name for s in case.symbols] == ["x[0,0]", "x[0,1]", "x[1,0]", "x[1,1]"]
    assert len(case.claims) == 4


def test_vector_function_jacobian_claims(tmp_path: Path) -> None:
    case = only_case(tmp_path, """
[[case]]
id = "polar"
vars = ["r", "t"]
f = ["r*cos(t)", "r*sin(t)"]
at = [{ r = 2, t = 0.5 }, { r = 1, t = 1 }]
[case.claims]
jacobian = [["cos(t)", "-r*sin(t)"], ["sin(t)", "r*cos(t)"]]
""")
    assert not case.scalar and case.n_outputs == 2 and len(case.points) == 2
    assert {c.index for c in case.claims} == {(0, 0), (0, 1), (1, 0), (1, 1)}


def test_sampled_points_are_seeded_and_inside_the_domain(tmp_path: Path) -> None:
    text = """
[[case]]
id = "sampled"
vars = ["x", "y"]
f = "log(x) + y"
sample = 5
domain = { x = [0.5, 2] }
"""
    first = only_case(tmp_path, text)
    again = only_case(tmp_path, text)
    assert first.points == again.points and len(first.points) == 5 and first.sampled == 5
    assert all(sympy.Rational(1, 2) <= p[0] <= 2 and -2 <= p[1] <= 2 for p in first.points)


def test_mismatch_and_descent(tmp_path: Path) -> None:
    case = only_case(tmp_path, """
[[case]]
id = "sse"
vars = ["w"]
f = "(2-w)**2 + (4-2*w)**2 + (6-3*w)**2"
at = { w = 0 }
expect = "mismatch"
descent = { rate = "1/56", start = 0, steps = 8 }
[case.claims]
"d/dw" = "-28*(w - 2)"
""")
    assert case.expect is Expect.MISMATCH
    assert case.descent is not None and case.descent.rate == sympy.Rational(1, 56) and case.descent.steps == 8


@pytest.mark.parametrize(
    "body, fragment",
    [
        ('id = "a"\nvars = ["x"]\nf = "x"\nat = { x = 1 }\nclaimz = {}', "field 'claimz': unknown key (did you mean 'claims'?)"),
        ('vars = ["x"]\nf = "x"\nat = { x = 1 }', "field 'id': is required"),
        ('id = "Bad_Id"\nvars = ["x"]\nf = "x"\nat = { x = 1 }', "field 'id'"),
        ('id = "a"\nvars = ["x[2]"]\nf = "sum(x)"\nat = { x = [1, 2, 3] }', "field 'at.x': has shape (3,)"),
        ('id = "a"\nvars = ["x"]\nf = "x"\nat = { x = "one" }', "field 'at.x': expected a number or a constant expression, got 'one': undefined name 'one'"),
        ('id = "a"\nvars = ["x"]\nf = "x + z"\nat = { x = 1 }', "case 'a': field 'f': undefined name 'z'"),
        ('id = "a"\nvars = ["x"]\nf = "x"\nat = [{ x = 1 }, { x = 2 }]\nclaims = { "d/dx" = 1 }', "number claim needs a case with exactly one point"),
        ('id = "a"\nvars = ["x"]\nf = "x"\nat = { x = 1 }\nclaims = { "d/dq" = 1 }', "'q' is not a variable"),
        ('id = "a"\nvars = ["x", "y"]\nf = "x*y"\nat = { x = 1, y = 2 }\nclaims = { grad = ["y"] }', "one entry per variable"),
        ('id = "a"\nvars = ["x"]\nf = "x"\nat = { x = 1 }\ndirections = [[0]]', "zero vector"),
        ('id = "a"\nvars = ["x"]\nf = "x"\nat = { x = 1 }\nexpect = "fail"', "field 'expect'"),
        ('id = "a"\nvars = ["sin"]\nf = "1"\nat = { sin = 1 }', "reserved"),
        ('id = "a"\nvars = ["__x"]\nf = "1"\nat = { __x = 1 }', "is not a variable like"),
        ('id = "a"\nvars = ["x"]\ndata = { __class__ = 1 }\nf = "x"\nat = { x = 1 }', "no '__'"),
    ],
)
def test_bad_cases_are_one_line_naming_file_case_and_field(tmp_path: Path, body: str, fragment: str) -> None:
    message = one_error(tmp_path, "[[case]]\n" + body + "\n")
    assert message.startswith(str(tmp_path / "c.toml"))
    assert fragment in message


def test_malformed_toml_names_line_and_column(tmp_path: Path) -> None:
    message = one_error(tmp_path, '[[case]]\nid = "a"\nvars = [x]\nf = "x"\n')
    assert "invalid TOML" in message and "line" in message and "column" in message


def test_a_bad_case_does_not_stop_the_others(tmp_path: Path) -> None:
    write(tmp_path, '[[case]]\nid = "good"\nvars = ["x"]\nf = "x^2"\nat = { x = 1 }\n'
                    '[[case]]\nid = "bad"\nvars = ["x"]\nf = "x +"\nat = { x = 1 }\n', "one.toml")
    write(tmp_path, '[[case]]\nid = "good"\nvars = ["x"]\nf = "x"\nat = { x = 1 }\n', "two.toml")
    write(tmp_path, '[tool.other]\nkey = 1\n', "pyproject.toml")
    result = load_paths([tmp_path])
    assert [c.id for c in result.cases] == ["good"]
    messages = sorted(str(e) for e in result.errors)
    assert len(messages) == 2
    assert "case 'bad': field 'f'" in messages[0] or "case 'bad': field 'f'" in messages[1]
    assert any("id is already used" in m for m in messages)
