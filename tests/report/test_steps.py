"""Step-by-step derivations: the named rules, and that every derivation equals sympy.diff."""

from __future__ import annotations

import re

import pytest
import sympy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from derivcheck.language.functions import relu, sigmoid, softplus
from derivcheck.language.registry import Rule
from derivcheck.report import steps
from derivcheck.report.steps import derive, equivalent, kinks
from derivcheck.report.steps_markdown import derivation_markdown

x, y = sympy.symbols("x y", real=True)
w01 = sympy.Symbol("w[0,1]", real=True)


def _rules_in_tree(d: steps.Derivation) -> list[str]:
    return [s.rule for s in d.root.walk()]


# (expression, rule at the root, rules that must appear somewhere)
CURATED = [
    (sympy.Integer(7), Rule.CONSTANT, set()),
    (y**2, Rule.CONSTANT, set()),
    (x, Rule.VARIABLE, set()),
    (x**2 + 3 * x + 1, Rule.SUM, {Rule.POWER, Rule.CONSTANT_MULTIPLE, Rule.CONSTANT}),
    (5 * x**3, Rule.CONSTANT_MULTIPLE, {Rule.POWER}),
    (x * sympy.sin(x), Rule.PRODUCT, {Rule.VARIABLE, Rule.TRIG}),
    (x * sympy.exp(x) * sympy.cos(x), Rule.PRODUCT, {Rule.EXP_LOG, Rule.TRIG}),
    (sympy.sin(x) / x, Rule.QUOTIENT, {Rule.TRIG}),
    ((x + 1) / (x - 1), Rule.QUOTIENT, {Rule.SUM}),
    (sympy.sin(x**2 + 1), Rule.CHAIN, {Rule.TRIG, Rule.SUM, Rule.POWER}),
    ((x**2 + 1) ** 5, Rule.CHAIN, {Rule.POWER}),
    (sympy.sqrt(x**2 + y**2), Rule.CHAIN, {Rule.POWER}),
    (1 / x, Rule.POWER, set()),
    (sympy.exp(2 * x), Rule.CHAIN, {Rule.EXP_LOG}),
    (sympy.log(x**2 + 1), Rule.CHAIN, {Rule.EXP_LOG}),
    (2**x, Rule.EXP_LOG, set()),
    (x**x, Rule.EXP_LOG, {Rule.VARIABLE}),
    (sympy.tan(3 * x), Rule.CHAIN, {Rule.TRIG}),
    (sympy.asin(x / 2), Rule.CHAIN, {Rule.INVERSE_TRIG}),
    (sympy.acos(x), Rule.INVERSE_TRIG, set()),
    (sympy.atan(x**2), Rule.CHAIN, {Rule.INVERSE_TRIG}),
    (sympy.atan2(y, x**2), Rule.CHAIN, {Rule.INVERSE_TRIG}),
    (sympy.tanh(x), Rule.HYPERBOLIC, set()),
    (sympy.cosh(x) * sympy.sinh(x), Rule.PRODUCT, {Rule.HYPERBOLIC}),
    (sympy.asinh(2 * x), Rule.CHAIN, {Rule.HYPERBOLIC}),
    (sympy.acosh(x + 2), Rule.CHAIN, {Rule.HYPERBOLIC}),
    (sympy.atanh(x / 3), Rule.CHAIN, {Rule.HYPERBOLIC}),
    (sigmoid(x), Rule.SIGMOID_SOFTPLUS, set()),
    (softplus(2 * x), Rule.CHAIN, {Rule.SIGMOID_SOFTPLUS}),
    (x * sigmoid(x), Rule.PRODUCT, {Rule.SIGMOID_SOFTPLUS}),
    (relu(x), Rule.PIECEWISE, set()),
    (relu(x**2 - 1) * y, Rule.CONSTANT_MULTIPLE, {Rule.CHAIN, Rule.PIECEWISE}),
    (sympy.Abs(x - 1), Rule.CHAIN, {Rule.PIECEWISE}),
    (sympy.Max(x**2, y), Rule.CHAIN, {Rule.PIECEWISE}),
    (sympy.Max(0, x), Rule.PIECEWISE, set()),
    (sympy.Min(x, y), Rule.PIECEWISE, set()),
    (sympy.Heaviside(x - 1), Rule.CHAIN, {Rule.PIECEWISE}),
    (sympy.erf(x / sympy.sqrt(2)), Rule.CHAIN, {Rule.SPECIAL}),
    (1 / (1 + sympy.exp(-x)), Rule.CHAIN, {Rule.EXP_LOG, Rule.POWER}),
    (sympy.log(sympy.exp(x) + sympy.exp(y)), Rule.CHAIN, {Rule.EXP_LOG, Rule.SUM}),
    (sympy.exp(x) / (sympy.exp(x) + sympy.exp(y)), Rule.QUOTIENT, {Rule.EXP_LOG}),
    (sympy.gamma(x), Rule.NO_RULE, set()),
]


@pytest.mark.parametrize(("expr", "root_rule", "inside"), CURATED, ids=[str(c[0]) for c in CURATED])
def test_curated_rules_and_equality_with_sympy(expr, root_rule, inside):
    d = derive(expr, x)
    want = sympy.diff(expr, x)
    assert d.root.rule == root_rule
    assert inside <= set(_rules_in_tree(d))
    assert sympy.simplify(d.raw - want) == 0, (d.raw, want)
    assert sympy.simplify(d.result - want) == 0
    assert d.agrees
    assert Rule.SIMPLIFY not in _rules_in_tree(d)  # simplification is never a tree step


def test_every_step_is_locally_correct():
    """Each step's result is the derivative of its own expression (by its own variable)."""
    expr = sympy.sin(x**2 + 1) * sympy.exp(-x) / (1 + x**2) + relu(x * y)
    for step in derive(expr, x).root.walk():
        if step.rule == Rule.CHAIN:
            continue  # checked through its children and the total below
        assert equivalent(step.result, sympy.diff(step.expr, step.var)), step


def test_chain_substitution_is_explicit():
    d = derive(sympy.sin(x**2 + 1), x)
    (u, g), = d.root.substitution
    assert g == x**2 + 1
    outer, inner = d.root.children
    assert outer.expr == sympy.sin(u) and outer.var == u and outer.result == sympy.cos(u)
    assert inner.expr == x**2 + 1 and inner.result == 2 * x
    md = derivation_markdown(d)
    assert "with $`u = x^{2} + 1`$" in md


def test_nested_chains_are_numbered():
    d = derive(sympy.exp(sympy.sin(x**2)), x)
    names = [str(u) for s in d.root.walk() for u, _ in s.substitution]
    assert names == ["_u_1", "_u_2"]


def test_chain_letter_avoids_case_symbols():
    u = sympy.Symbol("u", real=True)
    d = derive(sympy.sin(u * x), x)
    (sub, _), = d.root.substitution
    assert sub.name != "u"


def test_quotient_parts():
    d = derive(sympy.sin(x) / x**2, x)
    assert d.root.rule == Rule.QUOTIENT
    assert d.root.parts == (sympy.sin(x), x**2)
    md = derivation_markdown(d)
    assert r"\left(x^{2}\right)^{2}" in md  # denominator squared, bracketed


def test_product_of_three_factors_has_three_terms():
    d = derive(x * sympy.exp(x) * sympy.cos(x), x)
    assert len(d.root.children) == 3
    assert d.root.result == sympy.diff(x * sympy.exp(x) * sympy.cos(x), x)


def test_kink_conventions_are_stated():
    md = derivation_markdown(derive(relu(x), x))
    assert "relu'(0) taken as 0, as torch does; not differentiable there" in md
    md = derivation_markdown(derive(sympy.Abs(x), x))
    assert "sign(0) = 0, as torch does" in md
    md = derivation_markdown(derive(sympy.Max(x, y), x))
    assert "splits the derivative evenly, as torch.maximum does" in md


def test_no_rule_gives_sympys_result():
    d = derive(sympy.gamma(x**2), x)
    assert d.root.rule == Rule.NO_RULE
    assert "SymPy's result" in d.root.note
    assert d.root.result == sympy.diff(sympy.gamma(x**2), x)
    md = derivation_markdown(d)
    assert "No rule applies" in md


def test_abs_of_maybe_complex_argument_falls_back_to_sympy():
    d = derive(sympy.Abs(sympy.log(x)), x)
    assert d.root.rule == Rule.NO_RULE
    assert d.raw == sympy.diff(sympy.Abs(sympy.log(x)), x)


def test_simplify_is_one_folded_step():
    d = derive((x**2 + 1) / (x**2 - 1), x)
    md = derivation_markdown(d)
    assert md.count("**Simplify**") == 1
    assert d.simplified
    assert sympy.count_ops(d.result) <= sympy.count_ops(d.raw)
    # no simplification step when nothing changes
    md2 = derivation_markdown(derive(sympy.sin(x), x))
    assert "**Simplify**" not in md2 and "**Result**" in md2


def test_simplify_brings_in_no_new_functions():
    d = derive(1 / (1 + sympy.exp(-x)), x)
    assert not d.result.has(sympy.cosh)  # simplify() alone would write 1/(4 cosh(x/2)^2)


def test_partial_derivatives_and_indexed_names():
    d = derive(y * sympy.sin(w01**2), w01)
    assert d.partial
    md = derivation_markdown(d)
    assert r"\frac{\partial}{\partial w_{0,1}}" in md
    assert "w[0,1]" not in md
    assert derivation_markdown(derive(sympy.sin(x), x)).startswith(r"- **Trigonometric**: $`\frac{d}{dx}")


def test_markdown_math_is_github_safe():
    expr = sympy.exp(sympy.sin(x**2)) / (1 + relu(x)) + sympy.Max(x, y)
    md = derivation_markdown(derive(expr, x))
    # every dollar sign opens or closes the $`...`$ form
    stripped = re.sub(r"\$`[^`]*`\$", "", md)
    assert "$" not in stripped
    assert "```math" in md


def test_long_derivations_are_cut():
    expr = sum(sympy.sin(k * x) for k in range(1, 16))
    md = derivation_markdown(derive(expr, x), max_lines=10)
    assert "more steps not shown" in md
    assert md.count("\n- ") + md.count("\n  - ") < 20


def test_kinks_at_a_point():
    notes = kinks(relu(x) + sympy.Abs(y - 1) + sympy.Max(x, y), {x: 0, y: 1})
    joined = " ".join(notes)
    assert "relu(x) at x = 0, y = 1: argument is 0" in joined
    assert "Abs(y - 1)" in joined
    assert not any("Max" in n for n in notes)  # x = 0, y = 1: no tie
    assert any("tie" in n for n in kinks(sympy.Max(x, y), {x: 2, y: 2}))
    assert kinks(relu(x), {x: 1}) == ()


def test_equivalent_rejects_different_expressions():
    assert equivalent(sympy.sin(x) ** 2 + sympy.cos(x) ** 2, sympy.Integer(1))
    assert not equivalent(sympy.sin(x), sympy.cos(x))
    assert not equivalent(28 * (x - 2), -28 * (x - 2))


# -- random expression trees ------------------------------------------------------------------

_UNARY = [
    sympy.sin, sympy.cos, sympy.tan, sympy.exp, sympy.log, sympy.sqrt, sympy.asin, sympy.acos,
    sympy.atan, sympy.sinh, sympy.cosh, sympy.tanh, sympy.asinh, sympy.acosh, sympy.atanh,
    sigmoid, softplus, relu, sympy.Abs, sympy.erf, sympy.Heaviside, lambda a: -a,
    lambda a: 1 / a, lambda a: a**2, lambda a: a**-2, lambda a: a**3,
]
_BINARY = [
    lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b, lambda a, b: a / b,
    lambda a, b: a**b, sympy.Max, sympy.Min, sympy.atan2,
]
_LEAVES = st.sampled_from([x, x, y, sympy.Integer(2), sympy.Rational(1, 2), sympy.Integer(-3)])


def _apply(f, *args):
    """f(*args), or the first argument where SymPy refuses (Max of a complex value, ...)."""
    try:
        return f(*args)
    except (ValueError, TypeError, ZeroDivisionError):
        return args[0]


_trees = st.recursive(
    _LEAVES,
    lambda sub: st.one_of(
        st.builds(_apply, st.sampled_from(_UNARY), sub),
        st.builds(_apply, st.sampled_from(_BINARY), sub, sub),
    ),
    max_leaves=7,
)


_POINTS = [
    {x: sympy.Rational(7, 10), y: sympy.Rational(-13, 10)},
    {x: sympy.Rational(-23, 10), y: sympy.Rational(3, 10)},
    {x: sympy.Rational(19, 10), y: sympy.Rational(11, 10)},
]


def _value(expr: sympy.Expr, point: dict) -> sympy.Expr | None:
    try:
        value = sympy.N(expr.subs(point), 25)
    except (ValueError, TypeError):  # e.g. Max of a complex value
        return None
    if not value.is_number or value.has(sympy.nan, sympy.zoo, sympy.oo, -sympy.oo):
        return None
    re_, im_ = value.as_real_imag()
    return value if re_.is_Number and im_.is_Number else None


def _close(a: sympy.Expr, b: sympy.Expr) -> bool:
    """Equal at every test point where both are finite (an independent check from steps')."""
    for point in _POINTS:
        va, vb = _value(a, point), _value(b, point)
        if va is None or vb is None:
            continue
        if sympy.Abs(va - vb) > sympy.Float("1e-15") * (1 + sympy.Abs(va)):
            return False
    return True


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_trees)
def test_random_trees_equal_sympy_diff(expr):
    if not isinstance(expr, sympy.Expr) or expr.has(sympy.zoo, sympy.nan):
        return
    d = derive(expr, x)
    want = sympy.diff(expr, x)
    assert _close(d.raw, want), (expr, d.raw, want)
    assert _close(d.result, want), (expr, d.result, want)
    assert d.agrees or all(_value(want, p) is None for p in _POINTS), (expr, d.raw, want)
    derivation_markdown(d)  # renders without error


def test_the_rules_are_typed_and_read_as_their_names() -> None:
    from derivcheck.language.registry import Rule

    x = sympy.Symbol("x")
    step = derive(sympy.sin(x**2), x).root
    assert step.rule is Rule.CHAIN and step.rule == "chain"
    assert {child.rule for child in step.children} <= set(Rule)


def test_a_max_that_is_complex_at_the_probes_still_derives() -> None:
    """x**y is complex at a negative probe x, and SymPy refuses Max of a complex value: that probe
    is skipped, not a traceback (found by the random trees above)."""
    y = sympy.Symbol("y")
    for outer in (sympy.tan, sympy.sin):
        d = derive(outer(sympy.Max(x**y, sympy.sin(x))), x)
        assert d.raw is not None and d.result is not None
