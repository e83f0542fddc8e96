"""Points on a where()'s switching set: derivatives from the definition, mixed partials that differ."""

from __future__ import annotations

from pathlib import Path

import sympy

from derivcheck.cases.files import load_file
from derivcheck.cases.run import Status, run_case
from derivcheck.engines.definition import one_sided
from derivcheck.language.parser import parse
from derivcheck.verdict import Source, Verdict

x, y = sympy.symbols("x y", real=True)
CLASSIC = "where(x**2 + y**2 == 0, 0, x*y*(x**2 - y**2)/(x**2 + y**2))"


def test_the_definition_gives_the_books_mixed_partials() -> None:
    f = parse(CLASSIC, {"x": x, "y": y})
    assert one_sided(f, [x, y], [0, 0], [1, 0]) == (-1, -1)  # d/dy (df/dx): Stewart's f_xy
    assert one_sided(f, [x, y], [0, 0], [0, 1]) == (1, 1)  # d/dx (df/dy): Stewart's f_yx
    assert one_sided(f, [x, y], [0, 0], [0]) == (0, 0)


def test_a_where_with_a_jump_in_slope_has_two_one_sided_derivatives() -> None:
    f = parse("where(x < 0, -2*x, 3*x)", {"x": x})
    assert one_sided(f, [x], [0], [0]) == (-2, 3)
    g = parse("where(x == 0, 0, x)", {"x": x})  # the branch at the point has slope 0; f has 1
    assert one_sided(g, [x], [0], [0]) == (1, 1)


def run(tmp_path: Path, claims: str, expect: str):
    path = tmp_path / "c.toml"
    path.write_text(f'[[case]]\nid = "c"\nvars = ["x", "y"]\nf = "{CLASSIC}"\nat = {{ x = 0, y = 0 }}\n'
                    f'order = 2\nexpect = "{expect}"\n[case.claims]\n{claims}\n', encoding="utf-8")
    cases, errors = load_file(path)
    assert not errors, [str(e) for e in errors]
    return run_case(cases[0])


def test_mixed_partials_that_differ_are_reported_not_an_error(tmp_path: Path) -> None:
    result = run(tmp_path, '"d2/dydx" = -1\n"d2/dxdy" = 1', "not-differentiable")
    assert result.status is Status.OK, result.message
    rows = {r.label: r for r in result.rows}
    assert rows["d2f/dydx"].exact == -1 and rows["d2f/dxdy"].exact == 1
    assert rows["d2f/dxdy"].verdict is Verdict.NOT_DIFFERENTIABLE
    assert "mixed partials differ" in rows["d2f/dxdy"].note


def test_claiming_equal_mixed_partials_is_caught(tmp_path: Path) -> None:
    result = run(tmp_path, '"d2/dydx" = 1\n"d2/dxdy" = 1', "mismatch")
    assert result.status is Status.OK, result.message
    assert [r.label for r in result.rows if Source.CLAIM in r.wrong] == ["d2f/dydx"]
