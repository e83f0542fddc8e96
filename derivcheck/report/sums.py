"""Sums over data kept as sums: ``f = (1/N) Σᵢ (yᵢ − ŷᵢ)²`` differentiated through its general term.

A case whose variables are scalars and whose data holds 1-D arrays of one length N (the data
points) often writes its loss as ``sum(...)`` or ``mean(...)`` of an element-wise expression.
SymPy would write out all N terms; a teacher writes the general term once. :func:`summed_form`
reads the case's text again with each data array bound to its general element (``xs`` to
``xs_i``) and each intermediate that uses data bound to its own general element (``yp_i``);
each ``sum``/``mean`` over them becomes a ``Σᵢ``. The derivative is the sum of the general
term's derivatives (the sum rule), the general term differentiated by the chain rule through
the intermediates, and constants pulled out of the sum. Every result is checked against the
exact derivative at the case's first point; on any doubt the caller falls back to the usual
derivation.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import sympy

from derivcheck.errors import DerivcheckError
from derivcheck.language.parser import is_array, parse
from derivcheck.model import Case
from derivcheck.report.chain import Chain, chain, local_lines, partial_tex
from derivcheck.report.mathtext import display, exact_value, inline, latex, number_latex, paren, symbol_latex

_ARRAY_OPS = {"sum", "mean", "dot", "norm", "softmax", "logsumexp"}
#: most data points written out in a worked value
MAX_TERMS_SHOWN = 8


@dataclass(frozen=True)
class SumForm:
    """The case in general-term form: ``f`` with ``Σ`` nodes, element-wise intermediates."""

    f: sympy.Expr  # in terms of variables, scalar data symbols and Σ symbols
    sums: tuple[tuple[sympy.Symbol, sympy.Expr, bool], ...]  # (Σ symbol, general term, is a mean)
    lets: tuple[tuple[sympy.Symbol, sympy.Expr], ...]  # element-wise intermediates, general form
    elements: Mapping[sympy.Symbol, tuple[sympy.Expr, ...]]  # element symbol -> the data values
    scalars: Mapping[sympy.Symbol, sympy.Expr]  # scalar data symbol -> value
    names: Mapping[sympy.Symbol, str]  # LaTeX names
    n: int
    count: sympy.Symbol  # N
    index: sympy.Symbol  # i
    case: Case


def summed_form(case: Case) -> SumForm | None:
    """The general-term form of ``case``, or None when it has no sum over data to keep."""
    if not case.scalar or any(v.shape for v in case.variables) or not isinstance(case.f_text, str):
        return None
    arrays = {k: v for k, v in case.data.items() if is_array(v)}
    lengths = {v.shape for v in arrays.values()}
    if not arrays or len(lengths) != 1 or len(next(iter(lengths))) != 1 or next(iter(lengths))[0] < 2:
        return None
    n = next(iter(lengths))[0]
    i = sympy.Symbol("i", integer=True, positive=True)
    names: dict[sympy.Symbol, str] = {}
    bound: dict[str, object] = {}
    elements: dict[sympy.Symbol, tuple[sympy.Expr, ...]] = {}
    scalars: dict[sympy.Symbol, sympy.Expr] = {}
    for var in case.variables:
        bound[var.name] = var.symbols[0]
        names[var.symbols[0]] = symbol_latex(var.symbols[0])
    for name, value in case.data.items():
        if is_array(value):
            s = sympy.Symbol(f"{name}_i", real=True)
            elements[s] = tuple(sympy.sympify(x) for x in np.asarray(value).flat)
            names[s] = _element_tex(name)
        else:
            s = sympy.Symbol(name, real=True)
            scalars[s] = sympy.sympify(value)
            names[s] = symbol_latex(s)
        bound[name] = s
    taken = set(bound)
    count = next((s for s, v in scalars.items() if v == n), None) or sympy.Symbol("N" if "N" not in taken else "n_data", real=True)
    names.setdefault(count, symbol_latex(count))
    try:
        lets: list[tuple[sympy.Symbol, sympy.Expr]] = []
        elementwise = set(arrays)
        for name, text in case.lets:
            tree = ast.parse(text.replace("^", "**"), mode="eval")
            used = _names(tree)
            if used & elementwise:
                if not _plain_elementwise(tree):
                    return None
                s = sympy.Symbol(f"{name}_i", real=True)
                names[s] = _element_tex(name)
                elementwise.add(name)
            else:
                s = sympy.Symbol(name, real=True)
                names[s] = symbol_latex(s)
            lets.append((s, _scalar(parse(text, bound))))
            bound[name] = s
        f, sums = _with_sums(case.f_text, bound, elementwise, count, taken)
    except (DerivcheckError, SyntaxError, ValueError):
        return None
    if not sums:
        return None
    return SumForm(f, tuple(sums), tuple(lets), elements, scalars, names, n, count, i, case)


def _element_tex(name: str) -> str:
    return symbol_latex(sympy.Symbol(name)) + "_{i}" if "_" not in name else "{" + symbol_latex(sympy.Symbol(name)) + "}_{i}"


def _names(tree: ast.AST) -> set[str]:
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


def _plain_elementwise(tree: ast.AST) -> bool:
    """No indexing, matrix products, transposes or reductions: the text acts entry by entry."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.Subscript, ast.Attribute, ast.List)):
            return False
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
            return False
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _ARRAY_OPS:
            return False
    return True


def _scalar(value: object) -> sympy.Expr:
    if is_array(value):
        raise ValueError("array-valued")
    return sympy.sympify(value)


def _with_sums(text: str, bound: dict[str, object], elementwise: set[str], count: sympy.Symbol, taken: set[str]):
    """``text`` with each sum/mean over data replaced by a Σ symbol (its general term kept)."""
    tree = ast.parse(text.replace("^", "**"), mode="eval")
    sums: list[tuple[sympy.Symbol, sympy.Expr, bool]] = []
    names = dict(bound)

    class Replace(ast.NodeTransformer):
        def visit_Call(self, node: ast.Call) -> ast.AST:
            name = node.func.id if isinstance(node.func, ast.Name) else ""
            if name in ("sum", "mean") and len(node.args) == 1 and _names(node.args[0]) & elementwise:
                if not _plain_elementwise(node.args[0]):
                    raise ValueError("not element-wise")
                term = _scalar(parse(ast.unparse(node.args[0]), bound))
                k = 0
                while f"S{k}" in taken or f"S{k}" in names:
                    k += 1
                symbol = sympy.Symbol(f"S{k}", real=True)
                names[f"S{k}"] = symbol
                sums.append((symbol, term, name == "mean"))
                return ast.copy_location(ast.Name(id=f"S{k}", ctx=ast.Load()), node)
            return self.generic_visit(node)

    rewritten = Replace().visit(tree)
    outer = ast.unparse(rewritten)
    if _names(ast.parse(outer, mode="eval")) & elementwise:
        raise ValueError("data used outside a sum")
    return _scalar(parse(outer, names)), sums


# ----------------------------------------------------------------------------------------------
# derivatives and their markdown


@dataclass(frozen=True)
class SumDerivative:
    """d f / d var = Σ_k (∂f/∂S_k) · Σᵢ (d term_k / d var), constants pulled out of each sum."""

    var: sympy.Symbol
    outer: tuple[sympy.Expr, ...]  # ∂f/∂S_k (a mean's 1/N included)
    chains: tuple[Chain, ...]  # the general term's derivative, per sum
    factors: tuple[tuple[sympy.Expr, sympy.Expr], ...]  # (constant, summand) per sum


def sum_derivative(form: SumForm, var: sympy.Symbol) -> SumDerivative | None:
    """The structured derivative of ``form.f`` by ``var``."""
    outers, chains, factors = [], [], []
    element_symbols = _element_symbols(form)
    for symbol, term, mean in form.sums:
        outer = sympy.diff(form.f, symbol) / (form.count if mean else 1)
        c = chain(form.lets, term, var, out=sympy.Symbol("t_i", real=True))
        if c is None or outer.has(*form.sums[0][:1]) and len(form.sums) > 1:
            return None
        constant, summand = sympy.factor_terms(c.in_lets).as_independent(*element_symbols, as_Add=False)
        constant, summand = _as_written(constant, summand, term)
        outers.append(outer)
        chains.append(c)
        factors.append((sympy.factor_terms(outer * constant), summand))
    return SumDerivative(var, tuple(outers), tuple(chains), tuple(factors))


def _as_written(constant: sympy.Expr, summand: sympy.Expr, term: sympy.Expr) -> tuple[sympy.Expr, sympy.Expr]:
    """Flip the sign of a factor ``yp - ys`` of the summand when the case wrote ``ys - yp``."""
    written = {a for a in sympy.preorder_traversal(term) if isinstance(a, sympy.Add)}
    factors = list(sympy.Mul.make_args(summand))
    for k, factor in enumerate(factors):
        if isinstance(factor, sympy.Add) and factor not in written and -factor in written:
            factors[k] = -factor
            constant = -constant
    return constant, sympy.Mul(*factors)


def _sum_tex(form: SumForm, constant: sympy.Expr, summand: sympy.Expr) -> str:
    if summand == 0 or constant == 0:
        return "0"
    body = paren(summand, form.names) if summand.is_Add else latex(summand, form.names)
    s = r"\sum_{i=1}^{" + latex(form.count, form.names) + "} " + body
    if constant == 1:
        return s
    if constant == -1:
        return "-" + s
    tex = latex(constant, form.names)
    return (tex if constant.is_Mul or constant.is_Symbol or constant.is_Number or constant.is_Pow else paren(constant, form.names)) + " " + s


def values_at(form: SumForm, point: Mapping[sympy.Symbol, sympy.Expr]) -> list[dict[sympy.Symbol, sympy.Expr]]:
    """For each data point i, the value of every element symbol and element-wise intermediate."""
    rows = []
    for k in range(form.n):
        subs: dict[sympy.Symbol, sympy.Expr] = dict(point)
        subs.update(form.scalars)
        subs[form.count] = sympy.Integer(form.n)
        for s, values in form.elements.items():
            subs[s] = values[k]
        for s, e in form.lets:
            subs[s] = exact_value(e, subs)
        rows.append(subs)
    return rows


def worked_value(form: SumForm, d: SumDerivative, point: Mapping[sympy.Symbol, sympy.Expr]) -> tuple[str, sympy.Expr]:
    """``-\\frac{2}{4}(0.6 + 1.4 + ...) = -4`` at a point, and the value."""
    rows = values_at(form, point)
    base = rows[0]
    pieces, total = [], sympy.S.Zero
    for constant, summand in d.factors:
        c = exact_value(constant, base)
        terms = [exact_value(summand, r) for r in rows]
        total += c * sympy.Add(*terms)
        listing = ""
        for t in terms[:MAX_TERMS_SHOWN]:
            tex = number_latex(t)
            listing += (tex if not listing else (" - " + tex[1:].strip() if tex.startswith("-") else " + " + tex))
        listing += r" + \dots" if len(terms) > MAX_TERMS_SHOWN else ""
        pieces.append((number_latex(c) + r" \cdot " if c != 1 else "") + r"\left(" + listing + r"\right)")
    return " + ".join(pieces), exact_value(total, {})


def sum_markdown(form: SumForm, d: SumDerivative, f_tex: str = "f") -> str:
    """The derivative by one variable, general term once, ending in the short form and its value."""
    names = dict(form.names)
    names[sympy.Symbol("t_i", real=True)] = "t_{i}"
    v = names[d.var]
    lines = []
    for (symbol, term, mean), outer, c, (constant, summand) in zip(form.sums, d.outer, d.chains, d.factors):
        term_tex = latex(term, names)
        lines.append(
            "Sum rule: differentiate the general term " + inline("t_{i} = " + term_tex) + " once; "
            + inline(partial_tex(f_tex, v) + " = " + latex(outer, names) + r"\sum_{i=1}^{" + latex(form.count, names)
                     + "} " + partial_tex("t_{i}", v))
            + "."
        )
        if c.paths:
            lines.append("")
            lines.extend(local_lines([c], names))
            symbolic = " + ".join(
                r"\,".join(partial_tex(names[ch], names[p]) for p, ch in reversed(list(zip(path, path[1:]))))
                for path in c.paths
            )
            lines.append("")
            lines.append(display(partial_tex("t_{i}", v) + " = " + symbolic + " = " + latex(c.in_lets, names)))
    total = " + ".join(_sum_tex(form, k, s) for k, s in d.factors)
    lines.append("")
    lines.append("So")
    lines.append("")
    lines.append(display(partial_tex(f_tex, v) + " = " + total))
    return "\n".join(lines)


def claim_form(form: SumForm, text: str) -> str | None:
    """A claim's text in general-term form (``sum(2*(ys - yp))/N`` as ``\\frac{1}{N} Σ 2(ys_i - yp_i)``)."""
    bound: dict[str, object] = {}
    for var in form.case.variables:
        bound[var.name] = var.symbols[0]
    for s in (*form.elements, *form.scalars, *(s for s, _ in form.lets)):
        bound[s.name[:-2] if s.name.endswith("_i") else s.name] = s
    elementwise = {s.name[:-2] for s in (*form.elements, *(s for s, _ in form.lets)) if s.name.endswith("_i")}
    try:
        f, sums = _with_sums(text, bound, elementwise, form.count, set(bound))
    except (DerivcheckError, SyntaxError, ValueError):
        return None
    return _general_tex(form, f, sums)


def _general_tex(form: SumForm, f: sympy.Expr, sums) -> str:
    marks = {symbol: sympy.Symbol("SIGMA" + symbol.name) for symbol, _, _ in sums}
    names = dict(form.names)
    parts = {}
    for (symbol, term, mean) in sums:
        constant, summand = sympy.factor_terms(term).as_independent(*_element_symbols(form), as_Add=False)
        parts[symbol] = ((1 / form.count if mean else 1) * constant, summand)
        names[marks[symbol]] = _sum_tex(form, *parts[symbol])
    if len(sums) == 1:
        (symbol, _, _), = sums
        coefficient, rest = f.as_independent(symbol, as_Add=False)
        if rest == symbol:  # c · Σ: one constant in front of the sum, as a teacher writes it
            return _sum_tex(form, sympy.factor_terms(coefficient * parts[symbol][0]), parts[symbol][1])
    return latex(f.xreplace(marks), names)


def _element_symbols(form: SumForm) -> set[sympy.Symbol]:
    return set(form.elements) | {s for s, _ in form.lets if s.name.endswith("_i")}


def general_form_tex(form: SumForm, f_tex: str = "f") -> str:
    """``f = \\frac{1}{N}\\sum_i (ys_i - yp_i)^2, yp_i = w xs_i + b`` for the problem statement."""
    lines = [f"{f_tex} = {_general_tex(form, form.f, form.sums)}"]
    lines.extend(f"{form.names[s]} = {latex(e, form.names)}" for s, e in form.lets)
    return r",\quad ".join(lines)


__all__ = ["SumDerivative", "SumForm", "claim_form", "general_form_tex", "sum_derivative", "sum_markdown", "summed_form", "worked_value"]
