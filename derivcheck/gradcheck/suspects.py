"""Naming the wrong entries behind failing directional checks, and what the wrong entries suggest.

A failing ``w . J u`` check is narrowed by ``localise.bisect`` to input entries (probes along
``u`` restricted to blocks); for several outputs, the worst entry's outputs are bisected too
(one backward pass per block of cotangent). The localised entries are then judged in full, every
source side by side, and handed to ``diagnose`` for likely causes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from derivcheck.engines import numeric as finite_diff
from derivcheck.gradcheck.causes import confinement_cause, ratio_cause, term_cause
from derivcheck.gradcheck.localise import bisect
from derivcheck.model import Quantity
from derivcheck.verdict import Row, Source, Verdict


class TorchCheck(Protocol):
    """What localisation needs of a running check (``checks.TorchCheck`` is one): the function,
    its seeded directions, its sources of values, and where findings go."""

    fn: Any
    U: np.ndarray
    W: np.ndarray
    numeric: Any
    claim: np.ndarray | None
    inputs: Any
    outputs: Any
    complete: bool
    notes: list[str]
    reverse_on: bool

    def reverse(self, cotangents: np.ndarray) -> np.ndarray: ...

    def agrees(self, value: np.ndarray, error: np.ndarray, computed: Sequence[np.ndarray | None]) -> np.ndarray: ...

    def forward(self, tangents: np.ndarray) -> np.ndarray | None: ...

    def judge(self, quantity: Quantity, index: tuple[int, ...], label: str, scale: float, *,
              numeric: tuple, rev: float | None = None, fwd: float | None = None,
              claim: float | None = None) -> Row: ...

    def entry_label(self, i: int, j: int) -> str: ...

    def direction_label(self, c: int, d: int) -> str: ...

    def add_cause(self, cause: str | None) -> None: ...

#: suspects whose outputs are localised too (the worst ones), for a function with several outputs
OUTPUT_LOCALISED = 1
#: directional checks that must all show one ratio computed/reference before it is named
DIRECTIONS_FOR_RATIO = 2


def localise(check: TorchCheck, rows: list[Row], A: np.ndarray | None, num: finite_diff.NumericDerivative) -> list[Row]:
    """Name the wrong entries behind each wrong source's worst direction."""
    found: dict[int, None] = {}
    for source in (Source.REVERSE, Source.CLAIM, Source.FORWARD):
        wrong = [r for r in rows if r.verdict is Verdict.MISMATCH and source in r.wrong]
        if not wrong:
            continue
        worst = max(wrong, key=lambda r: r.badness)
        c, d = worst.index
        located = bisect(check.fn.n, block_probe(check, source, c, d, A))
        check.complete = check.complete and located.complete
        for block in located.blocks:
            if block.single:
                found.setdefault(block.start)
        ratio_from_directions(check, rows, source)
        if not found:
            check.notes.append(f"{source.value}: the wrong entries could not be separated "
                               f"(blocks {[(b.start, b.stop) for b in located.blocks]})")
    if not found:
        return []
    suspects = suspect_rows(check, list(found), A)
    diagnose_suspects(check, suspects, A, num)
    return suspects


def block_probe(check: TorchCheck, source: Source, c: int, d: int,
                A: np.ndarray | None) -> Callable[[np.ndarray], list[Row]]:
    u, w = check.U[d], check.W[c]

    def probe(masks: np.ndarray) -> list[Row]:
        directions = u[None, :] * masks
        if source is Source.REVERSE:
            computed = directions @ A[c]
        elif source is Source.CLAIM:
            computed = directions @ check.claim
        else:
            computed = check.forward(directions) @ w
        # one central difference per block first, the shrinking search for the blocks it does not
        # clear: a level of a million-entry search costs a few evaluations per block, not a ladder
        # (the suspects found are judged again in full)
        num = check.numeric.settled(directions, lambda q: check.agrees((w @ q.value)[None], (np.abs(w) @ q.error)[None],
                                                                        (computed[None],)), ladder=False)
        reference, error = w @ num.value, np.abs(w) @ num.error
        terms = np.maximum(np.abs(directions) @ np.abs(A[c]) if A is not None else 0.0, np.abs(w) @ np.abs(num.value))
        rows = []
        for k in range(len(masks)):
            idx = np.flatnonzero(masks[k])
            label = f"block {idx[0]}:{idx[-1] + 1} of {check.direction_label(c, d)}"
            value = float(computed[k])
            rows.append(check.judge(Quantity.VJP, (c, k), label, float(terms[k]),
                                    rev=value if source is Source.REVERSE else None,
                                    fwd=value if source is Source.FORWARD else None,
                                    claim=value if source is Source.CLAIM else None,
                                    numeric=(reference[k], error[k], methods(num.method[:, k]))))
        return rows

    return probe


def suspect_rows(check: TorchCheck, entries: list[int], A: np.ndarray | None) -> list[Row]:
    """Each localised input entry, every source side by side (whole Jacobian entries when m == 1)."""
    fn = check.fn
    unit = unit_rows(fn.n, entries)
    num = check.numeric.directional(unit)  # (m, k): the Jacobian columns
    fwd = check.forward(unit)  # (k, m)
    rows = []
    if fn.m == 1:
        scale = nanmax(np.abs(num.value))
        for k, j in enumerate(entries):
            rows.append(check.judge(
                Quantity.JACOBIAN, (0, j), check.entry_label(0, j), scale,
                rev=None if A is None else A[0, j], fwd=None if fwd is None else fwd[k, 0],
                claim=None if check.claim is None else check.claim[j],
                numeric=(num.value[0, k], num.error[0, k], num.method[0, k])))
        return rows
    w = check.W[0]
    for k, j in enumerate(entries):
        if k < OUTPUT_LOCALISED:
            rows.extend(output_rows(check, j, num.value[:, k], num.error[:, k], num.method[:, k],
                                    None if fwd is None else fwd[k]))
            continue
        rows.append(check.judge(
            Quantity.VJP, (0, j), f"(w1 . J)[{check.inputs.label(j)}]", float(np.abs(w) @ np.abs(num.value[:, k])),
            rev=None if A is None else A[0, j], fwd=None if fwd is None else float(w @ fwd[k]),
            numeric=(float(w @ num.value[:, k]), float(np.abs(w) @ num.error[:, k]), methods(num.method[:, k]))))
    return rows


def output_rows(check: TorchCheck, j: int, column: np.ndarray, error: np.ndarray, how: np.ndarray,
                fwd_column: np.ndarray | None) -> list[Row]:
    """Bisect the outputs of input entry ``j`` (one backward pass per block) to name (output, input) pairs."""
    w = check.W[0]
    scale = nanmax(np.abs(column))

    def probe(masks: np.ndarray) -> list[Row]:
        weights = w[None, :] * masks
        rev = check.reverse(weights)[:, j] if check.reverse_on else None
        rows = []
        for k, weight in enumerate(weights):
            rows.append(check.judge(
                Quantity.VJP, (0, k), f"outputs block of input {check.inputs.label(j)}",
                float(np.abs(weight) @ np.abs(column)), rev=None if rev is None else rev[k],
                fwd=None if fwd_column is None else float(weight @ fwd_column),
                numeric=(float(weight @ column), float(np.abs(weight) @ error), methods(how))))
        return rows

    located = bisect(check.fn.m, probe)
    check.complete = check.complete and located.complete
    outputs = list(located.entries)
    if not outputs:
        return []
    rev = check.reverse(unit_rows(check.fn.m, outputs))[:, j] if check.reverse_on else None
    return [check.judge(Quantity.JACOBIAN, (i, j), check.entry_label(i, j), scale,
                        rev=None if rev is None else rev[k],
                        fwd=None if fwd_column is None else fwd_column[i],
                        numeric=(column[i], error[i], how[i]))
            for k, i in enumerate(outputs)]


def diagnose_suspects(check: TorchCheck, suspects: list[Row], A: np.ndarray | None,
                      num: finite_diff.NumericDerivative) -> None:
    for source in (Source.REVERSE, Source.CLAIM, Source.FORWARD):
        wrong = [r for r in suspects if source in r.wrong]
        if not wrong:
            continue
        computed = np.array([value_of(r, source) for r in wrong])
        check.add_cause(ratio_cause(np.array([r.numeric for r in wrong]), computed))
        entries = [r.index[1] for r in wrong]
        outputs = [r.index[0] for r in wrong if r.quantity is Quantity.JACOBIAN]
        check.add_cause(confinement_cause(check.inputs, entries, outputs=check.outputs if check.fn.m > 1 else None,
                                    wrong_outputs=outputs, complete=check.complete))
        vector = A[0] if source is Source.REVERSE and A is not None else check.claim
        if vector is not None and source is not Source.FORWARD:
            transposed_directional(check, vector, entries)
        if source is Source.CLAIM and A is not None:
            missing_term(check, A[0], A)


def transposed_directional(check: TorchCheck, computed: np.ndarray, entries: Sequence[int]) -> None:
    """For each square matrix input holding a wrong entry: does the transpose of the computed
    gradient pass the directional check restricted to that input?"""
    w = check.W[0]
    for slot in check.fn.slots:
        shape = slot.layout_shape  # a complex or masked matrix is no square block of the vector
        p = shape[0] if len(shape) == 2 and shape[0] == shape[1] > 1 else 0
        if not p or not any(slot.offset <= e < slot.offset + slot.size for e in entries):
            continue
        u = np.zeros(check.fn.n)
        u[slot.offset:slot.offset + slot.size] = check.U[0, slot.offset:slot.offset + slot.size]
        num = check.numeric.directional(u[None])
        block = computed[slot.offset:slot.offset + slot.size].reshape(p, p).T.reshape(-1)
        value = float(block @ u[slot.offset:slot.offset + slot.size])
        row = check.judge(Quantity.VJP, (0, 0), "transpose test", float(np.abs(w) @ np.abs(num.value[:, 0])),
                          rev=value, numeric=(float(w @ num.value[:, 0]), float(np.abs(w) @ num.error[:, 0]), ""))
        if row.verdict is Verdict.PASS:
            check.add_cause(f"the gradient of {slot.name!r} is transposed: its transpose passes the check")


def ratio_from_directions(check: TorchCheck, rows: list[Row], source: Source) -> None:
    first = [r for r in rows if r.index[0] == 0 and r.numeric is not None]
    if len(first) < DIRECTIONS_FOR_RATIO or not all(source in r.wrong for r in first):
        return
    check.add_cause(ratio_cause(np.array([r.numeric for r in first]), np.array([value_of(r, source) for r in first]),
                          loose=False))


def missing_term(check: TorchCheck, reference: np.ndarray, rev: np.ndarray | None) -> None:
    if rev is None or check.claim is None or not check.fn.differentiable:
        return
    check.add_cause(term_cause(check.claim, check.fn.term_variants(check.W[0]), reference))


def unit_rows(n: int, entries: Sequence[int]) -> np.ndarray:
    """Rows of the identity for ``entries``, without building the whole identity."""
    rows = np.zeros((len(entries), n))
    rows[np.arange(len(entries)), list(entries)] = 1.0
    return rows


def value_of(row: Row, source: Source) -> float:
    """The value a row holds for one source (the user's gradient is its first claim)."""
    if source is Source.REVERSE:
        return row.reverse  # type: ignore[return-value]
    if source is Source.FORWARD:
        return row.forward  # type: ignore[return-value]
    return row.claims[0].value  # type: ignore[return-value]


def methods(values: np.ndarray) -> str:
    """The numeric methods behind a contracted value, joined."""
    return ", ".join(sorted({str(m) for m in np.ravel(values)}))


def nanmax(values: np.ndarray) -> float:
    """The largest finite value (0 when there is none)."""
    finite = values[np.isfinite(values)]
    return float(finite.max()) if finite.size else 0.0
