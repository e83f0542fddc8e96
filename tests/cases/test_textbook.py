"""The textbook library: worked examples titled with their source, every published answer right,
every classic mistake caught."""

from __future__ import annotations

from pathlib import Path

from derivcheck.cases.files import load_paths
from derivcheck.cases.run import Status, run_case
from derivcheck.model import Expect

LIBRARY = Path(__file__).resolve().parents[2] / "cases" / "textbook"
SOURCES = ("Stewart", "Thomas", "Apostol", "CS231n", "Goodfellow", "Matrix Cookbook")


def test_the_textbook_library_passes_and_names_its_sources() -> None:
    loaded = load_paths([LIBRARY])
    assert not loaded.errors, [str(e) for e in loaded.errors]
    cases = loaded.cases
    assert all(c.title for c in cases)
    sourced = [c for c in cases if any(source in c.title for source in SOURCES)]
    assert len(sourced) >= 40
    assert {source for c in cases for source in SOURCES if source in c.title} == set(SOURCES)
    mistakes = [c for c in cases if c.expect is Expect.MISMATCH]
    assert len(mistakes) >= 8
    failed = [(c.id, r.message) for c in cases for r in [run_case(c)] if r.status is not Status.OK]
    assert not failed
