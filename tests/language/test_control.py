"""where(), comparisons, and/or/not, and finite sums and products over an index."""

from __future__ import annotations

import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from derivcheck.errors import ExpressionError
from derivcheck.language.parser import parse

x, y = sympy.symbols("x y", real=True)
v = np.array(sympy.symbols("v0:4", real=True), dtype=object)
NAMES = {"x": x, "y": y, "v": v}


@pytest.mark.parametrize("text, expected", [
    ("where(x < 0, -x, x**2)", sympy.Piecewise((-x, x < 0), (x**2, True))),
    ("x if x >= 0 else -x", sympy.Piecewise((x, x >= 0), (-x, True))),
    ("where(x > 0 and y <= 1, 1, 2)", sympy.Piecewise((1, sympy.And(x > 0, y <= 1)), (2, True))),
    ("where(x < 0 or not (y == 1), 1, 2)", sympy.Piecewise((1, sympy.Or(x < 0, sympy.Ne(y, 1))), (2, True))),
    ("where(0 < x < 1, x, 0)", sympy.Piecewise((x, sympy.And(x > 0, x < 1)), (0, True))),
    ("sum(x**k / k for k in range(1, 6))", sum(x**k / k for k in range(1, 6))),
    ("prod(x + k for k in range(3))", x * (x + 1) * (x + 2)),
    ("sum(v[k] * v[k + 1] for k in range(3))", v[0] * v[1] + v[1] * v[2] + v[2] * v[3]),
    ("sum(v[i] * v[j] for i in range(2) for j in range(2))", (v[0] + v[1]) ** 2),
    ("sum(k for k in range(10, 0, -3))", sympy.Integer(10 + 7 + 4 + 1)),
    ("prod(v)", v[0] * v[1] * v[2] * v[3]),
])
def test_piecewise_and_sums_build_sympy(text: str, expected: sympy.Expr) -> None:
    assert sympy.expand(parse(text, NAMES) - expected) == 0 if not isinstance(expected, sympy.Piecewise) \
        else parse(text, NAMES) == expected


def test_where_is_element_wise_over_arrays() -> None:
    value = parse("where(v > 0, v, 0)", NAMES)
    assert value.shape == (4,) and value[2] == sympy.Piecewise((v[2], v[2] > 0), (0, True))


@pytest.mark.parametrize("text, message", [
    ("x + (x < 1)", "a condition .comparison. is not a number"),
    ("x < 1", "is a condition, not a number"),
    ("where(x, 1, 2)", "needs a condition"),
    ("where(x < 1, 1)", "takes 3 arguments"),
    ("not x", "'not' applies to a condition"),
    ("x < 1 and 2", "join conditions"),
    ("sum(x for x in range(3))", "index name 'x' is already a name"),
    ("sum(k for k in range(9**9))", "small integer literals"),
    ("sum(k for k in range(1, 5) if k)", "no 'if'"),
    ("sum(k for k in range(0, 5, 0))", "step must not be zero"),
    ("sum(v[k] for k in range(5))", "out of range"),
    ("mean(k for k in range(3))", "not allowed"),
    ("sum(k for k in range(1000) for j in range(1000))", "limit"),
    ("range(3)", "unknown function 'range'"),
    ("sum(k for k in lst)", "range"),
])
def test_misuse_is_one_clear_error(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        parse(text, NAMES)


@settings(max_examples=40, deadline=None)
@given(st.integers(-20, 20), st.integers(-20, 20), st.integers(-4, 4).filter(lambda s: s != 0))
def test_a_sum_over_range_is_the_sum_written_out(start: int, stop: int, step: int) -> None:
    written = sum((x + k) ** 2 for k in range(start, stop, step))
    assert sympy.expand(parse(f"sum((x + k)**2 for k in range({start}, {stop}, {step}))", NAMES) - written) == 0
