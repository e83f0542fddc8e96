"""Results as text for a terminal, and as JSON for machines."""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from derivcheck.cases.results import CaseResult, Status
from derivcheck.numformat import fmt_number
from derivcheck.table import render_rows
from derivcheck.verdict import Verdict

_STATUS_WORD = {Status.OK: "ok", Status.FAILED: "FAIL", Status.ERROR: "ERROR", Status.TIMEOUT: "TIMEOUT"}


def render_case(result: CaseResult, *, verbose: bool = False) -> str:
    """One line per case; for a failure (or with ``verbose``) the rows that matter under it."""
    word = _STATUS_WORD[result.status]
    if result.status is Status.ERROR:  # every error of the case, one line each
        return "\n".join(f"{word:<7} {line}" for line in result.message.splitlines() or [""])
    worst = result.worst
    verdict = result.verdict.value if result.verdict else "-"
    expected = "" if result.expect.value == "pass" else f" (expected {result.expect.value})"
    summary = ""
    if worst is not None:
        summary = f"worst {worst.label} @{worst.point}: err {fmt_number(worst.error)} / tol {fmt_number(worst.tolerance)}"
    line = (f"{word:<7} {result.case_id:<38} {verdict:<18}{expected} {len(result.rows):>4} checks  "
            f"{summary}  {result.seconds:.2f}s")
    lines = [line.rstrip()]
    if result.status is not Status.OK and result.message:
        lines.append(f"        {result.message}")
    if verbose or result.status is not Status.OK:
        shown = result.rows if verbose else [r for r in result.rows if r.verdict is not Verdict.PASS][:8]
        if shown:
            lines.append(render_rows(shown, indent=8))
    lines.extend(render_diagnoses(result))
    if verbose:
        for s in result.steepest:
            lines.append(
                f"        steepest @{s.point}: |grad f| = {s.gradient_norm:.12g}, D_u f along grad = "
                f"{s.along_gradient:.12g}, best of {s.samples} sampled = {s.best_sampled:.12g} "
                f"at {s.best_angle_deg:.1f} deg: {'ok' if s.ok else 'FAIL'}"
            )
    return "\n".join(lines)


#: plain-text stand-ins for the few symbols a diagnosis uses, for a terminal that cannot show them
_PLAIN = str.maketrans({"∂": "d", "²": "^2", "½": "1/2", "ᵀ": "^T"})


def render_diagnoses(result: CaseResult) -> list[str]:
    """One line per wrong claim that a misapplied rule explains: which rule, where."""
    texts = dict.fromkeys([*((d.claim, d.text) for d in result.diagnoses), *((u.claim, u.text) for u in result.unexplained)])
    return [f"        {claim}: {_printable(text)}" for claim, text in texts]


def _printable(text: str) -> str:
    """``text`` as the terminal's encoding can print it (symbols spelled out otherwise)."""
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    try:
        text.encode(encoding)
        return text
    except (UnicodeEncodeError, LookupError):
        return text.translate(_PLAIN).encode("ascii", "replace").decode("ascii")


def render_summary(results: Sequence[CaseResult]) -> str:
    """The closing line: counts by status and the total time."""
    totals = summary_totals(results)
    parts = [f"{totals['ok']} ok", f"{totals['failed']} failed", f"{totals['errors']} errors"]
    if totals["timeouts"]:
        parts.append(f"{totals['timeouts']} timed out")
    return f"{totals['cases']} cases: {', '.join(parts)}; {totals['checks']} checks in {totals['seconds']:.1f}s"


def summary_totals(results: Sequence[CaseResult]) -> dict[str, float | int]:
    """The counts the summary line shows (and the JSON holds): cases, ok, failed, errors,
    timeouts, checks, seconds (the sum of the cases' own times)."""
    counts = {status: sum(1 for r in results if r.status is status) for status in Status}
    return {
        "cases": len(results), "ok": counts[Status.OK], "failed": counts[Status.FAILED],
        "errors": counts[Status.ERROR], "timeouts": counts[Status.TIMEOUT],
        "checks": sum(len(r.rows) for r in results), "seconds": round(sum(r.seconds for r in results), 3),
    }


def to_jsonable(value: object) -> object:
    """Dataclasses, enums, tuples and floats (inf and nan as strings) as JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def write_json(results: Sequence[CaseResult], path: Path) -> None:
    """Write every result to ``path`` atomically (a reader never sees half a file)."""
    payload = {"totals": summary_totals(results), "results": [to_jsonable(r) for r in results]}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=1)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
