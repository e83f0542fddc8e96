"""The case language: what parses, to what, and what is refused."""

from __future__ import annotations

import numpy as np
import pytest
import sympy

from derivcheck.errors import ExpressionError
from derivcheck.language.functions import relu, sigmoid, softplus
from derivcheck.language.parser import parse, shape_of

x, y = sympy.symbols("x y", real=True)


def vector(name: str, n: int) -> np.ndarray:
    out = np.empty(n, dtype=object)
    out[:] = [sympy.Symbol(f"{name}[{i}]", real=True) for i in range(n)]
    return out


def matrix(rows: list[list[int]]) -> np.ndarray:
    out = np.empty((len(rows), len(rows[0])), dtype=object)
    for i, row in enumerate(rows):
        for j, v in enumerate(row):
            out[i, j] = sympy.Integer(v)
    return out


@pytest.mark.parametrize(
    "text, expected",
    [
        ("x^2 + 3*x", x**2 + 3 * x),
        ("x**2 * y", x**2 * y),
        ("-x + +y", -x + y),
        ("0.1 * x", sympy.Rational(1, 10) * x),
        ("1e-3", sympy.Rational(1, 1000)),
        ("pi * E", sympy.pi * sympy.E),
        ("log(x, 2)", sympy.log(x) / sympy.log(2)),
        ("atan2(y, x)", sympy.atan2(y, x)),
        ("max(x, y) - min(x, y)", sympy.Max(x, y) - sympy.Min(x, y)),
        ("abs(x) + heaviside(x)", sympy.Abs(x) + sympy.Heaviside(x)),
        ("sigmoid(x) + softplus(x) + relu(x)", sigmoid(x) + softplus(x) + relu(x)),
        ("erf(x) + asinh(x) + acosh(x) + atanh(x)", sympy.erf(x) + sympy.asinh(x) + sympy.acosh(x) + sympy.atanh(x)),
        ("sqrt(x)", sympy.sqrt(x)),
    ],
)
def test_scalar_expressions_parse_to_sympy(text: str, expected: sympy.Expr) -> None:
    assert sympy.simplify(parse(text, {"x": x, "y": y}) - expected) == 0


def test_floats_become_exact_rationals_by_their_decimal_text() -> None:
    assert parse("0.1") == sympy.Rational(1, 10)
    assert parse("2.5e2") == 250


def test_arrays_broadcast_like_numpy() -> None:
    w = vector("w", 3)
    value = parse("2*w + 1", {"w": w})
    assert shape_of(value) == (3,)
    assert list(value) == [2 * s + 1 for s in w]


def test_matmul_transpose_and_indexing() -> None:
    X = matrix([[1, 1], [3, 1]])
    w = vector("w", 2)
    grad = parse("X.T @ (X@w - [2, 4]) / 2", {"X": X, "w": w})
    w0, w1 = w
    assert sympy.expand(grad[0] - (10 * w0 + 4 * w1 - 14) / 2) == 0
    assert parse("X[1, 0] + X[-1, -1]", {"X": X}) == 4
    assert list(parse("X[0]", {"X": X})) == [1, 1]


def test_reductions_expand_to_scalars() -> None:
    w = vector("w", 3)
    names = {"w": w}
    assert parse("sum(w)", names) == sum(w)
    assert parse("mean(w)", names) == sum(w) / 3
    assert parse("norm(w)", names) == sympy.sqrt(sum(s**2 for s in w))
    assert parse("dot(w, w)", names) == sum(s**2 for s in w)
    assert parse("logsumexp(w)", names) == sympy.log(sum(sympy.exp(s) for s in w))
    soft = parse("softmax(w)", names)
    assert shape_of(soft) == (3,)
    total = sympy.simplify(sum(soft))
    assert total == 1


def test_softmax_of_a_matrix_normalises_each_row() -> None:
    m = np.empty((2, 2), dtype=object)
    m[:] = [[x, y], [y, x]]
    soft = parse("softmax(m)", {"m": m})
    assert sympy.simplify(soft[0, 0] + soft[0, 1]) == 1
    assert sympy.simplify(soft[1, 0] + soft[1, 1]) == 1


@pytest.mark.parametrize(
    "text, message",
    [
        ("foo(x)", "unknown function 'foo'"),
        ("sine(x)", "did you mean 'sin'"),
        ("xx + 1", "undefined name 'xx'"),
        ("x.real", "attribute 'real' is not allowed"),
        ("x if y else 1", "needs a condition"),
        ("x < y", "is a condition, not a number"),
        ("'text'", "numbers only"),
        ("sin", "must be called"),
        ("sin(x, y)", "takes 1 argument"),
        ("log()", "takes 1 or 2"),
        ("x[0]", "only arrays can be indexed"),
        ("1/0", "division by zero"),
        ("", "empty"),
        ("x +", "cannot parse"),
        ("sin(x=1)", "positional"),
    ],
)
def test_bad_text_is_one_clear_error(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        parse(text, {"x": x, "y": y})


def test_shape_errors_name_the_shapes() -> None:
    names = {"a": vector("a", 2), "b": vector("b", 3)}
    with pytest.raises(ExpressionError, match=r"shapes \(2,\) and \(3,\)"):
        parse("a + b", names)
    with pytest.raises(ExpressionError, match="out of range"):
        parse("a[5]", names)


@pytest.mark.parametrize("text", ["9**9**9", "x**5000", "((x**100)**100)**100", "10**10**10"])
def test_exponent_limits_refuse_towers(text: str) -> None:
    with pytest.raises(ExpressionError, match="limit"):
        parse(text, {"x": x})


