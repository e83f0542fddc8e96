"""The written-tree differentiator, with no mistake, against SymPy on every shipped case."""

from __future__ import annotations

from pathlib import Path

import mpmath
import numpy as np
import pytest
import sympy

from derivcheck.cases.files import load_paths, loads
from derivcheck.engines import exact
from derivcheck.mistakes.backends import FLOAT, MATCH_DIGITS, MP
from derivcheck.mistakes.differentiate import Walk
from derivcheck.mistakes.tree import Unsupported, build_tree

CASES = Path(__file__).resolve().parents[2] / "cases"
LOADED = load_paths([CASES]).cases


def _unit_seeds(n: int) -> list[tuple[sympy.Expr, ...]]:
    return [tuple(sympy.Integer(int(i == j)) for i in range(n)) for j in range(n)]


@pytest.mark.parametrize("case", LOADED, ids=[c.id for c in LOADED])
def test_right_derivative_matches_sympy_on_every_shipped_case(case) -> None:
    point = case.points[0]
    subs = exact.substitution(case.symbols, point)
    if exact.kinks(case.outputs, subs):
        pytest.skip("a kink at the point: the derivative there is a convention")
    tree = build_tree(case)
    for backend in (FLOAT, MP):
        with mpmath.workdps(MATCH_DIGITS), np.errstate(all="ignore"):
            walk = Walk(tree, backend, point, _unit_seeds(case.n_inputs))
            out = walk.outputs(walk.tangents())
        for i, f in enumerate(case.outputs):
            for j, symbol in enumerate(case.symbols):
                reference = float(exact.evaluate(sympy.diff(f, symbol), subs))
                assert float(out[j, i]) == pytest.approx(reference, rel=1e-9, abs=1e-12), (backend.name, i, j)


def test_nodes_keep_their_text_as_written_and_lets_are_shared() -> None:
    (case,), _ = loads("""
[[case]]
id = "t"
vars = ["w", "b"]
data = { xs = [1, 2], ys = [3, 5] }
let = { yp = "w*xs + b" }
f = "sum((ys - yp)^2)/2 + mean(yp)"
at = { w = 1, b = 0 }
""")
    tree = build_tree(case)
    texts = [n.text for n in tree.nodes]
    assert "(ys - yp)^2" in texts  # the caret kept as the author wrote it
    assert "w*xs + b" in texts
    yp = next(n for n in tree.nodes if n.let == "yp")
    users = [n for n in tree.nodes if yp.id in n.children]
    assert {u.text for u in users} == {"ys - yp", "mean(yp)"}
    assert sum(1 for n in tree.nodes if n.kind == "var") == 2


def test_text_outside_the_modelled_language_is_refused() -> None:
    from derivcheck.mistakes.tree import build_expression
    from derivcheck.model import Variable

    with pytest.raises(Unsupported):
        build_expression("x.shape", [Variable.declare("x")])
