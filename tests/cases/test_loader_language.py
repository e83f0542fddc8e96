"""The loader's side of the case language: exact constants everywhere, names, orders, errors."""

from __future__ import annotations

import pytest
import sympy

from derivcheck.cases.files import loads
from derivcheck.model import Quantity

BASE = '[[case]]\nid = "c"\nvars = ["t", "w[2]"]\nf = "sin(t)*w[0] + w[1]**2"\n'


def one(text: str):
    cases, errors = loads(text)
    assert not errors, [str(e) for e in errors]
    return cases[0]


def test_points_vectors_data_and_descent_keep_exact_constants() -> None:
    case = one(BASE + 'at = { t = "pi/4", w = ["2/3", "sqrt(2)/2"] }\n'
               'directions = [["cos(pi/6)", "sin(pi/6)", 0]]\ntangents = [[1, "1/3", "E"]]\n'
               'descent = { rate = "1/8", start = ["pi", 0, "-1/2"], steps = 2 }\n')
    assert case.points[0] == (sympy.pi / 4, sympy.Rational(2, 3), sympy.sqrt(2) / 2)
    assert case.directions[0] == (sympy.sqrt(3) / 2, sympy.Rational(1, 2), 0)
    assert case.tangents[0][2] == sympy.E
    assert case.descent.start == (sympy.pi, 0, sympy.Rational(-1, 2))
    data = one('[[case]]\nid = "d"\nvars = ["x"]\ndata = { c = "sqrt(3)", v = [1, "pi"] }\nf = "c*x"\nat = { x = 1 }\n').data
    assert data["c"] == sympy.sqrt(3) and list(data["v"]) == [1, sympy.pi]


def test_a_domain_may_be_constant_text_and_samples_stay_inside() -> None:
    case = one(BASE + 'sample = 5\ndomain = { t = ["-pi", "pi/2"] }\n')
    assert all(-3.1416 <= float(p[0]) <= 1.5708 for p in case.points)


@pytest.mark.parametrize("field, text, message", [
    ("domain.t", 'sample = 1\ndomain = { t = ["a", 1] }', "low and high must be numbers or constant text"),
    ("domain.t", 'sample = 1\ndomain = { t = ["pi", 1] }', "must be [low, high] with low < high"),
    ("at.t", 'at = { t = "x", w = [1, 2] }', "undefined name 'x'"),
    ("directions[0]", 'at = { t = 1, w = [1, 2] }\ndirections = [["sqrt(-1)", 0, 0]]', "not a real number"),
    ("order", 'at = { t = 1, w = [1, 2] }\norder = 5', "from 1 to 4"),
    ("name", 'at = { t = 1, w = [1, 2] }\nname = "t"', "already a variable"),
])
def test_text_where_a_number_belongs_is_named(field: str, text: str, message: str) -> None:
    _, errors = loads(BASE + text + "\n")
    assert len(errors) == 1
    assert f"field '{field}'" in str(errors[0]) and message in str(errors[0]), str(errors[0])


def test_old_and_new_second_partial_keys_are_the_same_claim() -> None:
    case = one('[[case]]\nid = "h"\nvars = ["x", "y"]\nf = "x**2*y"\nat = { x = 1, y = 2 }\n'
               '[case.claims]\n"d2/dxdx" = 4\n"d2/dx2" = 4\n"d2/dxdy" = 2\n')
    hessian = [(c.key, c.index) for c in case.claims]
    assert hessian == [("d2/dxdx", (0, 0, 0)), ("d2/dx2", (0, 0, 0)), ("d2/dxdy", (0, 0, 1))]
    assert all(c.quantity is Quantity.HESSIAN for c in case.claims)


def test_order_four_derives_every_distinct_partial() -> None:
    case = one('[[case]]\nid = "o"\nvars = ["x", "y"]\nf = "x**4*y"\nat = { x = 1, y = 2 }\norder = 4\n')
    assert [p.key for p in case.partials] == ["order 3", "order 4"]  # one tensor per order
    labels = sorted(label for p in case.partials for label in p.labels[0])
    assert labels == sorted(["d3f/dx3", "d3f/dx2dy", "d3f/dxdy2", "d3f/dy3",
                             "d4f/dx4", "d4f/dx3dy", "d4f/dx2dy2", "d4f/dxdy3", "d4f/dy4"])


def test_a_claimed_partial_is_not_derived_twice_by_order() -> None:
    case = one('[[case]]\nid = "o"\nvars = ["x", "y"]\nf = "x**4*y"\nat = { x = 1, y = 2 }\norder = 3\n'
               '[case.claims]\n"d3/dx2dy" = "12*x**2"\n')
    labels = [label for p in case.partials for label in p.labels[0]]
    assert sorted(labels) == ["d3f/dx2dy", "d3f/dx3", "d3f/dxdy2", "d3f/dy3"]


def test_every_error_of_a_case_is_reported_once_each() -> None:
    _, errors = loads('[[case]]\nid = "Bad-Case"\nvars = ["x", "y"]\nf = "x**2*y"\n'
                      'at = { x = 1, y = "two" }\ndomain = { x = ["a", 1] }\nsample = 1\norder = 9\n'
                      '[case.claims]\n"d2/dx" = 2\ngradient = [1, 2]\n')
    assert len(errors) == 1
    fields = [e.field for e in errors[0].errors]
    assert fields == ["id", "at.y", "domain.x", "order", "claims.d2/dx", "claims.gradient"]
    text = str(errors[0])
    assert "says order 2, but its denominator has order 1" in text and "did you mean 'grad'?" in text
    assert "a number claim needs" not in text  # the points did not load: no second error for them
