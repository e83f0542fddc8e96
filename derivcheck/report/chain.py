"""Derivatives that keep the case's structure: the chain rule through its named intermediates.

A case that names intermediates (``let = { v = "b*c", u = "a + v" }``) is differentiated the way
the tutorial's graph does it: each node by its parents (the local derivatives, each naming its
rule), then the total derivative as the sum over paths from the variable to the output of the
products of local derivatives, ``df/db = ∂f/∂u · ∂u/∂v · ∂v/∂b``. The result is kept in terms of
the intermediates (the form claims are written in), and also given in the variables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import sympy

from derivcheck.language.registry import Rule
from derivcheck.report.mathtext import display, inline, latex, paren
from derivcheck.report.steps import TITLES, derive, tidy

#: more paths than this from one variable to the output: the chain is not written path by path
MAX_PATHS = 4
#: more local derivatives than this: the graph is too big to explain edge by edge
MAX_LOCALS = 14


@dataclass(frozen=True)
class Local:
    """``∂child/∂parent``, the rule that gives it, and the substitution of a chain rule."""

    child: sympy.Symbol
    parent: sympy.Symbol
    expr: sympy.Expr
    rule: str  # the rules used, in order of first use, joined by ", "
    substitution: tuple[tuple[sympy.Symbol, sympy.Expr], ...] = ()
    factors: tuple[sympy.Expr, ...] = ()  # the chain rule's outer and inner derivatives


@dataclass(frozen=True)
class Chain:
    """d out / d var through the intermediates: its paths, local derivatives and result."""

    out: sympy.Symbol
    var: sympy.Symbol
    paths: tuple[tuple[sympy.Symbol, ...], ...]  # each from var to out
    locals: Mapping[tuple[sympy.Symbol, sympy.Symbol], Local]
    in_lets: sympy.Expr  # the sum of path products, in terms of the intermediates
    result: sympy.Expr  # in terms of the variables only


def chain(
    lets: Sequence[tuple[sympy.Symbol, sympy.Expr]],
    output: sympy.Expr,
    var: sympy.Symbol,
    *,
    out: sympy.Symbol | None = None,
) -> Chain | None:
    """The chain rule for ``d output / d var`` through ``lets``, or None when it has too many paths.

    Examples
    --------
    >>> import sympy
    >>> a, b, c, u, v = sympy.symbols("a b c u v", real=True)
    >>> d = chain([(v, b * c), (u, a + v)], 3 * u, b)
    >>> [[s.name for s in p] for p in d.paths], d.in_lets, d.result
    ([['b', 'v', 'u', 'f']], 3*c, 3*c)
    """
    defs = dict(lets)
    output = sympy.sympify(output)
    if isinstance(output, sympy.Symbol) and output in defs:
        out = output
    else:
        out = out or sympy.Symbol("f", real=True)
        defs[out] = output
    depends: dict[sympy.Symbol, bool] = {}

    def reaches(node: sympy.Symbol) -> bool:
        if node == var:
            return True
        if node not in defs:
            return False
        if node not in depends:
            depends[node] = any(reaches(s) for s in defs[node].free_symbols)
        return depends[node]

    def paths_from(node: sympy.Symbol) -> list[tuple[sympy.Symbol, ...]]:
        if node == var:
            return [(var,)]
        found = []
        for parent in sorted(defs[node].free_symbols, key=lambda s: s.name):
            if reaches(parent):
                found.extend((*p, node) for p in paths_from(parent))
        return found

    paths = paths_from(out) if reaches(out) else []
    if len(paths) > MAX_PATHS:
        return None
    locals_: dict[tuple[sympy.Symbol, sympy.Symbol], Local] = {}
    for path in paths:
        for parent, child in zip(path, path[1:]):
            if (child, parent) not in locals_:
                locals_[(child, parent)] = _local(defs[child], child, parent)
    rank = {s: i for i, s in enumerate(reversed(list(defs)))}
    locals_ = dict(sorted(locals_.items(), key=lambda kv: (rank.get(kv[0][0], -1), kv[0][1].name)))
    total = sympy.Add(*(sympy.Mul(*(locals_[(c, p)].expr for p, c in zip(path, path[1:]))) for path in paths))
    in_lets = tidy(total)
    result = tidy(_substitute(total, defs, out))
    return Chain(out, var, tuple(paths), locals_, in_lets, result)


def _local(expr: sympy.Expr, child: sympy.Symbol, parent: sympy.Symbol) -> Local:
    d = derive(expr, parent)
    step = d.root
    value = tidy(sympy.diff(expr, parent))
    rules = [r for r in d.rules if r not in (Rule.CONSTANT, Rule.VARIABLE)] or [step.rule]
    if step.rule != Rule.CHAIN or len(step.substitution) != 1:
        return Local(child, parent, value, ", ".join(rules))
    back = dict(step.substitution)
    outer, inner = step.children[0].result.xreplace(back), step.children[1].result
    return Local(child, parent, value, Rule.CHAIN, step.substitution, (tidy(outer), inner))


def _substitute(expr: sympy.Expr, defs: Mapping[sympy.Symbol, sympy.Expr], out: sympy.Symbol) -> sympy.Expr:
    """Replace intermediates by their definitions until only variables remain."""
    lets = {s: e for s, e in defs.items() if s != out}
    for _ in range(len(lets) + 1):
        if not expr.free_symbols & lets.keys():
            break
        expr = expr.xreplace(lets)
    return expr


def partial_tex(top: str, bottom: str, *, total: bool = False) -> str:
    """``\\frac{\\partial top}{\\partial bottom}``, or with ``d`` for a total derivative."""
    d = "d" if total else r"\partial "
    return rf"\frac{{{d}{top}}}{{{d}{bottom}}}"


def local_lines(chains: Sequence[Chain], names: Mapping[sympy.Symbol, str]) -> list[str]:
    """One bullet per local derivative used by ``chains``, naming its rule."""
    seen: dict[tuple[sympy.Symbol, sympy.Symbol], Local] = {}
    for c in chains:
        for key, local in c.locals.items():
            seen.setdefault(key, local)
    lines = []
    for local in seen.values():
        names_ = [TITLES[r].lower().removesuffix(" rule") for r in local.rule.split(", ")]
        rule = (" and ".join(names_) if len(names_) <= 2 else ", ".join(names_[:-1]) + " and " + names_[-1])
        rule += " rules" if len(names_) > 1 else (" rule" if TITLES[local.rule.split(", ")[0]].endswith("rule") else "")
        if local.substitution:
            rule += " with " + ", ".join(inline(f"{latex(u, names)} = {latex(g, names)}") for u, g in local.substitution)
        tex = partial_tex(names[local.child], names[local.parent]) + " = "
        if local.factors and local.factors[1] != 1:
            tex += r" \cdot ".join(paren(f, names) for f in local.factors) + " = "
        tex += latex(local.expr, names)
        lines.append(f"- {inline(tex)} ({rule})")
    return lines


def chain_tex(c: Chain, names: Mapping[sympy.Symbol, str], out_tex: str) -> str:
    """``\\frac{df}{db} &= ∂f/∂u ∂u/∂v ∂v/∂b = 3 · 1 · c = 3c`` (one line of an aligned block)."""
    lhs = partial_tex(out_tex, names[c.var], total=True)
    if not c.paths:
        return lhs + " &= 0"
    symbolic, values = [], []
    for path in c.paths:
        edges = list(zip(path, path[1:]))
        symbolic.append(r"\,".join(partial_tex(names[ch], names[p]) for p, ch in reversed(edges)))
        values.append(r" \cdot ".join(paren(c.locals[(ch, p)].expr, names) for p, ch in reversed(edges)))
    rhs = [" + ".join(symbolic)]
    product = " + ".join(values)
    if product not in rhs:
        rhs.append(product)
    final = latex(c.in_lets, names)
    if final not in rhs:
        rhs.append(final)
    if c.result != c.in_lets:
        rhs.append(latex(c.result, names))
    return lhs + " &= " + " = ".join(rhs)


def chains_markdown(chains: Sequence[Chain], names: Mapping[sympy.Symbol, str], out_tex: str) -> str:
    """The local derivatives, then every total derivative as a sum over paths (one aligned block)."""
    parts = [
        "Local derivatives (each node by its parents, the other names held constant):",
        "",
        *local_lines(chains, names),
        "",
        "Chain rule: the derivative by a variable is the sum over the paths from it to "
        f"{inline(out_tex)} of the products of the local derivatives along each path:",
        "",
        display(r"\begin{aligned} " + r" \\ ".join(chain_tex(c, names, out_tex) for c in chains) + r" \end{aligned}"),
    ]
    return "\n".join(parts)


__all__ = ["Chain", "Local", "chain", "chain_tex", "chains_markdown", "local_lines", "partial_tex"]
