"""The step-by-step derivation of a case, in the structure the case teaches.

Three forms, the first that fits: a sum over data differentiated through its general term
(:mod:`derivcheck.report.sums`); the chain rule through the named intermediates
(:mod:`derivcheck.report.chain`); else rule by rule over the expression (:mod:`.steps`). Each
derivative ends in a short form, and the author's claim for it is shown beside it with its verdict.
"""

from __future__ import annotations

from collections.abc import Sequence

import sympy

from derivcheck.cases.results import CaseResult
from derivcheck.errors import DerivcheckError
from derivcheck.language.parser import is_array, parse
from derivcheck.model import ClaimEntry, Quantity
from derivcheck.report.chain import MAX_LOCALS, chain, chains_markdown
from derivcheck.report.mathtext import code, inline, latex, md_text, number_latex, symbol_latex
from derivcheck.report.steps import derive
from derivcheck.report.steps_markdown import derivation_markdown
from derivcheck.report.sums import SumForm, claim_form, sum_derivative, sum_markdown, summed_form, worked_value
from derivcheck.report.worked import CaseMath, point_text
from derivcheck.verdict import Source

#: most derivations written out rule by rule per case (one per input, or per Jacobian entry)
MAX_DERIVATIONS = 2
#: most lines per rule-by-rule derivation
DERIVATION_LINES = 8
#: a rule-by-rule derivation longer than this (characters of markdown) is cut to its outer rules
MAX_DERIVATION_CHARS = 1600


def derivations_section(cm: CaseMath, result: CaseResult | None = None) -> str:
    """The derivation of every derivative the case asks for, in the case's own structure."""
    form = summed_form(cm.case)
    if form is not None:
        text = _sums_section(cm, form, result)
        if text is not None:
            return text
    text = _chain_section(cm, result)
    if text is not None:
        return text
    return _rules_section(cm, result)


# ----------------------------------------------------------------------------------------------
# claims beside the derivation


def claims_for(cm: CaseMath, i: int, j: int) -> list[ClaimEntry]:
    """The author's claims for the Jacobian entry (i, j)."""
    return [c for c in cm.case.claims if c.quantity is Quantity.JACOBIAN and c.index == (i, j)]


def claim_verdict(result: CaseResult | None, claim: ClaimEntry) -> str:
    """``✓ agrees at every point`` or ``✗ wrong at point 1 (claims 4, the derivative is -4)``."""
    if result is None:
        return ""
    rows = [r for r in result.rows if r.quantity is claim.quantity and r.index == claim.index]
    wrong = [r for r in rows if Source.CLAIM in r.wrong]
    if not wrong:
        return f"✓ agrees at {'every point' if len(rows) > 1 else 'the point'}"
    row = wrong[0]
    claimed = next((c.value for c in row.claims if c.key == claim.key), None)
    shown = "—" if claimed is None else f"{claimed:.6g}"
    exact = "—" if row.exact is None else f"{row.exact:.6g}"
    return f"✗ **wrong** at point {row.point + 1} (the claim gives {shown}, the derivative is {exact})"


def _claim_lines(cm: CaseMath, result: CaseResult | None, i: int, j: int, tex_of) -> list[str]:
    lines = []
    for claim in claims_for(cm, i, j):
        tex = tex_of(claim)
        formula = inline(tex) if tex is not None and len(tex) < 400 else code(claim.text)
        lines.append(f"Claimed ({code(claim.key)}): {formula} — {claim_verdict(result, claim)}.")
    return lines


def _let_names(cm: CaseMath) -> dict[str, object]:
    names: dict[str, object] = dict(cm.case.data)
    for var in cm.case.variables:
        names[var.name] = var.value() if var.shape else var.symbols[0]
    for s, _ in cm.lets:
        names[s.name] = s
    return names


def _claim_tex_in_lets(cm: CaseMath, claim: ClaimEntry) -> str | None:
    """The claim as written (in the intermediates' names), when it is a scalar formula."""
    try:
        value = parse(claim.text, _let_names(cm))
    except DerivcheckError:
        return None
    if is_array(value):
        return None
    return latex(value)


# ----------------------------------------------------------------------------------------------
# the three forms


def _sums_section(cm: CaseMath, form: SumForm, result: CaseResult | None) -> str | None:
    point = cm.points[0]
    parts = []
    for j, var in enumerate(cm.symbols):
        d = sum_derivative(form, var)
        if d is None:
            return None
        work, value = worked_value(form, d, point)
        if sympy.simplify(value - cm.jacobian[0, j].xreplace(point)) != 0:
            return None  # the general-term form disagrees with the exact derivative: do not show it
        body = sum_markdown(form, d)
        at = (f"At point 1 ({md_text(point_text(cm.case, 0))}): "
              + inline(r"\frac{\partial f}{\partial " + form.names[var] + "} = " + work + " = " + number_latex(value)))
        claims = _claim_lines(cm, result, 0, j, lambda c: claim_form(form, c.text))
        heading = "#### " + inline(r"\frac{\partial f}{\partial " + symbol_latex(var) + "}")
        parts.append(heading + "\n\n" + body + "\n\n" + at + ("\n\n" + "\n\n".join(claims) if claims else ""))
    return "\n\n".join(parts)


def _chain_section(cm: CaseMath, result: CaseResult | None) -> str | None:
    if not cm.scalar or not cm.lets or cm.output is None or any("[" in s.name for s, _ in cm.lets):
        return None
    chains = [chain(cm.lets, cm.output, var) for var in cm.symbols]
    if any(c is None for c in chains):
        return None
    if len({k for c in chains for k in c.locals}) > MAX_LOCALS:
        return None
    names = {s: symbol_latex(s) for s in (*cm.symbols, *(s for s, _ in cm.lets), chains[0].out)}
    text = chains_markdown(chains, names, "f")
    claims = []
    for j in range(len(cm.symbols)):
        which = inline(r"\frac{df}{d" + symbol_latex(cm.symbols[j]) + "}")
        claims.extend(f"- {which}: " + line for line in _claim_lines(cm, result, 0, j, lambda c: _claim_tex_in_lets(cm, c)))
    return text + ("\n\n" + "\n".join(claims) if claims else "")


def _rules_section(cm: CaseMath, result: CaseResult | None) -> str:
    """Rule by rule over the expression, for at most ``MAX_DERIVATIONS`` entries."""
    pairs = [(i, j) for i in range(len(cm.case.outputs)) for j in range(len(cm.symbols))]
    nonzero = [(i, j) for i, j in pairs if cm.case.outputs[i].has(cm.symbols[j])]
    chosen = nonzero[:MAX_DERIVATIONS if cm.scalar else 1] if len(cm.symbols) > 1 or not cm.scalar else nonzero
    parts = []
    for i, j in chosen:
        out, var = cm.case.outputs[i], cm.symbols[j]
        d = derive(out, var)
        op = (r"\frac{\partial " if d.partial else r"\frac{d") + cm.out_tex(i) + (
            r"}{\partial " if d.partial else "}{d") + symbol_latex(var) + "}"
        claims = _claim_lines(cm, result, i, j, lambda c: latex(c.expr) if len(latex(c.expr)) < 300 else None)
        room = 1 if len(chosen) > 1 else 2  # a single derivative may take the room of two
        body = derivation_markdown(d, max_lines=room * DERIVATION_LINES)
        if len(body) > room * MAX_DERIVATION_CHARS:  # long expressions: the outer rules only
            body = derivation_markdown(d, max_lines=4)
        if len(body) > room * MAX_DERIVATION_CHARS:
            body = f"The derivation applies {', '.join(d.rules)}; its expressions are too long to write out here."
        parts.append(f"#### {inline(op)}\n\n" + body
                     + ("\n\n" + "\n\n".join(claims) if claims else ""))
    rest = len(nonzero) - len(chosen)
    where = "the gradient" if cm.scalar else "the Jacobian"
    if rest > 0:
        parts.append(f"The other {rest} derivative(s) follow the same rules; their values are in {where} below.")
    zero = len(pairs) - len(nonzero)
    if zero:
        parts.append(f"{zero} derivative(s) are 0: the output does not depend on that input (constant rule).")
    return "\n\n".join(parts)


def display_claims(cm: CaseMath, result: CaseResult | None, keys: Sequence[str] = ()) -> str:
    """Every claim's formula with its verdict (for array claims, shown once per key)."""
    seen: dict[str, ClaimEntry] = {}
    for claim in cm.case.claims:
        if not keys or claim.key in keys:
            seen.setdefault(claim.key, claim)
    lines = []
    for key, claim in seen.items():
        entries = [c for c in cm.case.claims if c.key == key]
        wrong = [c for c in entries if "wrong" in claim_verdict(result, c)]
        verdict = claim_verdict(result, wrong[0]) if wrong else "✓ agrees at every entry and point"
        lines.append(f"- {code(key)} = {code(claim.text)}: {verdict}")
    return "\n".join(lines) if lines else ""


__all__ = ["claim_verdict", "claims_for", "derivations_section", "display_claims"]

