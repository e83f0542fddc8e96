"""Implicit differentiation: F = 0 defines y; dy/dx and d2y/dx2 checked three ways."""

from __future__ import annotations

from pathlib import Path

import pytest
import sympy

from derivcheck.cases.files import load_file
from derivcheck.cases.implicit_rows import derivative
from derivcheck.cases.run import Status, run_case
from derivcheck.model import Quantity
from derivcheck.verdict import Source, Verdict

CIRCLE = """
[[case]]
id = "circle"
vars = ["x", "y"]
implicit = "x**2 + y**2 - 25"
dependent = "y"
at = [{ x = 3, y = 4 }, { x = "sqrt(7)", y = "-sqrt(18)" }]
[case.claims]
"dy/dx" = "-x/y"
"d2y/dx2" = "-25/y**3"
"""


def load(tmp_path: Path, text: str):
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    return load_file(path)


def test_the_formula_is_the_textbook_one() -> None:
    x, y = sympy.symbols("x y", real=True)
    cases, _ = load_file_text("x**2 + y**2 - 25")
    implicit = cases[0].implicit
    assert sympy.simplify(derivative(implicit, [x, y], (0,)) + x / y) == 0
    assert sympy.simplify(derivative(implicit, [x, y], (0, 0)) + (x**2 + y**2) / y**3) == 0


def load_file_text(F: str):
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        return load(Path(folder), CIRCLE.replace("x**2 + y**2 - 25", F))


def test_implicit_derivatives_agree_across_sources(tmp_path: Path) -> None:
    cases, errors = load(tmp_path, CIRCLE)
    assert not errors
    result = run_case(cases[0])
    assert result.status is Status.OK, result.message
    rows = [r for r in result.rows if r.quantity is Quantity.IMPLICIT]
    assert {r.label for r in rows} == {"dy/dx", "d2y/dx2"}
    first = next(r for r in rows if r.label == "dy/dx" and r.point == 0)
    assert first.exact == -0.75 and abs(first.reverse + 0.75) < 1e-15 and abs(first.numeric + 0.75) < 1e-9
    assert "Newton" in first.method
    second = next(r for r in rows if r.label == "d2y/dx2" and r.point == 0)
    assert abs(second.exact + 25 / 64) < 1e-15 and second.verdict is Verdict.PASS


def test_a_wrong_implicit_derivative_is_caught(tmp_path: Path) -> None:
    cases, _ = load(tmp_path, CIRCLE.replace('"-25/y**3"', '"-1/y"'))
    result = run_case(cases[0])
    assert {r.label for r in result.rows if Source.CLAIM in r.wrong} == {"d2y/dx2"}


@pytest.mark.parametrize("change, message", [
    (('{ x = 3, y = 4 }', '{ x = 3, y = 5 }'), "point 1 is not on F = 0: F = 9"),
    (('{ x = 3, y = 4 }', '{ x = 5, y = 0 }'), "dF/dy = 0"),
    (('dependent = "y"', 'dependent = "q"'), "must name a scalar variable"),
    (('implicit = "x**2 + y**2 - 25"', 'implicit = "x**2 + y**2 - 25"\nf = "x"'), "either 'f' or 'implicit'"),
    (('"dy/dx" = "-x/y"', '"dy/dy" = "1"'), "is by the other variables"),
])
def test_implicit_mistakes_are_one_line(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    _, errors = load(tmp_path, CIRCLE.replace(*change))
    assert len(errors) == 1 and message in str(errors[0]), [str(e) for e in errors]
