"""What the search says about one wrong claim: light, picklable, and free of the engines."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Diagnosis:
    """A misapplied rule that turns the right derivative into the claim, exactly.

    ``rule`` is one of ``derivcheck.mistakes.catalogue.RULES``; ``node`` the sub-expression as
    written in the case; ``text`` the sentence; ``right`` and ``wrong`` the step at that node,
    done right and done as the claim did it. A claim explained only by two mistakes gets two
    diagnoses with the same ``text``.
    """

    claim: str
    rule: str
    node: str
    text: str
    right: str = ""
    wrong: str = ""


@dataclass(frozen=True)
class Unexplained:
    """A wrong claim that no single misapplied rule (nor a pair) explains: ``text`` says so, and
    why the search stopped when it stopped at its bound."""

    claim: str
    text: str
