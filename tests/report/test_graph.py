"""Computational graphs against micrograd-style hand computations and sympy.diff."""

from __future__ import annotations

import re

import pytest
import sympy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from derivcheck.language.functions import relu, sigmoid
from derivcheck.report.graph import (
    INPUT,
    OUTPUT,
    backward_markdown,
    forward_markdown,
    graph,
    graph_markdown,
    local_partial,
    mermaid,
)

R = sympy.Rational


def sym(*names: str) -> list[sympy.Symbol]:
    return [sympy.Symbol(n, real=True) for n in names]


def test_micrograd_expression_example():
    # micrograd's README walk-through: e = a*b; d = e + c; L = d*f
    a, b, c, f, e, d, L = sym("a", "b", "c", "f", "e", "d", "L")
    g = graph([("e", a * b), ("d", e + c), ("L", d * f)], L, [a, b, c, f], {a: 2, b: -3, c: 10, f: -2})
    assert g.output == "L"
    assert [n.value for n in g.nodes] == [2, -3, 10, -2, -6, 4, -8]
    assert g.gradient == {"a": 6, "b": -4, "c": -2, "f": 4}
    assert g.adjoint("d") == -2 and g.adjoint("e") == -2
    # reverse topological order: the output first, each node after all its children
    order = [line.node for line in g.backward]
    assert order[0] == "L"
    for edge in g.edges:
        assert order.index(edge.child) < order.index(edge.parent)


def test_micrograd_neuron_example():
    x1, x2, w1, w2, b = sym("x1", "x2", "w1", "w2", "b")
    x1w1, x2w2, s, n, o = sym("x1w1", "x2w2", "x1w1x2w2", "n", "o")
    lets = [("x1w1", x1 * w1), ("x2w2", x2 * w2), ("x1w1x2w2", x1w1 + x2w2), ("n", s + b), ("o", sympy.tanh(n))]
    point = {x1: 2, x2: 0, w1: -3, w2: 1, b: sympy.Rational("6.8813735870195432")}
    g = graph(lets, o, [x1, x2, w1, w2, b], point)
    grad = {k: float(v) for k, v in g.gradient.items()}
    # micrograd: x1.grad = -1.5, w1.grad = 1.0, x2.grad = 0.5, w2.grad = 0.0
    assert grad["x1"] == pytest.approx(-1.5, abs=1e-9)
    assert grad["w1"] == pytest.approx(1.0, abs=1e-9)
    assert grad["x2"] == pytest.approx(0.5, abs=1e-9)
    assert grad["w2"] == 0
    assert float(g.node("o").value) == pytest.approx(0.7071067811865476, abs=1e-12)


def test_variable_used_twice_sums_over_paths():
    x, u, v = sym("x", "u", "v")
    g = graph([("u", x**2), ("v", x * u)], u + v, [x], {x: 2})
    # f = x^2 + x^3: f'(2) = 4 + 12 = 16
    assert g.gradient == {"x": 16}
    assert g.backward[-1].paths == 3
    assert len(g.paths("x")) == 3
    md = backward_markdown(g)
    assert "x reaches f along 3 paths" in md
    assert "Sum over the 3 paths from x to f" in md
    assert "= 16`$" in md


def test_expression_tree_shares_common_subexpressions():
    x, y = sym("x", "y")
    expr = sympy.sin(x * y) + sympy.exp(x * y)
    g = graph([], expr, [x, y], {x: 1, y: 2})
    products = [n for n in g.nodes if n.local == x * y]
    assert len(products) == 1  # one node for x*y, used twice
    assert len(g.children(products[0].name)) == 2
    for var in (x, y):
        want = sympy.diff(expr, var).subs({x: 1, y: 2})
        assert sympy.simplify(g.adjoint(var.name) - want) == 0


def test_coefficients_and_divisions_stay_in_their_parent():
    x, y = sym("x", "y")
    g = graph([], (x - y) / y, [x, y], {x: 3, y: 2})
    kinds = [n.kind for n in g.nodes]
    assert kinds == [INPUT, INPUT, "intermediate", OUTPUT]  # x - y, then (x - y)/y
    assert g.gradient == {"x": R(1, 2), "y": R(-3, 4)}


def test_torch_conventions_at_kinks():
    (x,) = sym("x")
    assert graph([], relu(x), [x], {x: 0}).gradient == {"x": 0}  # relu'(0) = 0 as torch
    assert graph([], sympy.Max(0, x), [x], {x: 0}).gradient == {"x": R(1, 2)}  # torch.maximum
    assert graph([], sympy.Abs(x), [x], {x: 0}).gradient == {"x": 0}
    assert graph([], relu(x), [x], {x: 1}).gradient == {"x": 1}
    assert local_partial(relu(x), x).subs(x, 0) == 0
    assert local_partial(relu(x), x).subs(x, -1) == 0


def test_unreachable_input_and_leaf_output():
    x, y = sym("x", "y")
    g = graph([], x, [x, y], {x: 5, y: 1})  # y is an input the output ignores
    assert g.gradient == {"x": 1, "y": 0}
    assert "does not reach the output" in backward_markdown(g)


def test_unused_lets_are_dropped():
    x, h = sym("x", "h")
    g = graph([("h", x**2), ("unused", 3 * x)], h, [x], {x: 2})
    assert [n.name for n in g.nodes] == ["x", "h"]
    assert g.gradient == {"x": 4}


def test_output_name_avoids_inputs():
    f, x = sym("f", "x")
    g = graph([], f * x, [f, x], {f: 2, x: 3})
    assert g.output == "out"


def test_undefined_values_are_marked():
    x = sym("x")[0]
    g = graph([], sympy.log(x) + x, [x], {x: 0})
    assert "undefined" in mermaid(g)


def test_mermaid_is_quoted_unicode_without_latex():
    w = sympy.Symbol("w[0,1]", real=True)
    b = sympy.Symbol("b", real=True)
    g = graph([], sigmoid(w * b + 1) ** 2, [w, b], {w: R(1, 2), b: -1})
    text = mermaid(g)
    assert text.startswith(("flowchart LR\n", "flowchart TD\n"))
    assert "\\" not in text and "$" not in text
    assert "∂" in text and "·" in text
    for line in text.splitlines()[1:]:
        node = re.fullmatch(r'  n\d+(\(|\[\[|\[)"[^"]*"(\)|\]\]|\])', line)
        edge = re.fullmatch(r'  n\d+ -->\|"[^"|]*"\| n\d+', line)
        assert node or edge, line
    assert "w[0,1] = 0.5" in text


def test_markdown_sections():
    x, y = sym("x", "y")
    g = graph([], x * y + sympy.sin(x), [x, y], {x: 1, y: 2})
    md = graph_markdown(g)
    assert md.startswith("```mermaid\nflowchart LR")
    assert "1. $`v_{1} = x y = 2`$" in forward_markdown(g)
    assert r"\bar{x} = \bar{v}_{1}\,\frac{\partial v_{1}}{\partial x}" in md  # adjoints: never ∂f/∂f·∂f/∂u
    assert "x reaches f along 2 paths" in md
    stripped = re.sub(r"\$`[^`]*`\$", "", md)
    assert "$" not in stripped


_SMOOTH = [sympy.sin, sympy.cos, sympy.exp, sympy.tanh, sigmoid, sympy.atan, lambda a: a**2, lambda a: -a]
_OPS = [lambda a, b: a + b, lambda a, b: a * b, lambda a, b: a - b, lambda a, b: a / (1 + b**2)]
_X, _Y = sym("x", "y")
_trees = st.recursive(
    st.sampled_from([_X, _Y, sympy.Integer(2), R(1, 3)]),
    lambda sub: st.one_of(
        st.builds(lambda f, a: f(a), st.sampled_from(_SMOOTH), sub),
        st.builds(lambda f, a, b: f(a, b), st.sampled_from(_OPS), sub, sub),
    ),
    max_leaves=6,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_trees)
def test_backward_pass_matches_sympy_diff(expr):
    point = {_X: R(3, 5), _Y: R(-7, 5)}
    g = graph([], expr, [_X, _Y], point)
    for var in (_X, _Y):
        want = sympy.N(sympy.diff(expr, var).subs(point), 30)
        got = sympy.N(g.adjoint(var.name), 30)
        assert abs(got - want) <= 1e-20 * (1 + abs(want)), (expr, var, got, want)
    assert sympy.N(g.node(g.output).value - expr.subs(point), 30) == 0 or abs(
        sympy.N(g.node(g.output).value - expr.subs(point), 30)
    ) < 1e-20
