"""Which single wrong rule (then which pair) turns the derivative into the claim: the entry points.

``diagnose`` picks the search for a claim (``bounded`` for a Jacobian entry, a directional
derivative, a JVP or a VJP; ``implicit`` for dy/dx on F = 0; ``nodes`` for the function's partial
by a ``let`` intermediate, "dJ/du") and declines, with a sentence, what none covers (second
derivatives, an intermediate's own partials, quantities built from the derivative).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from derivcheck.mistakes.bounded import (
    BUDGET_SECONDS,
    MAX_ENTRIES,
    NO_SINGLE,
    ClaimOracle,
    Outcome,
    _Search,
)
from derivcheck.mistakes.diagnosis import Diagnosis, Unexplained
from derivcheck.mistakes.implicit import implicit_outcome
from derivcheck.mistakes.nodes import node_outcome
from derivcheck.mistakes.tree import Unsupported, build_tree
from derivcheck.model import Case, ClaimEntry, Quantity

__all__ = ["BUDGET_SECONDS", "NO_SINGLE", "ClaimOracle", "Outcome", "diagnose", "diagnose_case"]


def diagnose_case(case: Case, keys: Sequence[str], *, budget: float = BUDGET_SECONDS
                  ) -> tuple[tuple[Diagnosis, ...], tuple[Unexplained, ...]]:
    """Diagnoses for the named claims of a case (those a verdict found wrong), and for each claim
    that no rule explains, the sentence that says so (with why the search stopped, if it did)."""
    found: list[Diagnosis] = []
    unexplained: list[Unexplained] = []
    for key in dict.fromkeys(keys):
        outcome = diagnose(case, key, budget=budget)
        found.extend(outcome.diagnoses)
        if not outcome.diagnoses:
            unexplained.append(Unexplained(key, outcome.sentence))
    return tuple(found), tuple(unexplained)


def diagnose(case: Case, key: str, *, budget: float = BUDGET_SECONDS, oracle: ClaimOracle | None = None) -> Outcome:
    """Search the catalogue for the misapplied rule behind the claim ``key`` of ``case``.

    Parameters
    ----------
    case : Case
        A loaded case; its ``f`` and ``let`` texts are differentiated as written.
    key : str
        The claim's key (``"d/dx"``, ``"grad"``, ``"jvp"``, ...); Hessian claims are not searched.
    budget : float
        Seconds before the search stops and says that no single rule explains the claim.
    oracle : callable, optional
        The claim's float values at a point (for a gradient known only as a function); by
        default the claim's own expressions, evaluated exactly.

    Returns
    -------
    Outcome
        The diagnoses (none for a right claim or when nothing fits), and whether it finished.

    Examples
    --------
    >>> from derivcheck.cases.files import loads
    >>> (case,), _ = loads('''
    ... [[case]]
    ... id = "cube"
    ... vars = ["x"]
    ... f = "x**3"
    ... at = [{ x = 1 }, { x = 2 }]
    ... [case.claims]
    ... "d/dx" = "3*x**3"
    ... ''')
    >>> print(diagnose(case, "d/dx").sentence)
    the claim equals the derivative with the power rule's exponent not decremented (3 u^3), at x**3
    """
    start = time.perf_counter()
    entries = [c for c in case.claims if c.key == key]
    try:
        if not entries or any(c.quantity is Quantity.HESSIAN for c in entries):
            return Outcome((), False, 0.0, note="not a first-derivative claim the search covers")
        if all(c.quantity is Quantity.IMPLICIT for c in entries):
            outcome = implicit_outcome(case, build_tree(case), key, entries, start, budget)
            if outcome is not None:
                return outcome
            return Outcome((), False, 0.0, note="a second-order implicit derivative: not a claim the search covers")
        if all(c.quantity is Quantity.PARTIAL for c in entries):
            outcome = node_outcome(case, build_tree(case), key, entries, start, budget)
            if outcome is not None:
                return outcome
        if any(c.quantity not in SEARCHED for c in entries):
            return Outcome((), False, 0.0, note=f"{_kind(entries)}: not a claim the search covers")
        if len(entries) > MAX_ENTRIES:
            return Outcome((), False, 0.0, note="too large to search")
        tree = build_tree(case)
        return _Search(case, tree, key, entries, start, budget, oracle).run()
    except Unsupported as exc:
        return Outcome((), False, time.perf_counter() - start, note=f"the function uses {exc}")
    except Exception as exc:  # noqa: BLE001 - an explanation is optional: never let it break a run
        return Outcome((), False, time.perf_counter() - start, note=f"{type(exc).__name__} in the search")


#: the claims the search differentiates: a Jacobian entry, a directional derivative, a JVP, a VJP
SEARCHED = frozenset({Quantity.JACOBIAN, Quantity.DIRECTIONAL, Quantity.JVP, Quantity.VJP})


def _kind(entries: Sequence[ClaimEntry]) -> str:
    quantities = {c.quantity for c in entries}
    if Quantity.IMPLICIT in quantities:
        return "an implicit derivative along F = 0"
    if Quantity.PARTIAL in quantities:
        return "a derivative at a node of the graph or of order 3 or more"
    return "a quantity built from the derivative"
