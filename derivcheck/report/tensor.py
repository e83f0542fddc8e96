"""Tensor-level graphs and the backward pass in matrix form, for cases over arrays.

A two-layer network is six nodes (x, W1, h_pre, h, y_pred, loss), not 31 scalars. For a scalar
function of array variables, each named intermediate is one node with its shape; the backward
pass is written in matrix form from the case's own text, one rule per operation as a teacher
states it: for ``C = A @ B``, ``Ā = C̄ Bᵀ`` and ``B̄ = Aᵀ C̄``; for an element-wise
``h = relu(z)``, ``z̄ = h̄ ⊙ 1[z > 0]``; for a sum, the adjoint spreads to every entry. ``ū`` is
the adjoint d f / d u, in the shape of u. The values of every adjoint come from the exact
scalar backward pass (:mod:`derivcheck.report.graph`), so the matrices shown are exact; the
rules only name them. An operation without a rule here leaves the case to the other sections.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import sympy

from derivcheck.report.graph import graph
from derivcheck.report.mathtext import bar_tex, display, latex, mermaid_text, symbol_latex, value_tex
from derivcheck.report.worked import CaseMath

#: element-wise functions and their derivative, as LaTeX of the argument's TeX
_ELEMENTWISE = {
    "relu": lambda a: rf"\mathbb{{1}}[{a} > 0]",
    "tanh": lambda a: rf"\left(1 - \tanh^{{2}}({a})\right)",
    "sigmoid": lambda a: rf"\sigma({a}) \odot \left(1 - \sigma({a})\right)",
    "exp": lambda a: rf"\exp({a})",
    "log": lambda a: rf"\frac{{1}}{{{a}}}",
    "sin": lambda a: rf"\cos({a})",
    "cos": lambda a: rf"\left(-\sin({a})\right)",
}
#: longest backward rule written on a graph edge
EDGE_LABEL_MAX = 30
#: most entries of one matrix written out
MAX_ENTRIES = 12


@dataclass(frozen=True)
class TensorNode:
    """A variable, a datum, an intermediate or the output, with its shape and its text."""

    name: str
    shape: tuple[int, ...]
    kind: str  # "variable", "data", "intermediate", "output"
    text: str = ""


@dataclass(frozen=True)
class Backward:
    """One line of the matrix-form backward pass: ``parent̄ += formula`` from one child."""

    parent: str
    child: str
    tex: str


class Unsupported(Exception):
    """An operation this module has no matrix rule for."""


def tensor_section(cm: CaseMath) -> str | None:
    """The tensor-level graph, the backward pass in matrix form and its values, or None."""
    case = cm.case
    if not case.scalar or not isinstance(case.f_text, str):
        return None
    shapes = _shapes(cm)
    if not any(shapes.get(v.name) for v in case.variables):
        return None  # scalar variables: the sums and chains of the derivation section say it better
    texts = dict(case.lets)
    needed = _needed(case.f_text, texts)
    order = [n for n, _ in case.lets if n in needed]
    try:
        rules = _backward_rules(case.f_text, order, texts, {v.name for v in case.variables}, shapes)
    except (Unsupported, SyntaxError):
        return None
    nodes = _nodes(cm, shapes, order, needed)
    g = graph(cm.lets, cm.output, cm.symbols, cm.points[0])
    parts = [
        "The bar is the adjoint: " r"$`\bar{u} = \partial f/\partial u`$, an array the shape of u."
    ]
    if order:
        parts.append("Each intermediate is one node; its shape is in brackets.")
        parts.append("```mermaid\n" + _mermaid(nodes, rules) + "\n```")
    parts += [
        "Backward pass in matrix form (⊙ multiplies entry by entry):",
        display(r"\begin{aligned} " + r" \\ ".join(_lines(rules)) + r" \end{aligned}"),
        "Values at point 1 (decimals to 6 digits):",
    ]
    values = []
    for name in [*reversed(order), *(v.name for v in case.variables)]:
        matrix = _adjoint_values(g, name, shapes.get(name, ()))
        if matrix is not None:
            values.append(f"{bar_tex(name)} = {matrix}")
    parts.append(display(r"\begin{aligned} " + r" \\ ".join(v.replace(" = ", " &= ", 1) for v in values) + r" \end{aligned}"))
    return "\n\n".join(parts)


def _shapes(cm: CaseMath) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {v.name: v.shape for v in cm.case.variables}
    for name, value in cm.case.data.items():
        shapes[name] = tuple(np.shape(value))
    for symbol, _ in cm.lets:
        base, _, index = symbol.name.partition("[")
        if not index:
            shapes[base] = ()
            continue
        at = tuple(int(k) + 1 for k in index.rstrip("]").split(","))
        old = shapes.get(base, tuple(0 for _ in at))
        shapes[base] = tuple(max(a, b) for a, b in zip(old, at))
    return shapes


def _names(text: str) -> set[str]:
    return {n.id for n in ast.walk(ast.parse(text.replace("^", "**"), mode="eval")) if isinstance(n, ast.Name)}


def _needed(f_text: str, lets: Mapping[str, str]) -> set[str]:
    needed: set[str] = set()
    todo = list(_names(f_text))
    while todo:
        name = todo.pop()
        if name in needed:
            continue
        needed.add(name)
        if name in lets:
            todo.extend(_names(lets[name]))
    return needed


def _nodes(cm: CaseMath, shapes, order, needed) -> list[TensorNode]:
    nodes = [TensorNode(v.name, v.shape, "variable") for v in cm.case.variables if v.name in needed]
    nodes += [TensorNode(n, shapes.get(n, ()), "data") for n in cm.case.data if n in needed and shapes.get(n)]
    lets = dict(cm.case.lets)
    nodes += [TensorNode(n, shapes.get(n, ()), "intermediate", lets[n]) for n in order]
    nodes.append(TensorNode("f", (), "output", cm.case.f_text))
    return nodes


# ----------------------------------------------------------------------------------------------
# matrix rules from the text


def _tex_name(name: str) -> str:
    return symbol_latex(sympy.Symbol(name))


def _tex(node: ast.AST) -> str:
    """LaTeX of a case-language expression (the subset the rules accept)."""
    if isinstance(node, ast.Name):
        return _tex_name(node.id)
    if isinstance(node, ast.Constant):
        return str(node.value)
    if isinstance(node, ast.Attribute) and node.attr == "T":
        return _wrap(node.value) + "^{T}"
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return "-" + _wrap(node.operand)
    if isinstance(node, ast.BinOp):
        a, b = _tex(node.left), _tex(node.right)
        if isinstance(node.op, ast.MatMult):
            return _wrap(node.left) + " " + _wrap(node.right)
        if isinstance(node.op, ast.Add):
            return f"{a} + {b}"
        if isinstance(node.op, ast.Sub):
            return f"{a} - {_wrap(node.right) if isinstance(node.right, ast.BinOp) else b}"
        if isinstance(node.op, ast.Mult):
            both = _is_array_expr(node.left) and _is_array_expr(node.right)
            return _wrap(node.left) + (r" \odot " if both else " ") + _wrap(node.right)
        if isinstance(node.op, ast.Div):
            return rf"\frac{{{a}}}{{{b}}}"
        if isinstance(node.op, ast.Pow):
            return _wrap(node.left) + "^{" + b + "}"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        args = ", ".join(_tex(a) for a in node.args)
        if node.func.id == "sum":
            return r"\textstyle\sum " + _wrap(node.args[0])
        if node.func.id == "sigmoid":
            return rf"\sigma({args})"
        return rf"\operatorname{{{node.func.id}}}({args})"
    raise Unsupported(ast.unparse(node))


def _wrap(node: ast.AST) -> str:
    tex = _tex(node)
    return rf"\left({tex}\right)" if isinstance(node, (ast.BinOp, ast.UnaryOp)) else tex


def _is_array_expr(node: ast.AST) -> bool:
    return not isinstance(node, ast.Constant)


def _backward_rules(f_text: str, order: Sequence[str], lets: Mapping[str, str], variables: set[str],
                    shapes: Mapping[str, tuple[int, ...]]) -> list[Backward]:
    targets = set(order) | variables
    rules: list[Backward] = []
    for child, text in [("f", f_text), *((n, lets[n]) for n in reversed(order))]:
        tree = ast.parse(text.replace("^", "**"), mode="eval").body
        seed = "" if child == "f" else bar_tex(child)
        walker = _Adjoints(targets, shapes)
        for parent, tex in walker.walk(tree, seed, sympy.S.One):
            rules.append(Backward(parent, child, tex))
    return rules


def _times(adjoint: str, factor: str) -> str:
    return factor if not adjoint else adjoint + r" \odot " + factor


class _Adjoints:
    """Reverse-mode rules over a case-language expression, in matrix notation.

    ``adjoint`` is the TeX of the array adjoint flowing in ('' for ones); ``scale`` a scalar
    SymPy factor (constants, scalar data, signs), written once in front at each leaf.
    """

    def __init__(self, targets: set[str], shapes: Mapping[str, tuple[int, ...]]) -> None:
        self.targets, self.shapes = targets, shapes

    def leaf(self, adjoint: str, scale: sympy.Expr) -> str:
        if scale == 1:
            return adjoint or "1"
        if not adjoint:
            return latex(scale)
        if scale == -1:
            return "-" + _group(adjoint)
        return latex(scale) + " " + _group(adjoint)

    def scalar(self, node: ast.AST) -> sympy.Expr | None:
        """The node as a scalar SymPy factor when it is a constant or scalar data, else None."""
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return sympy.nsimplify(node.value)
        if isinstance(node, ast.Name) and node.id not in self.targets and self.shapes.get(node.id, None) == ():
            return sympy.Symbol(node.id, real=True)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            inner = self.scalar(node.operand)
            return None if inner is None else -inner
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mult, ast.Div, ast.Add, ast.Sub)):
            a, b = self.scalar(node.left), self.scalar(node.right)
            if a is None or b is None:
                return None
            return {ast.Mult: a * b, ast.Div: a / b, ast.Add: a + b, ast.Sub: a - b}[type(node.op)]
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "sqrt" and len(node.args) == 1:
            inner = self.scalar(node.args[0])
            return None if inner is None else sympy.sqrt(inner)
        return None

    def size(self, node: ast.AST) -> int:
        sizes = [int(np.prod(self.shapes.get(n.id, ()) or (1,))) for n in ast.walk(node) if isinstance(n, ast.Name)]
        if not sizes:
            raise Unsupported("mean of a constant")
        return max(sizes)

    def walk(self, node: ast.AST, adjoint: str, scale: sympy.Expr) -> list[tuple[str, str]]:
        """(name, contribution to its adjoint) for every target ``node`` uses."""
        if isinstance(node, ast.Name):
            return [(node.id, self.leaf(adjoint, scale))] if node.id in self.targets else []
        if not _uses(node, self.targets):
            return []
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return self.walk(node.operand, adjoint, -scale)
        if isinstance(node, ast.Attribute) and node.attr == "T":
            return self.walk(node.value, _group(adjoint) + "^{T}" if adjoint else "", scale)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            return self.call(node.func.id, node.args, adjoint, scale)
        if isinstance(node, ast.BinOp):
            return self.binop(node, adjoint, scale)
        raise Unsupported(ast.unparse(node))

    def call(self, name: str, args: list[ast.AST], adjoint: str, scale: sympy.Expr) -> list[tuple[str, str]]:
        if name == "sum" and len(args) == 1:
            return self.walk(args[0], adjoint, scale)  # every entry gets the same adjoint
        if name == "mean" and len(args) == 1:
            return self.walk(args[0], adjoint, scale / self.size(args[0]))
        if name == "dot" and len(args) == 2:
            return self.walk(ast.BinOp(args[0], ast.Mult(), args[1]), adjoint, scale)
        if name in _ELEMENTWISE and len(args) == 1:
            return self.walk(args[0], _times(adjoint, _ELEMENTWISE[name](_tex(args[0]))), scale)
        raise Unsupported(name)

    def binop(self, node: ast.BinOp, adjoint: str, scale: sympy.Expr) -> list[tuple[str, str]]:
        a, b, op = node.left, node.right, node.op
        if isinstance(op, ast.MatMult):
            if not adjoint:
                raise Unsupported("a product of vectors to a scalar")  # transposes of 1-D arrays mislead
            g = _group(adjoint)
            return self.walk(a, g + " " + _wrap(b) + "^{T}", scale) + self.walk(b, _wrap(a) + "^{T} " + g, scale)
        if isinstance(op, (ast.Add, ast.Sub)):
            return self.walk(a, adjoint, scale) + self.walk(b, adjoint, -scale if isinstance(op, ast.Sub) else scale)
        if isinstance(op, ast.Mult):
            out = []
            for this, other in ((a, b), (b, a)):
                if not _uses(this, self.targets):
                    continue
                factor = self.scalar(other)
                if factor is not None:
                    out += self.walk(this, adjoint, scale * factor)
                else:
                    out += self.walk(this, _times(adjoint, _wrap(other)), scale)
            return out
        if isinstance(op, ast.Div):
            factor = self.scalar(b)
            if factor is not None:
                return self.walk(a, adjoint, scale / factor)
            if not _uses(b, self.targets):
                return self.walk(a, _times(adjoint, rf"\frac{{1}}{{{_tex(b)}}}"), scale)
        if isinstance(op, ast.Pow) and isinstance(b, ast.Constant) and isinstance(b.value, (int, float)):
            n = sympy.nsimplify(b.value)
            power = "" if n == 2 else "^{" + latex(n - 1) + "}"
            return self.walk(a, _times(adjoint, _wrap(a) + power), scale * n)
        raise Unsupported(ast.unparse(node))


def _uses(node: ast.AST, targets: set[str]) -> bool:
    return any(isinstance(n, ast.Name) and n.id in targets for n in ast.walk(node))


def _group(tex: str) -> str:
    if re.fullmatch(r"[\\\w{}]+", tex) or _one_group(tex):
        return tex
    return rf"\left({tex}\right)"


def _one_group(tex: str) -> bool:
    """Whether ``tex`` is one ``\\left( ... \\right)`` group (and nothing after it)."""
    if not (tex.startswith(r"\left(") and tex.endswith(r"\right)")):
        return False
    depth = 0
    for k in range(len(tex)):
        if tex.startswith(r"\left", k):
            depth += 1
        elif tex.startswith(r"\right", k):
            depth -= 1
            if depth == 0 and k + len(r"\right)") != len(tex):
                return False
    return True


def _lines(rules: Sequence[Backward]) -> list[str]:
    by_parent: dict[str, list[str]] = {}
    for rule in rules:
        by_parent.setdefault(rule.parent, []).append(rule.tex)
    return [bar_tex(p) + " &= " + " + ".join(t) for p, t in by_parent.items()]


def _mermaid(nodes: Sequence[TensorNode], rules: Sequence[Backward]) -> str:
    ids = {n.name: f"t{i}" for i, n in enumerate(nodes)}
    lines = ["flowchart TD"]  # a chain of layers with labelled edges outgrows a column left to right
    for n in nodes:
        shape = "×".join(map(str, n.shape)) if n.shape else "scalar"
        label = mermaid_text(f"{n.name} [{shape}]" + (f" = {n.text}" if n.text and len(n.text) <= 28 else ""))
        lines.append(f'  {ids[n.name]}[["{label}"]]' if n.kind == "output" else
                     (f'  {ids[n.name]}("{label}")' if n.kind in ("variable", "data") else f'  {ids[n.name]}["{label}"]'))
    drawn = set()
    labels = {(r.parent, r.child): _plain(r.tex) for r in rules}
    for n in nodes:
        if not n.text:
            continue
        for parent in sorted(_names(n.text)):
            if parent in ids and (parent, n.name) not in drawn:
                drawn.add((parent, n.name))
                label = labels.get((parent, n.name))
                if label and len(label) <= EDGE_LABEL_MAX:
                    text = mermaid_text(f"{_plain_bar(parent)} += {label}")
                    lines.append(f'  {ids[parent]} -->|"{text}"| {ids[n.name]}')
                else:
                    lines.append(f"  {ids[parent]} --> {ids[n.name]}")
    return "\n".join(lines)


def _plain_bar(name: str) -> str:
    return name[0] + "\u0304" + name[1:]


def _bar_text(m: re.Match) -> str:
    sub = m.group(2) or ""
    return m.group(1) + "\u0304" + (sub if sub.isdigit() or not sub else "_" + sub)


def _plain(tex: str) -> str:
    """A backward rule's TeX as plain Unicode for a mermaid edge: ``x^{T} \\bar{h}_{pre}`` -> ``xᵀ h̄_pre``."""
    text = re.sub(r"\\bar\{(\w+)\}(?:_\{(\w+)\})?", _bar_text, tex)
    text = re.sub(r"\\mathbb\{1\}", "1", text)
    text = re.sub(r"\\frac\{([^{}]*)\}\{([^{}]*)\}", r"(\1)/(\2)", text)
    text = re.sub(r"_\{(\d+)\}", r"\1", text)
    text = re.sub(r"_\{(\w+)\}", r"_\1", text)
    for a, b in (("^{T}", "ᵀ"), (r"\odot", "⊙"), (r"\left(", "("), (r"\right)", ")"), (r"\sigma", "σ"),
                 (r"\tanh", "tanh"), (r"\exp", "exp"), (r"\cos", "cos"), (r"\sin", "sin"), (r"\sqrt", "√")):
        text = text.replace(a, b)
    return None if "\\" in text or "{" in text else " ".join(text.split())


def _adjoint_values(g, name: str, shape: tuple[int, ...]) -> str | None:
    """The adjoint of ``name`` at the graph's point, as a LaTeX matrix in the node's shape."""
    if not shape:
        try:
            return value_tex(g.adjoint(name))
        except KeyError:
            return None
    entries = []
    for index in np.ndindex(shape):
        key = f"{name}[{','.join(map(str, index))}]"
        try:
            entries.append(g.adjoint(key))
        except KeyError:
            return None
    if len(entries) > MAX_ENTRIES * 3:
        return None
    grid = np.array(entries, dtype=object).reshape(shape if len(shape) == 2 else (1, -1) if len(shape) == 1 else (-1, 1))
    if len(shape) == 1:
        grid = grid.reshape(-1, 1)
    rows = [" & ".join(value_tex(v) for v in row) for row in grid]
    return r"\begin{bmatrix} " + r" \\ ".join(rows) + r" \end{bmatrix}"


__all__ = ["tensor_section"]
