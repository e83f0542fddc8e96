"""What ``check_grad`` returns: the options it ran with, the verdict per mode, every compared
entry, the localised wrong entries, likely causes, and a message short enough for a pytest report.
"""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

from derivcheck.numformat import fmt_number
from derivcheck.verdict import Row, Source, Tolerances, Verdict, overall

#: wrong entries named in the message (the full table is on the result)
MESSAGE_ENTRIES = 3
#: the method of rows whose reference is the same code lifted to float64 (see ``precision``)
LIFTED = "float64 autograd"


class Mode(enum.Enum):
    """What was checked: a way torch computes derivatives, or the user's own gradient."""

    REVERSE = "reverse mode"  # vector-Jacobian products (backward)
    FORWARD = "forward mode"  # Jacobian-vector products
    GRAD = "grad function"  # check_grad(..., grad=g)
    SECOND = "second order"  # double backward (Hessian-vector products)
    NUMERIC = "numeric"  # finite differences, against an exact reference


_SOURCE_MODE = {Source.REVERSE: Mode.REVERSE, Source.FORWARD: Mode.FORWARD, Source.CLAIM: Mode.GRAD,
                Source.NUMERIC: Mode.NUMERIC}


class Strategy(enum.StrEnum):
    """How a check is asked to compare: ``auto`` picks full Jacobians for small inputs."""

    AUTO = "auto"
    FULL = "full"
    DIRECTIONAL = "directional"


class Approach(enum.StrEnum):
    """How a check compared, as its summary says it."""

    FULL_JACOBIAN = "full Jacobian"
    DIRECTIONAL = "directional"
    EXACT = "exact"
    NONE = "none"


@dataclass(frozen=True)
class Options:
    """The validated options of one ``check_grad`` call."""

    seed: int = 0
    directions: int | None = None  # None: 4, or 1 for an expensive function (context.directions)
    order: int = 1
    tolerances: Tolerances | None = None
    device: str | None = None
    strategy: Strategy = Strategy.AUTO
    budget: int | None = None  # the most function evaluations the numeric reference may spend


@dataclass(frozen=True)
class ModeResult:
    """The verdict for one mode; ``None`` when it was not checked (the note says why)."""

    mode: Mode
    verdict: Verdict | None
    note: str = ""


@dataclass(frozen=True)
class CheckResult:
    """Everything one ``check_grad`` call learned.

    ``rows`` holds every compared scalar (full Jacobian entries, or directional checks
    ``w . J u``); ``suspects`` the wrong entries localised from failing directional checks;
    ``table()`` renders them.
    """

    target: str
    verdict: Verdict
    modes: tuple[ModeResult, ...]
    rows: tuple[Row, ...]
    suspects: tuple[Row, ...]
    causes: tuple[str, ...]
    strategy: Approach
    n_inputs: int
    n_outputs: int
    directions: int
    evaluations: int
    dtype: str
    reference: str  # what the reference values are
    seconds: float
    notes: tuple[str, ...] = ()
    localised_completely: bool = True

    @property
    def message(self) -> str:
        """The failure message (empty when the check passes), computed from the result itself."""
        return "" if self.ok else failure_message(self)

    @property
    def ok(self) -> bool:
        """True when every checked derivative agrees with its reference."""
        return self.verdict is Verdict.PASS

    @property
    def failing(self) -> tuple[Row, ...]:
        """The rows (suspects first) that did not pass, worst first."""
        bad = [r for r in self.suspects if r.verdict is not Verdict.PASS]
        bad += sorted((r for r in self.rows if r.verdict is not Verdict.PASS), key=lambda r: r.badness, reverse=True)
        return tuple(bad)

    def mode(self, mode: Mode) -> ModeResult | None:
        """The result for one mode, or None when it is not part of this check."""
        return next((m for m in self.modes if m.mode is mode), None)

    def table(self, *, everything: bool = False) -> str:
        """The compared entries as a fixed-width table (failing ones unless ``everything``)."""
        from derivcheck.table import render_rows

        rows = (*self.suspects, *self.rows) if everything else self.failing
        return render_rows(rows) if rows else "(no entries to show)"

    def __str__(self) -> str:
        return self.message or summary_line(self)


def build_result(target: str, *, n_inputs: int, n_outputs: int, dtype: str, start: float,
                 verdict: Verdict | None = None, modes: Sequence[ModeResult] = (), rows: Sequence[Row] = (),
                 suspects: Sequence[Row] = (), causes: Sequence[str | None] = (), strategy: Approach = Approach.NONE,
                 directions: int = 0, evaluations: int = 0, reference: str = "none", notes: Sequence[str] = (),
                 complete: bool = True) -> CheckResult:
    """The one place a ``CheckResult`` is made: every target's check ends here.

    The verdict is the rows' and suspects' overall verdict unless given; causes are kept once
    each, in order; empty causes and notes are dropped; ``seconds`` is the time since ``start``
    (``time.perf_counter()``). A check that compared nothing keeps ``strategy`` ``Approach.NONE``.
    """
    if verdict is None:
        verdict = overall([r.verdict for r in (*rows, *suspects)])
    return CheckResult(
        target=target, verdict=verdict, modes=tuple(modes), rows=tuple(rows), suspects=tuple(suspects),
        causes=tuple(dict.fromkeys(c for c in causes if c)), strategy=strategy, n_inputs=n_inputs,
        n_outputs=n_outputs, directions=directions,
        evaluations=evaluations, dtype=dtype, reference=reference, seconds=time.perf_counter() - start,
        notes=tuple(n for n in notes if n), localised_completely=complete)


def mode_verdict(rows: Sequence[Row], source: Source) -> Verdict:
    """A mode's verdict: a mismatch if any row names its source wrong, else the rest's verdict."""
    if any(r.verdict is Verdict.MISMATCH and source in r.wrong for r in rows):
        return Verdict.MISMATCH
    rest = [r.verdict for r in rows if r.verdict is not Verdict.MISMATCH]
    return overall(rest) if rest else Verdict.PASS


def summary_line(result: CheckResult) -> str:
    """One line: what was checked, how, and the verdict."""
    modes = ", ".join(
        f"{m.mode.value} {m.verdict.value}" if m.verdict is not None else f"{m.mode.value} not checked"
        for m in result.modes
    )
    shape = f"{result.n_inputs} input entries x {result.n_outputs} output{'s' if result.n_outputs != 1 else ''}"
    how = result.strategy + (f" ({result.directions} directions)" if result.strategy is Approach.DIRECTIONAL else "")
    checked = f"{modes}; " if modes else ""
    reference = f"reference {result.reference}, " if result.reference != "none" else ""
    how = f"{how}, " if result.strategy is not Approach.NONE else ""
    return (f"check_grad({result.target}): {result.verdict.value}; {checked}{shape}, {how}"
            f"{reference}computed in {result.dtype}, {result.evaluations} evaluations, {result.seconds:.3g} s")


def failure_message(result: CheckResult) -> str:
    """The text of the exception: headline, worst entries, likely causes, and where to look next."""
    lines = [_headline(result)]
    suspects = [r for r in result.suspects if r.verdict is not Verdict.PASS]
    # the mismatches first (an undecided row beside them has no tolerance, so an infinite badness)
    checks = sorted((r for r in result.rows if r.verdict is not Verdict.PASS),
                    key=lambda r: (r.verdict is Verdict.MISMATCH, r.badness), reverse=True)
    shown = suspects or checks
    if shown:
        lines.append("  wrong entries:" if suspects else "  worst entries:")
        for row in shown[:MESSAGE_ENTRIES]:
            lines.append("    " + describe_row(row))
        more = len(shown) - MESSAGE_ENTRIES
        if more > 0:
            lines.append(f"    ... and {more} more")
    if suspects and checks:
        lines.append(f"  found by {len(checks)} of {len(result.rows)} directional checks failing, worst: "
                     + describe_row(checks[0]))
    if suspects and not result.localised_completely:
        lines.append("  (more entries may be wrong: the search kept the worst few)")
    for cause in result.causes:
        lines.append(f"  likely cause: {cause}")
    for mode in result.modes:
        if mode.verdict is None and mode.note:
            lines.append(f"  {mode.mode.value}: {mode.note}")
    for note in result.notes:
        lines.append(f"  note: {note}")
    lines.append("  " + summary_line(result) + "; full table: result.table()")
    return "\n".join(lines)


def _headline(result: CheckResult) -> str:
    if result.verdict is Verdict.MISMATCH:
        wrong = [m for m in result.modes if m.verdict is Verdict.MISMATCH]
        right = [m for m in result.modes if m.verdict is Verdict.PASS]
        text = " and ".join(m.mode.value for m in wrong) or "a derivative"
        verb = "is" if len(wrong) <= 1 else "are"
        tail = f"; {', '.join(m.mode.value for m in right)} agree{'s' if len(right) == 1 else ''}" if right else ""
        return f"{result.target}: {text} {verb} wrong{tail}"
    if result.verdict is Verdict.NOT_DIFFERENTIABLE:
        return (f"{result.target}: no verdict: the function is not differentiable at this point "
                f"(one-sided derivatives differ)")
    return f"{result.target}: no verdict could be reached"


def _plain(value: float) -> str:
    return "nan" if math.isnan(value) else ("+inf" if value > 0 else "-inf")


def describe_row(row: Row) -> str:
    """``label: reference R (method); reverse C; error E > tolerance T`` for one row."""
    parts = [f"{row.label}:"]
    if row.exact is not None:
        parts.append(f"exact {fmt_number(row.exact, 10)}")
        if row.numeric is not None:
            parts.append(f"numeric {fmt_number(row.numeric, 10)}")
    elif row.numeric is not None and (row.method or "").startswith(LIFTED):
        parts.append(f"float64 {fmt_number(row.numeric, 10)} ({row.method})")
    elif row.numeric is not None:
        parts.append(f"numeric {fmt_number(row.numeric, 10)} (+-{fmt_number(row.numeric_error, 2)}, {row.method})")
    if row.left is not None and row.right is not None and row.verdict is Verdict.NOT_DIFFERENTIABLE:
        parts.append(f"left {fmt_number(row.left, 10)} right {fmt_number(row.right, 10)}")
    for source, value in ((Source.REVERSE, row.reverse), (Source.FORWARD, row.forward)):
        if value is not None:
            parts.append(f"{'reverse' if source is Source.REVERSE else 'forward'} {fmt_number(value, 10)}"
                         + (" (wrong)" if source in row.wrong else ""))
    for claim in row.claims:
        parts.append(f"{claim.key} {fmt_number(claim.value, 10)}" + (" (wrong)" if Source.CLAIM in row.wrong else ""))
    broken = sorted({_plain(v) for s, v in ((Source.REVERSE, row.reverse), (Source.FORWARD, row.forward))
                     if s in row.wrong and v is not None and not math.isfinite(v)})
    if row.verdict is Verdict.MISMATCH and broken:
        parts.append(f"the gradient is {' and '.join(broken)} where the reference is finite")
    elif row.verdict is Verdict.MISMATCH:
        parts.append(f"error {fmt_number(row.error, 3)} > tolerance {fmt_number(row.tolerance, 3)}")
    elif row.note:
        parts.append(row.note)
    return " ".join(parts[:1]) + " " + "; ".join(parts[1:])
