"""The search on implicit cases (dy/dx = -F_x/F_y on F = 0) and the claims it declines in words."""

from __future__ import annotations

import pytest

from derivcheck.cases.files import loads
from derivcheck.mistakes.search import NO_SINGLE, diagnose


def _case(f: str, claims: str, at: str = "{ x = 3, y = 4 }"):
    (case,), errors = loads(f'[[case]]\nid = "c"\nvars = ["x", "y"]\nimplicit = "{f}"\ndependent = "y"\n'
                            f'at = {at}\nexpect = "mismatch"\n[case.claims]\n{claims}\n')
    assert not errors
    return case


@pytest.mark.parametrize(("claim", "rule"), [("-y/x", "quotient"), ("x/y", "sign")])
def test_the_implicit_quotient_mishandled_is_diagnosed(claim: str, rule: str) -> None:
    outcome = diagnose(_case("x**2 + y**2 - 25", f'"dy/dx" = "{claim}"'), "dy/dx")
    assert [(d.rule, d.node) for d in outcome.diagnoses] == [(rule, "x**2 + y**2 - 25")]
    assert outcome.diagnoses[0].right == "dy/dx = -(∂F/∂x)/(∂F/∂y)"


def test_a_wrong_rule_inside_F_reaches_both_partials() -> None:
    # x^3 + y^2 = 9 at (2, 1): F_x taken as 3 x^3 (the exponent not decremented)
    case = _case("x**3 + y**2 - 9", '"dy/dx" = "-3*x**3/(2*y)"', "{ x = 2, y = 1 }")
    outcome = diagnose(case, "dy/dx")
    assert ("power", "x**3") in {(d.rule, d.node) for d in outcome.diagnoses}


def test_a_right_implicit_claim_gets_nothing() -> None:
    outcome = diagnose(_case("x**2 + y**2 - 25", '"dy/dx" = "-x/y"'), "dy/dx")
    assert outcome.diagnoses == ()
    assert outcome.note == "the claim is right"


def test_claims_outside_the_search_are_declined_in_words() -> None:
    case = _case("x**2 + y**2 - 25", '"d2y/dx2" = "-25/y**3"')
    outcome = diagnose(case, "d2y/dx2")
    assert outcome.diagnoses == ()
    assert outcome.sentence == f"{NO_SINGLE} (a second-order implicit derivative: not a claim the search covers)"
    # an intermediate's own partial (du/da, not the function's) is outside the node search
    (graph,), errors = loads('[[case]]\nid = "g"\nname = "J"\nvars = ["a", "b"]\nlet = { u = "a*b" }\nf = "3*u"\n'
                             'at = { a = 1, b = 2 }\nexpect = "mismatch"\n[case.claims]\n"du/da" = 1\n')
    assert not errors
    outcome = diagnose(graph, "du/da")
    assert outcome.diagnoses == ()
    assert "not a claim the search covers" in outcome.sentence
    assert "Error" not in outcome.sentence
