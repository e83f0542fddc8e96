"""The search: the tutorial's case, two mistakes, the bound, right claims (a property), float claims."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import sympy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from derivcheck.cases.files import load_paths, loads
from derivcheck.mistakes.search import NO_SINGLE, diagnose

CASES = Path(__file__).resolve().parents[2] / "cases"


def _case(f: str, key: str, claim: str, at: str = "[{x = 0.5}, {x = 2}]", variables: str = '["x"]', extra: str = ""):
    text = (f'[[case]]\nid = "t"\nvars = {variables}\nf = "{f}"\nat = {at}\n{extra}\n[case.claims]\n'
            f"{json.dumps(key)} = {json.dumps(claim)}\n")
    cases, errors = loads(text)
    assert not errors, [str(e) for e in errors]
    return cases[0]


def _tutorial():
    return next(c for c in load_paths([CASES / "tutorials"]).cases if c.id == "mse-regression-bias-sign-error")


def test_the_tutorials_bias_gradient_is_the_chain_rules_inner_factor_dropped() -> None:
    outcome = diagnose(_tutorial(), "d/db")
    assert [(d.rule, d.node) for d in outcome.diagnoses] == [("chain", "(ys - yp)**2")]
    assert outcome.diagnoses[0].text == ("the claim equals the derivative with the chain rule's inner factor "
                                         "∂(ys - yp)/∂b = -1 dropped, at (ys - yp)**2")
    assert outcome.diagnoses[0].wrong == "2 (ys - yp)"


def test_the_tutorials_right_weight_gradient_gets_no_diagnosis() -> None:
    outcome = diagnose(_tutorial(), "d/dw")
    assert outcome.diagnoses == () and outcome.note == "the claim is right"


def test_two_mistakes_are_found_when_no_single_one_explains_the_claim() -> None:
    outcome = diagnose(_case("3*sin(2*x)", "d/dx", "cos(2*x)"), "d/dx", budget=30)
    assert {(d.rule, d.node) for d in outcome.diagnoses} == {("chain", "sin(2*x)"), ("constant-factor", "3*sin(2*x)")}
    assert len({d.text for d in outcome.diagnoses}) == 1
    assert ", and with " in outcome.diagnoses[0].text


def test_mistakes_inside_lets_are_named_where_they_sit() -> None:
    case = _case("u**2", "d/dx", "2*u*(2*x)", extra='let = { u = "x**2 + 3*x" }')
    outcome = diagnose(case, "d/dx", budget=30)
    assert [(d.rule, d.node) for d in outcome.diagnoses] == [("sum", "x**2 + 3*x")]
    assert "at u = x**2 + 3*x" in outcome.diagnoses[0].text


def test_an_unexplained_claim_says_so() -> None:
    outcome = diagnose(_case("x**3", "d/dx", "x + 1"), "d/dx", budget=30)
    assert outcome.diagnoses == () and outcome.complete
    assert outcome.sentence == NO_SINGLE


def test_the_search_stops_at_its_bound() -> None:
    f = ("sin(x*y + 2)*exp(-x**2/3) + log(1 + x**2 + y**2)*cos(y - x) + (x - 2*y)**3/(1 + y**2)"
         " + sqrt(4 + x**2)*tanh(y/2) - atan(x*y)")
    case = _case(f, "d/dx", "1 + x", at="[{x = 0.5, y = 0.3}, {x = 1.5, y = -1}]", variables='["x", "y"]')
    outcome = diagnose(case, "d/dx", budget=0.0)
    assert outcome.diagnoses == () and not outcome.complete
    assert outcome.sentence.startswith(NO_SINGLE)


def test_a_claim_that_matches_only_at_the_given_point_is_not_diagnosed() -> None:
    # at x = 1 the claim 3 equals 3 x^3 (the exponent not decremented), but it is a constant
    outcome = diagnose(_case("x**3", "d/dx", "3", at="{x = 1}"), "d/dx", budget=30)
    assert outcome.diagnoses == ()


# -- right claims get no diagnosis (a property over random functions) -------------------------

_LEAVES = st.sampled_from(["x", "y", "2", "0.5", "3"])
_UNARY = st.sampled_from(["sin", "cos", "exp", "atan", "tanh", "sinh"])


def _expressions():
    def extend(inner):
        return st.one_of(
            st.tuples(_UNARY, inner).map(lambda t: f"{t[0]}({t[1]})"),
            st.tuples(inner, st.sampled_from(["+", "-", "*"]), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            inner.map(lambda u: f"({u})**3"),
            inner.map(lambda u: f"({u})/(2 + ({u})**2)"),
            inner.map(lambda u: f"log(1 + ({u})**2)"),
            inner.map(lambda u: f"sqrt(1 + ({u})**2)"),
        )
    return st.recursive(_LEAVES, extend, max_leaves=6)


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(f=_expressions(), x=st.integers(-20, 20), y=st.integers(-20, 20))
def test_right_claims_get_no_diagnosis(f: str, x: int, y: int) -> None:
    sx, sy = sympy.Symbol("x", real=True), sympy.Symbol("y", real=True)
    expr = sympy.sympify(f, locals={"x": sx, "y": sy})
    if not (expr.has(sx) or expr.has(sy)):
        return
    claim = str(sympy.diff(expr, sx))
    at = f"{{x = {x / 10}, y = {y / 10}}}"
    try:
        case = _case(f, "d/dx", claim, at=at, variables='["x", "y"]')
    except AssertionError:
        return  # the claim's text outside the case language (too long, say): nothing to check
    value = abs(float(sympy.diff(expr, sx).subs({sx: x / 10, sy: y / 10})))
    if not math.isfinite(value) or value > 1e12:
        return
    outcome = diagnose(case, "d/dx", budget=30)
    assert outcome.diagnoses == (), outcome.sentence


# -- a claim known only as float values: check_grad's user gradient --------------------------

def test_check_grad_messages_name_the_misapplied_rule() -> None:
    from derivcheck import DerivativeMismatch, check_grad

    with pytest.raises(DerivativeMismatch, match=r"power rule's coefficient taken as 3 - 1.*at x\*\*3"):
        check_grad("x**3", at={"x": 1.5}, grad=lambda x: 2 * x**2)
    with pytest.raises(DerivativeMismatch, match=r"inner factor ∂\(x\*\*2\)/∂x = 2\*x dropped, at sin\(x\*\*2\)"):
        check_grad("sin(x**2) + y*x", at={"x": 0.7, "y": 2}, grad=lambda x, y: (math.cos(x**2) + y, x))


def test_check_grad_does_not_guess_from_one_point() -> None:
    from derivcheck import DerivativeMismatch, check_grad

    # 10.125 is 3 x^3 (the exponent not decremented) at x = 1.5, but this gradient is a constant
    with pytest.raises(DerivativeMismatch) as info:
        check_grad("x**3", at={"x": 1.5}, grad=lambda x: 10.125)
    assert "the claim equals the derivative with" not in str(info.value)
    with pytest.raises(DerivativeMismatch, match="exponent not decremented"):
        check_grad("x**3", at={"x": 1.5}, grad=lambda x: 3 * x**3)


# -- products with vectors: directional derivatives, JVPs and VJPs ---------------------------

def _products_case(body: str):
    cases, errors = loads('[[case]]\nid = "p"\nvars = ["x", "y"]\nat = [{x = 0.5, y = 2}, {x = -1, y = 3}]\n' + body)
    assert not errors, [str(e) for e in errors]
    return cases[0]


def test_a_jvp_claim_is_diagnosed_along_its_tangent() -> None:
    case = _products_case('f = ["x*sin(y)", "x + y"]\ntangents = [[1, 2]]\n[case.claims]\njvp = [["2*cos(y)", "3"]]\n')
    outcome = diagnose(case, "jvp", budget=30)
    assert ("product", "x*sin(y)") in {(d.rule, d.node) for d in outcome.diagnoses}


def test_a_vjp_claim_is_diagnosed_against_its_cotangent() -> None:
    case = _products_case('f = ["x*y", "x - y**2"]\ncotangents = [[1, 1]]\n[case.claims]\nvjp = [["y + 1", "x + 2*y"]]\n')
    outcome = diagnose(case, "vjp", budget=30)
    assert [(d.rule, d.node) for d in outcome.diagnoses] == [("sign", "x - y**2")]


def test_a_directional_claim_is_diagnosed_with_irrational_unit_directions() -> None:
    case = _products_case('f = "x**2*y"\ndirections = [[1, 1]]\n[case.claims]\ndirectional = ["x"]\n')
    outcome = diagnose(case, "directional", budget=30)
    assert ("product", "x**2*y") in {(d.rule, d.node) for d in outcome.diagnoses}


# -- a mistake made on purpose is found, and every diagnosis holds symbolically ----------------

@settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(f=_expressions(), pick=st.integers(0, 10_000))
def test_a_planted_mistake_is_found_and_every_diagnosis_holds_in_sympy(f: str, pick: int) -> None:
    from derivcheck.mistakes.backends import FLOAT, SYM
    from derivcheck.mistakes.catalogue import candidates
    from derivcheck.mistakes.differentiate import Walk
    from derivcheck.mistakes.tree import build_tree

    f = f.replace("y", "x")
    try:
        case = _case(f, "d/dx", "0", at="[{x = 0.7}, {x = -1.3}]")
    except AssertionError:
        return
    if not case.outputs[0].has(case.symbols[0]):
        return
    tree = build_tree(case)
    seeds = [(sympy.Integer(1),)]
    import numpy as np
    with np.errstate(all="ignore"):
        options = candidates(tree, Walk(tree, FLOAT, case.points[0], seeds))
    if not options:
        return
    planted = options[pick % len(options)]

    def wrong(mistakes) -> sympy.Expr:
        walk = Walk(tree, SYM, case.symbols, seeds)
        return sympy.sympify(walk.outputs(walk.tangents({m.node: m for m in mistakes}))[0, 0])

    claim = wrong([planted])
    right = sympy.diff(case.outputs[0], case.symbols[0])
    if claim.has(sympy.nan, sympy.zoo) or sympy.simplify(claim - right) == 0 or len(str(claim)) > 1500:
        return  # the planted rule changes nothing here (an inner factor of 1, say)
    try:
        case = _case(f, "d/dx", str(claim), at="[{x = 0.7}, {x = -1.3}]")
    except AssertionError:
        return
    outcome = diagnose(case, "d/dx", budget=30)
    if outcome.note == "too few points where the function is defined":
        return
    assert outcome.diagnoses, (planted.rule, planted.code, tree.nodes[planted.node].text, outcome.note)
    for group in outcome.groups:
        tree = build_tree(case)
        by_id = {(m.rule, m.code, tree.nodes[m.node].text) for m in group}
        assert sympy.simplify(wrong_in(case, group) - case.claims[0].expr) == 0, by_id


def wrong_in(case, group) -> sympy.Expr:
    """The derivative with ``group``'s mistakes, evaluated by SymPy (the referee of the match)."""
    from derivcheck.mistakes.backends import SYM
    from derivcheck.mistakes.differentiate import Walk
    from derivcheck.mistakes.tree import build_tree

    tree = build_tree(case)
    walk = Walk(tree, SYM, case.symbols, [(sympy.Integer(1),)])
    return sympy.sympify(walk.outputs(walk.tangents({m.node: m for m in group}))[0, 0])


def test_a_claim_too_large_to_search_is_declined_quickly() -> None:
    case = _case("sum(x**2)", "d/dx", "x", at="{x = [" + ", ".join(["1"] * 300) + "]}", variables='["x[300]"]')
    outcome = diagnose(case, "d/dx")
    assert outcome.diagnoses == () and outcome.note == "too large to search"
