"""Markdown for a step-by-step derivation: a nested list naming the rule at every step, then
the folded simplification, with math that renders on GitHub and in KaTeX.
"""

from __future__ import annotations

from collections.abc import Mapping

import sympy

from derivcheck.language.registry import Rule
from derivcheck.report.mathtext import display, inline, latex, paren, symbol_latex
from derivcheck.report.steps import TITLES, Derivation, Step


def operator(var: sympy.Symbol, *, partial: bool) -> str:
    """``\\frac{d}{dx}`` or ``\\frac{\\partial}{\\partial x}`` for a variable."""
    name = symbol_latex(var) if not isinstance(var, sympy.Dummy) else sympy.latex(var)
    if partial:
        return r"\frac{\partial}{\partial " + name + "}"
    return r"\frac{d}{d" + name + "}"


def derivation_markdown(
    derivation: Derivation,
    names: Mapping[sympy.Symbol, str] | None = None,
    *,
    max_lines: int = 60,
) -> str:
    """Render a derivation as a nested markdown list, then the folded simplification.

    Parameters
    ----------
    derivation : Derivation
        From :func:`derive`.
    names : mapping, optional
        LaTeX names for symbols (indexed symbols are handled without it).
    max_lines : int
        Steps beyond this many are summarised as one line.

    Examples
    --------
    >>> import sympy
    >>> from derivcheck.report.steps import derive
    >>> x = sympy.Symbol("x", real=True)
    >>> print(derivation_markdown(derive(3 * x**2, x)).splitlines()[0])
    - **Constant multiple**: $`\\frac{d}{dx} \\left(3 x^{2}\\right) = 3 \\cdot \\frac{d}{dx} x^{2} = 3 \\cdot \\left(2 x\\right)`$
    """
    renderer = _Renderer(names or {}, derivation.partial, max_lines)
    lines = renderer.render(derivation.root, 0)
    if renderer.skipped:
        lines.append(f"- … {renderer.skipped} more steps not shown")
    op = operator(derivation.var, partial=derivation.partial)
    lhs = op + " " + paren_for_op(derivation.expr, names)
    out = "\n".join(lines) + "\n\n"
    if derivation.simplified:
        out += f"**{TITLES[Rule.SIMPLIFY]}** (one folded step):\n\n"
        out += display(lhs + " = " + latex(derivation.raw, names) + " = " + latex(derivation.result, names))
    else:
        out += "**Result**:\n\n" + display(lhs + " = " + latex(derivation.result, names))
    if not derivation.agrees:
        out += "\n\n*The composed steps could not be confirmed equal to SymPy's result.*"
    return out


def paren_for_op(expr: sympy.Expr, names: Mapping[sympy.Symbol, str] | None = None) -> str:
    """The expression as an operator's argument: bracketed when it is a sum or product."""
    if expr.is_Add or expr.is_Mul or (expr.is_Number and expr.is_negative):
        return r"\left(" + latex(expr, names) + r"\right)"
    return latex(expr, names)


class _Renderer:
    def __init__(self, names: Mapping[sympy.Symbol, str], partial: bool, max_lines: int) -> None:
        self.names = dict(names)
        self.partial = partial
        self.max_lines = max_lines
        self.count = 0
        self.skipped = 0

    def op(self, step: Step) -> str:
        if isinstance(step.var, sympy.Dummy):
            return operator(step.var, partial=bool(step.expr.free_symbols - {step.var}))
        return operator(step.var, partial=self.partial)

    def tex(self, e: sympy.Expr) -> str:
        return latex(e, self.names)

    def par(self, e: sympy.Expr) -> str:
        return paren(e, self.names)

    def base(self, e: sympy.Expr) -> str:
        """A power's base: bracketed unless a symbol or a non-negative integer."""
        if isinstance(e, sympy.Symbol) or (e.is_Integer and e >= 0):
            return self.tex(e)
        return r"\left(" + self.tex(e) + r"\right)"

    def render(self, step: Step, depth: int) -> list[str]:
        if self.count >= self.max_lines:
            self.skipped += sum(1 for _ in step.walk())
            return []
        self.count += 1
        lhs = self.op(step) + " " + paren_for_op(step.expr, self.names)
        title = f"**{TITLES[step.rule]}**"
        if step.rule == Rule.CHAIN:
            title += " with " + ", ".join(
                inline(self.tex(u) + " = " + self.tex(g)) for u, g in step.substitution
            )
        line = "  " * depth + f"- {title}: " + inline(lhs + " = " + self.form(step))
        if step.note:
            line += f" — *{step.note}*"
        lines = [line]
        for child in step.children:
            if child.rule in (Rule.VARIABLE, Rule.CONSTANT) and not child.note:
                continue  # d/dx x = 1 and d/dx c = 0: shown in the parent's result, not a line each
            lines.extend(self.render(child, depth + 1))
        return lines

    def form(self, step: Step) -> str:
        rule, tex, par = step.rule, self.tex, self.par
        if rule == Rule.SUM:
            return " + ".join(par(c.result) if _needs_paren(c.result) else tex(c.result) for c in step.children)
        if rule == Rule.CONSTANT_MULTIPLE:
            c, g = step.parts
            return (
                f"{par(c)} \\cdot {self.op(step.children[0])} {paren_for_op(g, self.names)} = "
                f"{par(c)} \\cdot {par(step.children[0].result)}"
            )
        if rule == Rule.POWER:
            base, n = step.parts
            return f"{par(n)} \\cdot {self.base(base)}^{{{tex(n)} - 1}} = {tex(step.result)}"
        if rule == Rule.PRODUCT:
            terms = []
            for i, child in enumerate(step.children):
                factors = [par(child.result) if j == i else par(f) for j, f in enumerate(step.parts)]
                terms.append(" \\cdot ".join(factors))
            return " + ".join(terms)
        if rule == Rule.QUOTIENT:
            n, d = step.parts
            dn, dd = (c.result for c in step.children)
            return f"\\frac{{{par(dn)} \\cdot {par(d)} - {par(n)} \\cdot {par(dd)}}}{{{self.base(d)}^{{2}}}}"
        if rule == Rule.CHAIN:
            return self.chain_form(step)
        if rule == Rule.EXP_LOG and step.children:
            base, n = step.parts
            db, dn = (c.result for c in step.children)
            return (
                f"{tex(step.expr)} \\left({par(dn)} \\ln {par(base)} + "
                f"\\frac{{{par(n)} \\cdot {par(db)}}}{{{tex(base)}}}\\right)"
            )
        return tex(step.result)

    def chain_form(self, step: Step) -> str:
        outers = step.children[0::2]
        inners = step.children[1::2]
        back = dict(step.substitution)
        symbolic, concrete = [], []
        for (u, _g), outer, inner in zip(step.substitution, outers, inners):
            du, dx = self.tex(u), symbol_latex(step.var)
            if self.partial:
                inner_op = f"\\frac{{\\partial {du}}}{{\\partial {dx}}}"
            else:
                inner_op = f"\\frac{{d{du}}}{{d{dx}}}"
            symbolic.append(f"{self.par(outer.result)} \\cdot {inner_op}")
            concrete.append(
                f"{self.par(outer.result.subs(back, simultaneous=True))} \\cdot {self.par(inner.result)}"
            )
        return " + ".join(symbolic) + " = " + " + ".join(concrete)


def _needs_paren(e: sympy.Expr) -> bool:
    return bool(e.is_Add or (e.could_extract_minus_sign() and e != 0))
