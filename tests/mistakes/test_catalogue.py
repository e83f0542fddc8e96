"""A catalogue of classic wrong derivatives, each diagnosed with the right rule at the right node.

Drawn from calculus textbooks' common-error notes (Stewart's and Thomas's "common mistakes"
boxes: dropping the chain rule's inner derivative, (uv)' = u'v', the quotient rule's order,
d/dx a^x = x a^(x-1), d cos = sin, d log_a x = 1/x, d/dx (x + 5) = 1 + 5) and from the
tutorials this project comes from (the MSE bias gradient's lost sign, the 1/N of a mean, the
transposes of matrix calculus). The claims are what a student would write, not what the
differentiator produced: each is typed independently of the catalogue's code.
"""

from __future__ import annotations

import json

import pytest

from derivcheck.cases.files import loads
from derivcheck.mistakes.catalogue import RULES
from derivcheck.mistakes.search import diagnose

#: (id, vars, f, claim key, claim, at (TOML), extra TOML lines, rule, node as written)
MISTAKES = [
    # chain: the inner derivative dropped, its sign lost, the outer derivative at the wrong argument
    ("exp-inner", '["x"]', "exp(2*x)", "d/dx", "exp(2*x)", "[{x = 0.3}, {x = -1.2}]", "", "chain", "exp(2*x)"),
    ("ln-inner", '["x"]', "log(x**2 + 1)", "d/dx", "1/(x**2 + 1)", "[{x = 0.7}, {x = 2}]", "", "chain",
     "log(x**2 + 1)"),
    ("sin-inner", '["x"]', "sin(3*x)", "d/dx", "cos(3*x)", "[{x = 0.2}, {x = 1.1}]", "", "chain", "sin(3*x)"),
    ("power-inner", '["x"]', "(x**2 + 1)**3", "d/dx", "3*(x**2 + 1)**2", "[{x = 0.5}, {x = -2}]", "", "chain",
     "(x**2 + 1)**3"),
    ("sqrt-inner", '["x"]', "sqrt(x**2 + 1)", "d/dx", "1/(2*sqrt(x**2 + 1))", "[{x = 0.5}, {x = 3}]", "",
     "chain", "sqrt(x**2 + 1)"),
    ("square-inner-sign", '["b"]', "(y - b)**2", "d/db", "2*(y - b)", "[{b = 0.5}, {b = 4}]", "data = { y = 3 }",
     "chain", "(y - b)**2"),
    ("exp-minus-x", '["x"]', "exp(-x)", "d/dx", "exp(-x)", "[{x = 0.5}, {x = 2}]", "", "chain", "exp(-x)"),
    ("outer-at-x", '["x"]', "sin(x**2)", "d/dx", "cos(x)*2*x", "[{x = 0.5}, {x = 1.5}]", "", "chain", "sin(x**2)"),
    ("inner-inside", '["x"]', "sin(x**2)", "d/dx", "cos(2*x)", "[{x = 0.5}, {x = 1.5}]", "", "chain", "sin(x**2)"),
    # chain on a graph of lets: a local partial along the path taken as 1 (CS231n's local gradient)
    ("graph-local-partial", '["a", "b", "c"]', "3*u", "d/db", "3", "[{a = 5, b = 3, c = 2}, {a = 1, b = -1, c = 4}]",
     'let = { v = "b*c", u = "a + v" }', "chain", "b*c"),
    ("graph-local-partial-square", '["x", "y"]', "v**2", "d/dx", "2*sin(x)*y*cos(x)",
     "[{x = 0.5, y = 2}, {x = 1.5, y = -3}]", 'let = { u = "sin(x)", v = "u*y" }', "chain", "u*y"),
    # softplus = ln(1 + e^u): the inner factor e^u of the logarithm dropped
    ("softplus-log-inner", '["x"]', "softplus(x)", "d/dx", "1/(1 + exp(x))", "[{x = 0.5}, {x = -2}]", "", "chain",
     "softplus(x)"),
    ("softplus-log-inner-scaled", '["x"]', "softplus(3*x)", "d/dx", "3/(1 + exp(3*x))", "[{x = 0.5}, {x = -1}]", "",
     "chain", "softplus(3*x)"),
    # product
    ("product-uv", '["x"]', "x**3*cos(x)", "d/dx", "3*x**2*(-sin(x))", "[{x = 0.5}, {x = 2}]", "", "product",
     "x**3*cos(x)"),
    ("product-drop-x-exp", '["x"]', "x*exp(x)", "d/dx", "exp(x)", "[{x = 0.5}, {x = 2}]", "", "product",
     "x*exp(x)"),
    ("product-drop-sin-cos", '["x"]', "sin(x)*cos(x)", "d/dx", "cos(x)**2", "[{x = 0.5}, {x = 2}]", "", "product",
     "sin(x)*cos(x)"),
    # quotient
    ("quotient-swapped", '["x"]', "sin(x)/(1 + x**2)", "d/dx", "(2*x*sin(x) - cos(x)*(1 + x**2))/(1 + x**2)**2",
     "[{x = 0.5}, {x = 2}]", "", "quotient", "sin(x)/(1 + x**2)"),
    ("quotient-not-squared", '["x"]', "x**2/(x + 1)", "d/dx", "(2*x*(x + 1) - x**2)/(x + 1)",
     "[{x = 0.5}, {x = 2}]", "", "quotient", "x**2/(x + 1)"),
    ("quotient-of-derivatives", '["x"]', "exp(x)/x**2", "d/dx", "exp(x)/(2*x)", "[{x = 0.5}, {x = 2}]", "",
     "quotient", "exp(x)/x**2"),
    ("quotient-plus", '["x"]', "(x + 1)/(x - 1)", "d/dx", "((x - 1) + (x + 1))/(x - 1)**2", "[{x = 3}, {x = -2}]",
     "", "quotient", "(x + 1)/(x - 1)"),
    # power
    ("power-not-decremented", '["x"]', "x**3", "d/dx", "3*x**3", "[{x = 0.5}, {x = 2}]", "", "power", "x**3"),
    ("power-n-minus-1", '["x"]', "x**3", "d/dx", "2*x**2", "[{x = 1.5}, {x = 2}]", "", "power", "x**3"),
    ("power-coefficient", '["x"]', "x**4", "d/dx", "x**3", "[{x = 0.5}, {x = 2}]", "", "power", "x**4"),
    ("power-raised", '["x"]', "x**5", "d/dx", "5*x**6", "[{x = 0.5}, {x = 2}]", "", "power", "x**5"),
    ("power-on-exponential", '["x"]', "2**x", "d/dx", "x*2**(x - 1)", "[{x = 0.5}, {x = 3}]", "", "power", "2**x"),
    ("power-on-x-to-x", '["x"]', "x**x", "d/dx", "x*x**(x - 1)", "[{x = 0.5}, {x = 3}]", "", "power", "x**x"),
    ("power-sqrt-half", '["x"]', "sqrt(x)", "d/dx", "1/sqrt(x)", "[{x = 0.5}, {x = 3}]", "", "power", "sqrt(x)"),
    ("power-on-exp", '["x"]', "exp(x)", "d/dx", "x*exp(x - 1)", "[{x = 0.5}, {x = 3}]", "", "power", "exp(x)"),
    # exponential
    ("exponential-ln-missing", '["x"]', "2**x", "d/dx", "2**x", "[{x = 0.5}, {x = 3}]", "", "exponential", "2**x"),
    ("exponential-ln-missing-chain", '["x"]', "3**(x**2)", "d/dx", "3**(x**2)*2*x", "[{x = 0.5}, {x = 1.5}]", "",
     "exponential", "3**(x**2)"),
    ("exponential-x-to-x", '["x"]', "x**x", "d/dx", "x**x*log(x)", "[{x = 0.5}, {x = 3}]", "", "exponential",
     "x**x"),
    ("sigmoid-as-itself", '["x"]', "sigmoid(x)", "d/dx", "sigmoid(x)", "[{x = 1}, {x = -0.5}]", "", "exponential",
     "sigmoid(x)"),
    ("sigmoid-chain-as-itself", '["x"]', "sigmoid(2*x)", "d/dx", "2*sigmoid(2*x)", "[{x = 1}, {x = -0.5}]", "",
     "exponential", "sigmoid(2*x)"),
    ("softplus-as-itself", '["x"]', "softplus(x)", "d/dx", "softplus(x)", "[{x = 1}, {x = -0.5}]", "",
     "exponential", "softplus(x)"),
    ("softplus-chain-as-itself", '["x"]', "softplus(x**2)", "d/dx", "2*x*softplus(x**2)", "[{x = 1}, {x = -0.5}]",
     "", "exponential", "softplus(x**2)"),
    # logarithm
    ("log10", '["x"]', "log(x, 10)", "d/dx", "1/x", "[{x = 0.5}, {x = 3}]", "", "logarithm", "log(x, 10)"),
    ("log2-chain", '["x"]', "log(x**2 + 1, 2)", "d/dx", "2*x/(x**2 + 1)", "[{x = 0.5}, {x = 3}]", "", "logarithm",
     "log(x**2 + 1, 2)"),
    ("log-base-multiplied", '["x"]', "log(x, 2)", "d/dx", "log(2)/x", "[{x = 0.5}, {x = 3}]", "", "logarithm",
     "log(x, 2)"),
    # trigonometric
    ("cos-sign", '["x"]', "cos(x)", "d/dx", "sin(x)", "[{x = 0.5}, {x = 2}]", "", "trigonometric", "cos(x)"),
    ("cos-2x-sign", '["x"]', "cos(2*x)", "d/dx", "2*sin(2*x)", "[{x = 0.5}, {x = 2}]", "", "trigonometric",
     "cos(2*x)"),
    ("tan-sec", '["x"]', "tan(x)", "d/dx", "1/cos(x)", "[{x = 0.5}, {x = 1}]", "", "trigonometric", "tan(x)"),
    ("sin-minus-cos", '["x"]', "sin(x)", "d/dx", "-cos(x)", "[{x = 0.5}, {x = 2}]", "", "trigonometric", "sin(x)"),
    # inverse trigonometric
    ("acos-sign", '["x"]', "acos(x)", "d/dx", "1/sqrt(1 - x**2)", "[{x = 0.5}, {x = -0.3}]", "",
     "inverse-trigonometric", "acos(x)"),
    ("asin-sign", '["x"]', "asin(2*x)", "d/dx", "-2/sqrt(1 - 4*x**2)", "[{x = 0.2}, {x = -0.3}]", "",
     "inverse-trigonometric", "asin(2*x)"),
    ("atan-denominator", '["x"]', "atan(x)", "d/dx", "1/(1 - x**2)", "[{x = 0.5}, {x = 3}]", "",
     "inverse-trigonometric", "atan(x)"),
    # hyperbolic
    ("cosh-sign", '["x"]', "cosh(x)", "d/dx", "-sinh(x)", "[{x = 0.5}, {x = 2}]", "", "hyperbolic", "cosh(x)"),
    ("tanh-tan-analogy", '["x"]', "tanh(2*x)", "d/dx", "2*(1 + tanh(2*x)**2)", "[{x = 0.5}, {x = -1}]", "",
     "hyperbolic", "tanh(2*x)"),
    ("cosh-chain-sign", '["x"]', "cosh(x**2)", "d/dx", "-2*x*sinh(x**2)", "[{x = 0.5}, {x = 1.2}]", "",
     "hyperbolic", "cosh(x**2)"),
    # sum
    ("sum-drop-sin", '["x"]', "x**2 + sin(x)", "d/dx", "2*x", "[{x = 0.5}, {x = 2}]", "", "sum", "x**2 + sin(x)"),
    ("sum-drop-cube", '["x"]', "exp(x) - x**3", "d/dx", "exp(x)", "[{x = 0.5}, {x = 2}]", "", "sum",
     "exp(x) - x**3"),
    # constant
    ("constant-plus-5", '["x"]', "x + 5", "d/dx", "1 + 5", "[{x = 0.5}, {x = 2}]", "", "constant", "x + 5"),
    ("constant-square-plus-3", '["x"]', "x**2 + 3", "d/dx", "2*x + 3", "[{x = 0.5}, {x = 2}]", "", "constant",
     "x**2 + 3"),
    ("constant-7-minus", '["x"]', "7 - x", "d/dx", "7 - 1", "[{x = 0.5}, {x = 2}]", "", "constant", "7 - x"),
    # constant factor
    ("factor-dropped", '["x"]', "3*x**2", "d/dx", "2*x", "[{x = 0.5}, {x = 2}]", "", "constant-factor", "3*x**2"),
    ("square-2-dropped", '["x"]', "(x - 1)**2", "d/dx", "x - 1", "[{x = 0.5}, {x = 3}]", "", "constant-factor",
     "(x - 1)**2"),
    ("factor-twice", '["x"]', "5*sin(x)", "d/dx", "25*cos(x)", "[{x = 0.5}, {x = 2}]", "", "constant-factor",
     "5*sin(x)"),
    ("division-dropped", '["x"]', "x**2/4", "d/dx", "2*x", "[{x = 0.5}, {x = 2}]", "", "constant-factor", "x**2/4"),
    # sign
    ("subtraction-sign", '["x"]', "x**2 - log(x)", "d/dx", "2*x + 1/x", "[{x = 0.5}, {x = 2}]", "", "sign",
     "x**2 - log(x)"),
    ("cross-entropy-reversed", '["z[3]"]', "logsumexp(z) - dot(t, z)", "d/dz", "t - softmax(z)", "{z = [1, 2, 3]}",
     "data = { t = [0, 1, 0] }", "sign", "logsumexp(z) - dot(t, z)"),
    ("difference-reversed", '["x"]', "x**3 - exp(x)", "d/dx", "exp(x) - 3*x**2", "[{x = 0.5}, {x = 2}]", "", "sign",
     "x**3 - exp(x)"),
    ("negation-dropped", '["x"]', "-x**3 + 2*x", "d/dx", "3*x**2 + 2", "[{x = 0.5}, {x = 2}]", "", "sign", "-x**3"),
    # mean
    ("mean-as-sum", '["x[3]"]', "mean(x**2)", "d/dx", "2*x", "{x = [1, 2, -1]}", "", "mean", "mean(x**2)"),
    ("sum-as-mean", '["x[3]"]', "sum(x**2)", "d/dx", "2*x/3", "{x = [1, 2, -1]}", "", "mean", "sum(x**2)"),
    ("mean-twice", '["x[3]"]', "mean((x - t)**2)", "d/dx", "2*(x - t)/9", "{x = [1, 2, -1]}",
     "data = { t = [0.5, 1, 2] }", "mean", "mean((x - t)**2)"),
    # transpose (matrix calculus)
    ("xtax-symmetric", '["x[2]"]', "x @ A @ x", "d/dx", "2*A @ x", "{x = [1, -2]}",
     "data = { A = [[1, 2], [0, 3]] }", "transpose", "x @ A @ x"),
    ("least-squares-transpose", '["w[2]"]', "sum((X @ w - y)**2)", "d/dw", "2*X @ (X @ w - y)", "{w = [1, -2]}",
     "data = { X = [[1, 2], [3, 1]], y = [1, 4] }", "transpose", "X @ w"),
    ("bilinear-layout", '["W[2,2]"]', "a @ W @ b", "d/dW", "[[a[0]*b[0], a[1]*b[0]], [a[0]*b[1], a[1]*b[1]]]",
     "{W = [[1, 2], [3, 4]]}", "data = { a = [1, 2], b = [3, 5] }", "transpose", "W"),
]


def _case(row: tuple):
    case_id, variables, f, key, claim, at, extra, _rule, _node = row
    text = (f'[[case]]\nid = "{case_id}"\nvars = {variables}\nf = "{f}"\nat = {at}\nexpect = "mismatch"\n'
            f"{extra}\n[case.claims]\n{json.dumps(key)} = {json.dumps(claim)}\n")
    cases, errors = loads(text)
    assert not errors, [str(e) for e in errors]
    return cases[0]


def test_the_catalogue_covers_every_rule_twice() -> None:
    assert len(MISTAKES) >= 40
    counts = {rule: sum(1 for row in MISTAKES if row[7] == rule) for rule in RULES}
    assert all(n >= 2 for n in counts.values()), counts
    assert len({row[0] for row in MISTAKES}) == len(MISTAKES)


@pytest.mark.parametrize("row", MISTAKES, ids=[row[0] for row in MISTAKES])
def test_classic_mistake_is_diagnosed_with_its_rule_and_node(row: tuple) -> None:
    case = _case(row)
    outcome = diagnose(case, row[3], budget=30.0)
    found = {(d.rule, d.node) for d in outcome.diagnoses}
    assert (row[7], row[8]) in found, (outcome.sentence, outcome.note)
    for d in outcome.diagnoses:
        assert d.rule in RULES
        assert d.text.startswith("the claim equals the derivative with ")
        assert d.claim == row[3]


@pytest.mark.parametrize("row", MISTAKES, ids=[row[0] for row in MISTAKES])
def test_the_right_derivative_gets_no_diagnosis(row: tuple) -> None:
    import sympy

    case = _case(row)
    # the right claim: SymPy's own derivative of the case's function, entry by entry
    right = [sympy.diff(case.outputs[c.index[0]], case.symbols[c.index[1]]) for c in case.claims]
    fixed = type(case)(**{**{f: getattr(case, f) for f in case.__dataclass_fields__},
                          "claims": tuple(type(c)(c.key, c.quantity, c.index, r, str(r))
                                          for c, r in zip(case.claims, right))})
    outcome = diagnose(fixed, row[3], budget=30.0)
    assert outcome.diagnoses == ()
    assert outcome.note == "the claim is right"
