"""The registry of elementary functions: one entry per function, and its forms agree.

Each function's torch, NumPy and mpmath forms are compared with SymPy's own value of the node
(evalf at 30 digits, an independent referee) at points inside the declared domain.
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
import sympy
import torch

from derivcheck.engines import autograd, exact_eval, numpy_eval
from derivcheck.language import parser
from derivcheck.language.registry import ANALYTIC, BY_NAME, BY_NODE, KINKED, SPECS
from derivcheck.report import steps

POINTS = (-2.5, -0.7, -0.1, 0.3, 0.9, 1.7, 3.2)
ONE_ARGUMENT = [s for s in SPECS if s.name and s.arity == 1]


def _inside(spec, x: float) -> bool:
    d = spec.domain
    if d.open:
        return d.low < x < d.high
    return d.low <= x <= d.high


@pytest.mark.parametrize("spec", ONE_ARGUMENT, ids=lambda s: s.name)
def test_every_form_agrees_with_sympy(spec):
    xs = [x for x in POINTS if _inside(spec, x)] or [spec.domain.low + 0.5]
    symbol = sympy.Symbol("x", real=True)
    node = spec.build(symbol)
    for x in xs:
        expected = float(node.subs(symbol, sympy.Float(x, 30)).evalf(30))
        if spec.torch is not None:
            got = float(spec.torch(torch, torch.tensor(x, dtype=torch.float64)))
            assert got == pytest.approx(expected, rel=1e-13, abs=1e-15), (spec.name, x, "torch")
        if spec.numpy is not None:
            got = float(np.asarray(spec.numpy(np.array([x])))[0])
            assert got == pytest.approx(expected, rel=1e-13, abs=1e-15), (spec.name, x, "numpy")
        if spec.mpmath is not None:
            got = float(spec.mpmath(mpmath.mp, mpmath.mpf(x)))
            assert got == pytest.approx(expected, rel=1e-14, abs=1e-15), (spec.name, x, "mpmath")


def test_the_language_reads_its_functions_from_the_registry():
    for name, spec in BY_NAME.items():
        if name == "log":
            continue  # one or two arguments: the parser's own
        table = parser.ELEMENTWISE_1 if spec.arity == 1 else parser.ELEMENTWISE_2
        assert table[name] is spec.build
    assert set(BY_NAME) <= set(parser.FUNCTIONS)


def test_the_engines_and_the_report_read_the_same_entries():
    for spec in SPECS:
        assert steps._CATEGORY[spec.node] == spec.family
        if spec.numpy is not None:
            assert numpy_eval.NUMPY_FUNCTIONS[spec.node] is spec.numpy
        if spec.mpmath is not None and spec.arity == 1:
            assert spec.node in exact_eval._RULES
        if spec.torch is not None and spec.arity == 1 and spec.node is not sympy.Heaviside:
            assert spec.node in autograd._UNARY
    assert steps.KINK_NOTES == {s.node: s.kink for s in SPECS if s.kink}


def test_kinks_and_analytic_functions():
    assert set(KINKED) == {sympy.Abs, sympy.Max, sympy.Min, sympy.Heaviside, sympy.sign, BY_NAME["relu"].node}
    assert not set(KINKED) & set(ANALYTIC)
    assert BY_NODE[sympy.erf] not in [BY_NODE[n] for n in ANALYTIC]  # torch's erf has no complex kernel


@pytest.mark.parametrize(
    ("text", "point", "words"),
    [("log(x)", 0, "infinite (log of 0)"), ("log(x)", -1, "not a real number (log of -1)"),
     ("acosh(x)", "1/2", "not a real number (acosh of 0.5)"), ("atanh(x)", 1, "infinite (atanh of 1)")],
)
def test_domain_walls_are_one_line_failures_in_the_exact_evaluator(text, point, words):
    from derivcheck.engines import exact
    from derivcheck.errors import EvaluationError

    x = sympy.Symbol("x", real=True)
    expr = parser.parse(text, {"x": x})
    with pytest.raises(EvaluationError) as info:
        exact.evaluate(expr, {x: sympy.Rational(point)})
    assert words in str(info.value) and "\n" not in str(info.value)


def test_sigmoid_and_softplus_never_overflow_in_mpmath():
    """Far in the tails both are exp(-800) to many digits (1/(1 + e^800) and log(1 + e^-800))."""
    tail = mpmath.exp(-800)
    for name in ("sigmoid", "softplus"):
        value = BY_NAME[name].mpmath(mpmath.mp, mpmath.mpf(-800))
        assert abs(value / tail - 1) < 1e-12, name


def test_one_latex_renderer_prints_the_registry_names_even_raised_to_a_power():
    from derivcheck.report.mathtext import latex

    x = sympy.Symbol("x", real=True)
    sigmoid, relu = BY_NAME["sigmoid"].build, BY_NAME["relu"].build
    assert latex(sigmoid(x) ** 2) == r"\left(\sigma\left(x\right)\right)^{2}"
    assert latex(relu(x)) == r"\operatorname{relu}\left(x\right)"
    assert latex(sympy.Heaviside(x)) == r"H\left(x\right)"
