"""Fuzzing the parser and the loader: any text gives a parsed value or derivcheck's own error type,
quickly; and well-formed random expressions parse to the value an independent evaluator computes.
"""

from __future__ import annotations

import json
import math
import os
import time

import numpy as np
import pytest
import sympy
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from derivcheck.cases.files import loads
from derivcheck.cases.loader import CASE_KEYS
from derivcheck.errors import CaseError, ExpressionError
from derivcheck.language.parser import FUNCTIONS, parse

x, y = sympy.symbols("x y", real=True)
NAMES = {
    "x": x,
    "y": y,
    "v": np.array(sympy.symbols("v:3", real=True), dtype=object),
    "M": np.array(sympy.symbols("m:6", real=True), dtype=object).reshape(2, 3),
}
#: DERIVCHECK_FUZZ_SCALE=10 runs ten times the examples (a longer local fuzz)
SCALE = int(os.environ.get("DERIVCHECK_FUZZ_SCALE", "1"))
RANDOM = os.environ.get("DERIVCHECK_FUZZ_RANDOM") == "1"  # the soak script explores new examples
FUZZ = settings(max_examples=300 * SCALE, derandomize=not RANDOM, deadline=2000, suppress_health_check=[HealthCheck.too_slow])


def parse_or_own_error(text: str) -> None:
    """The contract: a value, or ExpressionError; nothing else, and never slowly."""
    start = time.perf_counter()
    try:
        value = parse(text, NAMES)
    except ExpressionError as exc:
        message = str(exc)
        assert message and "\n" not in message
    else:
        assert isinstance(value, (sympy.Basic, np.ndarray))
    assert time.perf_counter() - start < 1.5


@FUZZ
@given(st.text(max_size=200))
def test_any_text_parses_or_raises_expression_error(text):
    parse_or_own_error(text)


TOKENS = [
    "x", "y", "v", "M", "pi", "E", "z", "__import__", "__class__", "eval", "lambda", "os",
    "0", "1", "2", "0.5", "1e308", "1e-320", "9", "10", "99999999999999999999999999999999999999999",
    "+", "-", "*", "/", "**", "^", "@", "%", "//", ".", ",", ":", ";", "=", "==", "<", "and", "not",
    "if", "else", "for", "in", "(", ")", "[", "]", "{", "}", "'s'", '"s"', ".T", "[0]", "[-1]", "[0:2]",
    " ", "\t", "\n", "\\", "#", "...", "None", "True", "j", "1j", "∑", "−", "\x00",
    *[f"{name}(" for name in FUNCTIONS],
]


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=40))
def test_token_soup_parses_or_raises_expression_error(tokens):
    parse_or_own_error("".join(tokens))


# A grammar of well-formed scalar expressions, each paired with an independent float evaluator ---------
POINT = {"x": 0.7, "y": -1.3}
UNARY = {
    "sin": math.sin, "cos": math.cos, "atan": math.atan, "tanh": math.tanh, "exp": math.exp,
    "asinh": math.asinh, "erf": math.erf, "abs": abs,
    "sigmoid": lambda a: 1 / (1 + math.exp(-a)),
    "softplus": lambda a: math.log1p(math.exp(a)),
    "relu": lambda a: max(a, 0.0),
}
BINARY = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}


def leaves() -> st.SearchStrategy:
    """(text, value, largest |intermediate|): the float oracle is only trusted on moderate values."""
    numbers = st.integers(-9, 9).map(lambda n: (str(n) if n >= 0 else f"({n})", float(n), abs(n)))
    names = st.sampled_from([("x", POINT["x"], 1.0), ("y", POINT["y"], 1.3), ("pi", math.pi, 3.2), ("E", math.e, 2.8)])
    return numbers | names


def _node(text: str, value: float, *parts: tuple) -> tuple[str, float, float]:
    return text, value, max([abs(value), *(p[2] for p in parts)])


def extend(children: st.SearchStrategy) -> st.SearchStrategy:
    unary = st.tuples(st.sampled_from(sorted(UNARY)), children).map(
        lambda t: _node(f"{t[0]}({t[1][0]})", UNARY[t[0]](t[1][1]), t[1])
    )
    binary = st.tuples(st.sampled_from(sorted(BINARY)), children, children).map(
        lambda t: _node(f"({t[1][0]} {t[0]} {t[2][0]})", BINARY[t[0]](t[1][1], t[2][1]), t[1], t[2])
    )
    square = children.map(lambda c: _node(f"({c[0]})^2", c[1] ** 2, c))
    divide = st.tuples(children, children).map(
        lambda t: _node(f"{t[0][0]} / (1 + ({t[1][0]})**2)", t[0][1] / (1 + t[1][1] ** 2), t[0], t[1])
    )
    logs = children.map(lambda c: _node(f"log(2 + sin({c[0]}))", math.log(2 + math.sin(c[1])), c))
    maxes = st.tuples(children, children).map(
        lambda t: _node(f"max({t[0][0]}, {t[1][0]})", max(t[0][1], t[1][1]), t[0], t[1])
    )
    return unary | binary | square | divide | logs | maxes


def _safe(function):
    def call(*args: float) -> float:
        try:
            return function(*args)
        except (OverflowError, ValueError):
            return math.inf
    return call


UNARY = {name: _safe(fn) for name, fn in UNARY.items()}
BINARY = {name: _safe(fn) for name, fn in BINARY.items()}
EXPRESSIONS = st.recursive(leaves(), extend, max_leaves=12)


@settings(max_examples=200 * SCALE, derandomize=not RANDOM, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(EXPRESSIONS)
def test_well_formed_expressions_parse_to_the_value_an_independent_evaluator_gives(triple):
    text, expected, largest = triple
    # float rounding of a large intermediate (sin(exp(9)**2)) would make the oracle itself wrong
    assume(math.isfinite(largest) and largest < 1e4)
    value = parse(text, NAMES)
    # SymPy's evalf, not derivcheck's evaluator; it may leave a zero imaginary part (0.e-44*I)
    got = complex(value.xreplace({x: sympy.Rational(7, 10), y: sympy.Rational(-13, 10)}).evalf(30))
    assert abs(got.imag) <= 1e-20 * max(1.0, abs(got.real))
    assert got.real == pytest.approx(expected, rel=1e-9, abs=1e-9)


# The loader: any table structure gives cases or CaseErrors ------------------------------------------
SCALARS = (
    st.text(max_size=12) | st.integers(-10**30, 10**30) | st.floats(allow_nan=True) | st.booleans()
    | st.sampled_from(["x", "y", "x^2", "sin(x)", "x[2]", "w[2,3]", "grad", "pass", "mismatch", "d/dx", "__class__"])
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(["x", "y", "w", "a", "__a"]) | st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)
TABLES = st.dictionaries(st.sampled_from(CASE_KEYS) | st.text(max_size=6), VALUES, max_size=8)


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def toml_document(tables: list[dict]) -> str:
    parts = []
    for table in tables:
        parts.append("[[case]]")
        parts.extend(f"{json.dumps(k)} = {toml_value(v)}" for k, v in table.items())
    return "\n".join(parts) + "\n"


@settings(max_examples=300 * SCALE, derandomize=not RANDOM, deadline=3000, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(TABLES, min_size=1, max_size=3))
def test_any_case_table_loads_or_gives_case_errors(tables):
    text = toml_document(tables)
    cases, errors = loads(text, path="fuzz.toml")
    assert len(cases) + len(errors) >= 1
    for error in errors:
        assert isinstance(error, CaseError)
        # a case with several errors reports each on its own line, each naming file and case
        for one in getattr(error, "errors", [error]):
            assert str(one).startswith("fuzz.toml: ")
            assert "\n" not in str(one)
        assert "derivcheck bug" not in str(error)


@FUZZ
@given(st.text(max_size=300))
def test_any_file_text_loads_or_gives_case_errors(text):
    _, errors = loads(text, path="junk.toml")
    assert all(isinstance(e, CaseError) and str(e).startswith("junk.toml") for e in errors)
