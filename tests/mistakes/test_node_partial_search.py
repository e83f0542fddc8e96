"""The search on node partials: "dJ/du" claims through `let` intermediates (every variable held)."""

from __future__ import annotations

import pytest

from derivcheck.cases.files import loads
from derivcheck.mistakes.search import diagnose

GRAPH = ('[[case]]\nid = "g"\nname = "J"\nvars = ["a", "b", "c"]\nlet = {{ v = "b*c", u = "{u}" }}\nf = "{f}"\n'
         'at = [{{ a = 5, b = 3, c = 2 }}, {{ a = 1, b = 2, c = -1 }}]\nexpect = "mismatch"\n'
         '[case.claims]\n"{key}" = "{claim}"\n')


def _diagnose(u: str, f: str, key: str, claim: str):
    (case,), errors = loads(GRAPH.format(u=u, f=f, key=key, claim=claim))
    assert not errors, [str(e) for e in errors]
    return diagnose(case, key)


def test_a_local_partial_dropped_on_the_path_from_the_node() -> None:
    # dJ/dv = dJ/du du/dv = 3 a; the claim 3 took du/dv = a as 1
    outcome = _diagnose("a*v", "3*u", "dJ/dv", "3")
    assert [(d.rule, d.node) for d in outcome.diagnoses] == [("chain", "a*v")]
    assert "local partial ∂u/∂v = a dropped (taken as 1) along the path, at u = a*v" in outcome.diagnoses[0].text


@pytest.mark.parametrize(("claim", "rule", "node"), [
    ("2*u", "constant-factor", "3*u**2"),  # the 3 dropped
    ("3*u", "constant-factor", "u**2"),  # the 2 of the square dropped
    ("6*u**2", "power", "u**2"),  # the exponent not decremented (the claim in the node's own symbol)
])
def test_a_wrong_rule_above_the_node_is_found(claim: str, rule: str, node: str) -> None:
    outcome = _diagnose("a + v", "3*u**2", "dJ/du", claim)
    assert (rule, node) in {(d.rule, d.node) for d in outcome.diagnoses}


@pytest.mark.parametrize("key", ["dJ/du", "dJ/dv"])
def test_a_right_node_partial_gets_nothing(key: str) -> None:
    outcome = _diagnose("a + v", "3*u**2", key, "6*u")
    assert outcome.diagnoses == ()
    assert outcome.note == "the claim is right"
