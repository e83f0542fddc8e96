"""Numbers and compared entries as text: one number format, one fixed-width table of rows."""

from __future__ import annotations

from collections.abc import Sequence

from derivcheck.numformat import fmt_number
from derivcheck.verdict import Row

_ROW_COLUMNS = ("point", "entry", "exact", "reverse", "forward", "numeric", "num err", "claim", "error", "tol", "verdict")


def render_rows(rows: Sequence[Row], *, indent: int = 0) -> str:
    """A fixed-width table of compared entries: every source, the error, the tolerance."""
    table = [list(_ROW_COLUMNS)]
    for r in rows:
        claim = ", ".join(fmt_number(c.value) for c in r.claims) or "-"
        table.append([
            str(r.point), r.label, fmt_number(r.exact), fmt_number(r.reverse), fmt_number(r.forward), fmt_number(r.numeric),
            fmt_number(r.numeric_error, 2), claim, fmt_number(r.error, 2), fmt_number(r.tolerance, 2),
            r.verdict.value + (f" ({', '.join(s.value for s in r.wrong)} wrong)" if r.wrong else ""),
        ])
    widths = [max(len(row[c]) for row in table) for c in range(len(_ROW_COLUMNS))]
    pad = " " * indent
    lines = [pad + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in table]
    notes = [f"{pad}  {r.label} @{r.point}: {r.note}" for r in rows if r.note]
    return "\n".join(lines + notes)
