"""det, max_rate, max_direction, laplacian, divergence and curl: claims and every source."""

from __future__ import annotations

from pathlib import Path

import pytest

from derivcheck.cases.files import load_file
from derivcheck.cases.run import Status, run_case
from derivcheck.model import Quantity
from derivcheck.verdict import Source, Verdict


def load(tmp_path: Path, text: str):
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    return load_file(path)


CASES = """
[[case]]
id = "polar-jacobian"
vars = ["r", "theta"]
f = ["r*cos(theta)", "r*sin(theta)"]
at = { r = 2, theta = "pi/3" }
[case.claims]
det = "r"
divergence = "cos(theta) + r*cos(theta)"

[[case]]
id = "max-rate"
vars = ["x", "y", "z"]
f = "x*exp(y*z)"
at = { x = 2, y = 1, z = 3 }
[case.claims]
max_rate = "exp(y*z)*sqrt(1 + x**2*z**2 + x**2*y**2)"
max_direction = ["1/sqrt(1 + x**2*z**2 + x**2*y**2)", "x*z/sqrt(1 + x**2*z**2 + x**2*y**2)", "x*y/sqrt(1 + x**2*z**2 + x**2*y**2)"]
laplacian = "x*exp(y*z)*(z**2 + y**2)"

[[case]]
id = "curl-field"
vars = ["x", "y", "z"]
f = ["x*z", "x*y*z", "-y**2"]
at = { x = 1, y = 2, z = 3 }
[case.claims]
curl = ["-2*y - x*y", "x", "y*z"]
divergence = "z + x*z"
"""


def test_every_derived_quantity_agrees_across_sources(tmp_path: Path) -> None:
    cases, errors = load(tmp_path, CASES)
    assert not errors
    results = {c.id: run_case(c) for c in cases}
    for case_id, result in results.items():
        assert result.status is Status.OK, (case_id, result.message)
    rows = {r.quantity: r for result in results.values() for r in result.rows}
    for quantity in (Quantity.DET, Quantity.MAX_RATE, Quantity.MAX_DIRECTION, Quantity.LAPLACIAN,
                     Quantity.DIVERGENCE, Quantity.CURL):
        row = rows[quantity]
        assert row.verdict is Verdict.PASS and row.claims and row.numeric is not None
        assert row.reverse is not None or row.forward is not None
    assert rows[Quantity.DET].exact == 2.0  # the polar case's r


def test_a_wrong_determinant_is_caught(tmp_path: Path) -> None:
    cases, _ = load(tmp_path, CASES.replace('det = "r"', 'det = "r**2"'))
    result = run_case(cases[0])
    assert result.status is Status.FAILED
    assert [r.label for r in result.rows if Source.CLAIM in r.wrong] == ["det Jf"]


@pytest.mark.parametrize("body, message", [
    ('vars = ["x", "y"]\nf = "x*y"\nat = { x = 1, y = 1 }\nclaims = { det = 1 }', "needs a square Jacobian"),
    ('vars = ["x", "y"]\nf = ["x", "y"]\nat = { x = 1, y = 1 }\nclaims = { curl = [0, 0, 0] }', "3-D vector field"),
    ('vars = ["x", "y"]\nf = ["x", "y"]\nat = { x = 1, y = 1 }\nclaims = { laplacian = 0 }', "scalar function"),
    ('vars = ["x", "y"]\nf = "x*y"\nat = { x = 1, y = 1 }\nclaims = { max_direction = [1] }', "shape"),
    ('vars = ["x"]\nf = "x"\nat = { x = 1 }\nclaims = { max_rat = 1 }', "did you mean 'max_rate'"),
])
def test_derived_claims_that_do_not_fit_the_case(tmp_path: Path, body: str, message: str) -> None:
    _, errors = load(tmp_path, f'[[case]]\nid = "c"\n{body}\n')
    assert len(errors) == 1 and message in str(errors[0])
