"""The verification part of a case's report: the table of every compared entry (exact, autograd,
numeric, claims, error, tolerance, verdict), Jacobian-vector and vector-Jacobian products side by
side, and each caught wrong claim with the correct derivative and what is wrong with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

import sympy

from derivcheck.cases.results import CaseResult
from derivcheck.model import Case, ClaimEntry, Quantity
from derivcheck.numformat import fmt_number
from derivcheck.report.mathtext import code, display, exact_value, latex, md_text, value_text
from derivcheck.report.worked import CaseMath
from derivcheck.verdict import Row, Source, Verdict

#: most rows in one verification table (rows that did not pass are always kept)
MAX_ROWS = 4
#: most wrong entries described per claim
MAX_WRONG_ENTRIES = 3

_QUANTITY_TITLE = {
    Quantity.JACOBIAN: "Gradient / Jacobian entries",
    Quantity.HESSIAN: "Hessian entries",
    Quantity.DIRECTIONAL: "Directional derivatives",
}




def _number(value: float | None, digits: int = 10) -> str:
    return fmt_number(value, digits, missing="—")

def _exact(row: Row) -> str:
    """The exact value to 15 significant digits (the exact engine keeps 34)."""
    if row.exact_text:
        try:
            text = f"{Decimal(row.exact_text):.15g}"
        except InvalidOperation:
            return _number(row.exact, 15)
        mantissa, e, exponent = text.lower().partition("e")
        if "." in mantissa:
            mantissa = mantissa.rstrip("0").rstrip(".")
        return mantissa + (e + exponent if e else "")
    return _number(row.exact, 15)


def _cell(text: str) -> str:
    return text.replace("|", "¦").replace("\n", " ")


def _verdict_text(row: Row) -> str:
    if row.verdict is Verdict.PASS:
        return "pass"
    wrong = ", ".join(s.value for s in row.wrong)
    return f"**{row.verdict.value}**" + (f" ({wrong} wrong)" if wrong else "")


def verification_section(result: CaseResult, case: Case | None = None) -> str:
    """One line of outcome, then the tables of the runner's rows folded in ``<details>``."""
    if not result.rows:
        return md_text(result.message or "No rows were compared.")
    rows = result.rows
    bad = [r for r in rows if r.verdict is not Verdict.PASS]
    points = len({r.point for r in rows})
    worst = max(rows, key=lambda r: r.badness)
    if not bad:
        summary = (f"All {len(rows)} entries agree at {points} point(s): exact, autograd, numeric "
                   f"(largest error {_number(worst.error, 2)}, tolerance {_number(worst.tolerance, 2)}).")
    else:
        kinds = sorted({r.verdict.value for r in bad})
        summary = f"{len(bad)} of {len(rows)} compared entries did not pass ({', '.join(kinds)}); they are listed first."
    parts = []
    for quantity in (Quantity.JACOBIAN, Quantity.HESSIAN, Quantity.DIRECTIONAL):
        chosen = [r for r in rows if r.quantity is quantity]
        if chosen:
            parts.append(f"**{_QUANTITY_TITLE[quantity]}**\n\n" + _rows_table(chosen))
    known = (*_QUANTITY_TITLE, Quantity.JVP, Quantity.VJP)
    others = [r for r in rows if r.quantity not in known]  # Leibniz, graph nodes, det, curl, ...
    if others:
        parts.append("**Other derivatives claimed or asked**\n\n" + _rows_table(others))
    products = products_table(rows, case.tangents if case else (), case.cotangents if case else ())
    if products:
        parts.append(products)
    notes = sorted({r.note for r in rows if r.note and r.verdict is not Verdict.PASS})
    if notes:
        parts.append("Notes:\n\n" + "\n".join(f"- {md_text(n)}" for n in notes[:10]))
    body = "\n\n".join(parts)
    if bad:
        return summary + "\n\n" + body
    return summary + "\n\n<details><summary>The compared entries</summary>\n\n" + body + "\n\n</details>"


def _select(rows: Sequence[Row]) -> tuple[list[Row], int]:
    if len(rows) <= MAX_ROWS:
        return list(rows), 0
    bad = [r for r in rows if r.verdict is not Verdict.PASS]
    keep = set(map(id, bad[:MAX_ROWS]))
    for r in rows:
        if len(keep) >= MAX_ROWS:
            break
        keep.add(id(r))
    chosen = [r for r in rows if id(r) in keep]
    return chosen, len(rows) - len(chosen)


def _autograd(r: Row) -> str:
    """Reverse mode; forward mode only where it differs in the shown digits."""
    text = _number(r.reverse)
    if r.forward is not None and _number(r.forward) != text:
        text += f" (forward {_number(r.forward)})"
    return text


def _rows_table(rows: Sequence[Row]) -> str:
    chosen, hidden = _select(rows)
    lines = [
        "| point | entry | exact | autograd | numeric ± estimate (method) | claim | verdict |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in chosen:
        numeric = "—" if r.numeric is None else f"{_number(r.numeric)} ± {_number(r.numeric_error, 2)} ({r.method})"
        if r.left is not None and r.right is not None:
            numeric += f"; one-sided {_number(r.left, 8)} / {_number(r.right, 8)}"
        claims = "; ".join(
            f"{c.key}: {_number(c.value)}" + (" ✗" if Source.CLAIM in r.wrong else "") for c in r.claims
        ) or "—"
        verdict = _verdict_text(r)
        if r.verdict is not Verdict.PASS:
            verdict += f": error {_number(r.error, 3)} > {_number(r.tolerance, 3)}"
        exact = "none (a kink)" if r.left is not None and r.right is not None else _exact(r)
        cells = [str(r.point + 1), code(r.label), exact, _autograd(r), numeric, claims, verdict]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    if hidden:
        lines.append(f"\n({hidden} more passed.)")
    return "\n".join(lines)


def products_table(
    rows: Sequence[Row],
    tangents: Sequence[Sequence[sympy.Expr]] = (),
    cotangents: Sequence[Sequence[sympy.Expr]] = (),
) -> str | None:
    """J v and vᵀ J for the same vector index side by side, per point.

    ``tangents`` and ``cotangents`` (the case's vectors) label the rows when given.
    """
    jvp = [r for r in rows if r.quantity is Quantity.JVP]
    vjp = [r for r in rows if r.quantity is Quantity.VJP]
    if not jvp and not vjp:
        return None
    points = sorted({r.point for r in jvp + vjp})
    count = max([r.index[0] + 1 for r in jvp + vjp], default=0)
    lines = [
        ("**Jacobian-vector and vector-Jacobian products**, side by side (J v pushes a tangent "
         "forward; vᵀ J pulls a cotangent back; numeric values are in the verdict):"),
        "",
        "| point | vector | J v exact | J v autograd (forward) | vᵀ J exact | vᵀ J autograd (reverse) | verdict |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    hidden = 0
    for k in points:
        for t in range(count):
            a = sorted((r for r in jvp if r.point == k and r.index[0] == t), key=lambda r: r.index)
            b = sorted((r for r in vjp if r.point == k and r.index[0] == t), key=lambda r: r.index)
            if not a and not b:
                continue
            verdicts = {r.verdict for r in a + b}
            if k != points[0] and verdicts == {Verdict.PASS}:
                hidden += 1
                continue
            verdict = "pass" if verdicts == {Verdict.PASS} else "**" + ", ".join(sorted(v.value for v in verdicts)) + "**"
            label = [f"v{t + 1}"]
            if t < len(tangents):
                label.append("tangent " + _exact_vector(tangents[t]))
            if t < len(cotangents):
                label.append("cotangent " + _exact_vector(cotangents[t]))
            cells = [
                str(k + 1), "; ".join(label),
                _vector(r.exact for r in a), _vector(r.forward for r in a),
                _vector(r.exact for r in b), _vector(r.reverse for r in b),
                verdict,
            ]
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    if hidden:
        lines.append(f"\n({hidden} more, at the other points, passed.)")
    return "\n".join(lines)


def _exact_vector(values: Sequence[sympy.Expr]) -> str:
    return "(" + ", ".join(value_text(v, width=10) for v in values) + ")"


def _vector(values) -> str:
    values = list(values)
    if not values:
        return "—"
    return "(" + ", ".join(_number(v, 8) for v in values) + ")"


# ----------------------------------------------------------------------------------------------
# caught wrong claims


def correct_expression(cm: CaseMath, claim: ClaimEntry) -> sympy.Expr:
    """The exact derivative a claim entry should equal, as a SymPy expression."""
    j = cm.jacobian
    q, index = claim.quantity, claim.index
    if q is Quantity.JACOBIAN:
        return j[index]
    if q is Quantity.HESSIAN:
        if cm.hessian is None:
            raise ValueError("no Hessian was derived")
        return cm.hessian[index]
    vectors = {Quantity.DIRECTIONAL: cm.case.directions, Quantity.JVP: cm.case.tangents,
               Quantity.VJP: cm.case.cotangents}[q]
    d, a = index
    v = vectors[d]
    if q is Quantity.VJP:
        return sympy.Add(*(v[i] * j[i, a] for i in range(j.shape[0])))
    return sympy.Add(*(j[a, k] * v[k] for k in range(j.shape[1])))


def diagnose(claim: sympy.Expr, correct: sympy.Expr) -> str:
    """What is wrong with a claimed derivative, compared symbolically with the correct one.

    Examples
    --------
    >>> import sympy
    >>> b = sympy.Symbol("b", real=True)
    >>> diagnose(2 * (1 - b), -2 * (1 - b))
    'the sign: the claim is the negative of the derivative'
    """
    claim, correct = sympy.sympify(claim), sympy.sympify(correct)
    if _zero(claim + correct) and not _zero(correct):
        return "the sign: the claim is the negative of the derivative"
    if not _zero(correct):
        ratio = sympy.simplify(claim / correct)
        if ratio.is_number and ratio.is_finite:
            return f"a constant factor: the claim is {value_text(ratio)} times the derivative"
    difference = sympy.simplify(claim - correct)
    if difference.is_number:
        return f"a constant offset: the claim differs from the derivative by {value_text(difference)}"
    text = str(difference)
    return "the claim minus the derivative is " + (code(text) if len(text) <= 120 else "a non-constant expression")


def _zero(expr: sympy.Expr) -> bool:
    if expr == 0:
        return True
    if sympy.count_ops(expr) <= 200:
        if sympy.expand(expr) == 0:
            return True
        if sympy.count_ops(expr) <= 60 and sympy.simplify(expr) == 0:
            return True
    return False


def wrong_claims_section(cm: CaseMath, result: CaseResult) -> str | None:
    """Each claim that was caught wrong: the claim, the correct derivative, what is wrong."""
    wrong_rows = [r for r in result.rows if Source.CLAIM in r.wrong]
    if not wrong_rows:
        return None
    entries = {(c.quantity, c.index): [] for c in cm.case.claims}
    for c in cm.case.claims:
        entries[(c.quantity, c.index)].append(c)
    by_key: dict[str, list[tuple[ClaimEntry, Row]]] = {}
    for row in wrong_rows:
        for claim in entries.get((row.quantity, row.index), []):
            by_key.setdefault(claim.key, []).append((claim, row))
    expected = "caught, as the case expects" if cm.case.expect.value == "mismatch" else "NOT expected by the case"
    parts = [f"A wrong claim was {expected}."]
    for key, pairs in by_key.items():
        claim = pairs[0][0]
        parts.append(f"**Claim {code(key)}** = {code(claim.text)}")
        rule = misapplied_rule_section(result, key)
        if rule:
            parts.append(rule)
        seen: set[tuple] = set()
        shown = 0
        for entry, row in pairs:
            if entry.index in seen or shown >= MAX_WRONG_ENTRIES:
                continue
            seen.add(entry.index)
            shown += 1
            try:
                correct = correct_expression(cm, entry)
            except (KeyError, ValueError):  # a quantity with no expression here (Leibniz, det, ...): the values
                claimed = next((c.value for c in row.claims if c.key == key), None)
                parts.append(f"- entry {code(row.label)}: at point {row.point + 1} the claim gives {_number(claimed)}, "
                             f"the exact value is {_number(row.exact)}.")
                continue
            lines = [f"- entry {code(row.label)}:"]
            tex_claim, tex_correct = latex(entry.expr), latex(sympy.simplify(correct) if sympy.count_ops(correct) < 60 else correct)
            if len(tex_claim) + len(tex_correct) < 1200:
                lines.append("")
                lines.append(_indent(display(
                    r"\begin{aligned} \text{claimed} &: " + tex_claim + r" \\ \text{correct} &: " + tex_correct + r" \end{aligned}"
                )))
                lines.append("")
            value = exact_value(correct, cm.points[row.point])
            claimed = next((c.value for c in row.claims if c.key == key), None)
            lines.append(
                f"  At point {row.point + 1} the claim gives {_number(claimed)}, the derivative is {value_text(value)}. "
                f"What is wrong: {diagnose(entry.expr, correct)}."
            )
            # The place for the wrong step beside the right one (the misapplied rule, from the
            # mistake diagnosis): append its markdown to ``lines`` here, one entry at a time.
            parts.append("\n".join(lines))
    return "\n\n".join(parts)


# ----------------------------------------------------------------------------------------------
# the misapplied rule (derivcheck.mistakes): the wrong step beside the right one


def misapplied_rule_section(result: CaseResult, key: str) -> str | None:
    """The rule a wrong claim misapplied, with the right step and the claim's step side by side.

    ``None`` when no single misapplied rule explains the claim ``key``.
    """
    groups: dict[str, list] = {}
    for d in result.diagnoses:
        if d.claim == key:
            groups.setdefault(d.text, []).append(d)
    if not groups:
        return None
    parts = []
    for text, group in groups.items():
        rules = ", ".join(dict.fromkeys(d.rule for d in group))
        rows = [f"| {code(d.node)} | {code(d.right)} | {code(d.wrong)} |" for d in group]
        parts.append("\n".join([f"The misapplied rule ({rules}): {md_text(text)}.", "",
                                 "| at | the right step | the claim's step |", "|---|---|---|", *rows]))
    return "\n\n".join(parts)


def _indent(text: str) -> str:
    return "\n".join("  " + line if line else line for line in text.splitlines())


__all__ = ["correct_expression", "diagnose", "misapplied_rule_section", "products_table", "verification_section",
           "wrong_claims_section"]
