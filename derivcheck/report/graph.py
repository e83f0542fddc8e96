"""Computational graphs: forward values on the nodes, local partials on the edges, the backward pass.

:func:`graph` builds the graph from ``let`` intermediates (one node per intermediate) or, without
them, from the expression tree (one node per distinct non-leaf sub-expression, so a shared
sub-expression is one node with several children). :func:`mermaid` draws it as a mermaid
flowchart with plain Unicode labels; :func:`backward_markdown` writes the backward pass line by
line: adjoints in reverse topological order, and the sum over paths where an input reaches the
output more than once.

Values are exact (SymPy numbers) and follow torch's conventions at kinks: relu'(0) = 0,
|x|'(0) = 0, and max/min split a tie evenly.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import sympy
from sympy import Function, Heaviside

from derivcheck.language.functions import relu
from derivcheck.report.mathtext import (
    bar_tex,
    inline,
    latex,
    mermaid_text,
    number_latex,
    number_text,
    plain,
    symbol_latex,
)

INPUT, INTERMEDIATE, OUTPUT = "input", "intermediate", "output"

#: Longest local-partial text written on a mermaid edge; longer ones show only the value.
EDGE_TEXT_MAX = 24
#: inputs with at least this many paths to the output get their sum over paths written out
PATH_SUM_FROM = 3
#: graphs at least this many nodes deep are drawn top-down
DEEP = 5
#: Most paths listed one by one for an input that reaches the output more than once.
PATHS_SHOWN = 6


@dataclass(frozen=True)
class Node:
    """One node: an input, a ``let`` intermediate or sub-expression, or the output."""

    name: str
    symbol: sympy.Symbol
    local: sympy.Expr | None  # in terms of the parents' symbols; None for an input
    parents: tuple[str, ...]
    value: sympy.Expr  # exact forward value at the point
    kind: str


@dataclass(frozen=True)
class Edge:
    """``parent -> child``, labelled with the local partial d child / d parent."""

    parent: str
    child: str
    partial: sympy.Expr  # in terms of node symbols
    value: sympy.Expr
    kink: bool = False  # the local derivative does not exist here; ``value`` is torch's choice


@dataclass(frozen=True)
class Adjoint:
    """One line of the backward pass: d out / d node as a sum over the node's children."""

    node: str
    terms: tuple[tuple[str, sympy.Expr, sympy.Expr], ...]  # (child, d out/d child, d child/d node)
    value: sympy.Expr
    paths: int  # how many paths lead from this node to the output


@dataclass(frozen=True)
class Graph:
    """Nodes in topological order (inputs first), edges, and the backward pass (output first)."""

    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    output: str
    backward: tuple[Adjoint, ...]

    def node(self, name: str) -> Node:
        """The node called ``name``."""
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    def adjoint(self, name: str) -> sympy.Expr:
        """d out / d node for the node called ``name``."""
        for line in self.backward:
            if line.node == name:
                return line.value
        raise KeyError(name)

    @property
    def gradient(self) -> dict[str, sympy.Expr]:
        """d out / d input for every input, in input order."""
        return {n.name: self.adjoint(n.name) for n in self.nodes if n.kind == INPUT}

    def children(self, name: str) -> tuple[str, ...]:
        return tuple(e.child for e in self.edges if e.parent == name)

    def paths(self, start: str) -> list[tuple[str, ...]]:
        """Every path from ``start`` to the output, as node names."""
        if start == self.output:
            return [(start,)]
        return [(start, *rest) for child in self.children(start) for rest in self.paths(child)]


class _relu_torch(Function):
    nargs = 1

    def fdiff(self, argindex: int = 1) -> sympy.Expr:
        return Heaviside(self.args[0], 0)


def local_partial(local: sympy.Expr, parent: sympy.Symbol) -> sympy.Expr:
    """d local / d parent, with relu'(0) = 0 as torch takes it (``Heaviside(u, 0)``).

    Examples
    --------
    >>> import sympy
    >>> u = sympy.Symbol("u", real=True)
    >>> local_partial(relu(u), u).subs(u, 0)
    0
    """
    return sympy.diff(local.replace(relu, _relu_torch), parent).replace(_relu_torch, relu)


def graph(
    lets: Sequence[tuple[str | sympy.Symbol, sympy.Expr]],
    output: sympy.Expr,
    inputs: Sequence[sympy.Symbol],
    point: Mapping[sympy.Symbol, sympy.Expr],
    *,
    output_name: str = "f",
) -> Graph:
    """Build the computational graph of ``output`` and run the forward and backward passes.

    Parameters
    ----------
    lets : sequence of (name, expr)
        Intermediates in dependency order; each expr uses inputs and earlier let symbols
        (``sympy.Symbol(name, real=True)``). Empty: the graph is the expression tree of ``output``.
    output : sympy.Expr
        The scalar output, in terms of inputs and let symbols.
    inputs : sequence of sympy.Symbol
        The input variables, in display order.
    point : mapping
        Exact coordinates: input symbol -> SymPy number.
    output_name : str
        Name of the output node when ``output`` is not itself a let symbol.

    Examples
    --------
    >>> import sympy
    >>> a, b = sympy.symbols("a b", real=True)
    >>> e = sympy.Symbol("e", real=True)
    >>> g = graph([("e", a * b)], e + a, [a, b], {a: 2, b: -3})
    >>> g.gradient
    {'a': -2, 'b': 2}
    """
    inputs = list(inputs)
    output = sympy.sympify(output)
    taken = {s.name for s in inputs} | {str(name) for name, _ in lets}
    out_name = output_name if output_name not in taken else "out"
    if lets:
        specs = [(sympy.Symbol(str(n), real=True) if isinstance(n, str) else n, sympy.sympify(e)) for n, e in lets]
        if isinstance(output, sympy.Symbol) and any(s == output for s, _ in specs):
            out_symbol = output
        else:
            out_symbol = sympy.Symbol(out_name, real=True)
            specs.append((out_symbol, output))
    else:
        out_symbol = sympy.Symbol(out_name, real=True)
        specs = _decompose(output, _prefix(taken), out_symbol)
    specs = _reachable(specs, out_symbol)
    return _Builder(inputs, specs, out_symbol, point).build()


def graph_size(
    lets: Sequence[tuple[sympy.Symbol, sympy.Expr]], output: sympy.Expr, inputs: Sequence[sympy.Symbol]
) -> int:
    """How many nodes :func:`graph` draws for these lets: inputs, needed lets and the output.

    Examples
    --------
    >>> import sympy
    >>> x, h, unused = sympy.symbols("x h unused", real=True)
    >>> graph_size([(h, x**2), (unused, 3 * x)], h, [x])
    2
    """
    out = sympy.Symbol("__output__")  # case names cannot contain "__"
    specs = _reachable([*lets, (out, sympy.sympify(output))], out)
    is_let_output = isinstance(output, sympy.Symbol) and any(s == output for s, _ in lets)
    return len(inputs) + len(specs) - (1 if is_let_output else 0)


def _prefix(taken: set[str]) -> str:
    for prefix in ("v", "n", "t", "node"):
        if not any(name.startswith(prefix) for name in taken):
            return prefix
    return "node_"


def _decompose(expr: sympy.Expr, prefix: str, root: sympy.Symbol) -> list[tuple[sympy.Symbol, sympy.Expr]]:
    """One (symbol, local expression) per distinct non-leaf sub-expression, children first.

    The whole expression is the last node, named ``root``; a leaf output is ``root = leaf``.
    """
    specs: list[tuple[sympy.Symbol, sympy.Expr]] = []
    memo: dict[sympy.Expr, sympy.Symbol] = {}

    def ref(e: sympy.Expr, top: bool = False) -> sympy.Expr:
        if (e.is_Symbol or e.is_number) and not top:
            return e
        if e.is_Mul and len(e.args) == 2 and e.args[0].is_Number and not top:
            return e.args[0] * ref(e.args[1])  # -y, 2x: the coefficient stays in the parent
        if e in memo:
            return memo[e]
        if e.is_Symbol or e.is_number or isinstance(e, sympy.Piecewise):  # a where() is one node
            local = e
        elif e.is_Mul:
            local = e.func(*(sympy.Pow(ref(a.base), a.exp) if _is_divisor(a) else ref(a) for a in e.args))
        else:
            local = e.func(*(ref(a) for a in e.args))
        symbol = root if top else sympy.Symbol(f"{prefix}{len(specs) + 1}", real=True)
        memo[e] = symbol
        specs.append((symbol, local))
        return symbol

    ref(expr, top=True)
    return specs


def _is_divisor(e: sympy.Expr) -> bool:
    return bool(e.is_Pow and e.exp.is_Integer and e.exp.is_negative)


def _reachable(specs: list[tuple[sympy.Symbol, sympy.Expr]], out: sympy.Symbol) -> list[tuple[sympy.Symbol, sympy.Expr]]:
    """Drop intermediates the output does not depend on."""
    defined = {s: e for s, e in specs}
    needed = {out}
    for symbol, local in reversed(specs):
        if symbol in needed:
            needed |= {s for s in local.free_symbols if s in defined}
    return [(s, e) for s, e in specs if s in needed]


class _Builder:
    def __init__(
        self,
        inputs: list[sympy.Symbol],
        specs: list[tuple[sympy.Symbol, sympy.Expr]],
        out: sympy.Symbol,
        point: Mapping[sympy.Symbol, sympy.Expr],
    ) -> None:
        self.inputs, self.specs, self.out = inputs, specs, out
        self.point = {s: sympy.sympify(v) for s, v in point.items()}

    def build(self) -> Graph:
        values: dict[sympy.Symbol, sympy.Expr] = {s: self.point[s] for s in self.inputs}
        order = list(self.inputs) + [s for s, _ in self.specs]
        position = {s: i for i, s in enumerate(order)}
        nodes = [Node(s.name, s, None, (), values[s], INPUT) for s in self.inputs]
        edges: list[Edge] = []
        for symbol, local in self.specs:
            parents = sorted((s for s in local.free_symbols if s in position), key=position.__getitem__)
            values[symbol] = _settle(local.subs({p: values[p] for p in parents}))
            kind = OUTPUT if symbol == self.out else INTERMEDIATE
            nodes.append(Node(symbol.name, symbol, local, tuple(p.name for p in parents), values[symbol], kind))
            for p in parents:
                partial = local_partial(local, p)
                at = {q: values[q] for q in parents}
                value = _settle(partial.subs(at))
                steps = partial.atoms(Heaviside, sympy.sign, sympy.DiracDelta)
                kink = any(sympy.sympify(a.args[0]).xreplace(at) == 0 for a in steps)
                edges.append(Edge(p.name, symbol.name, partial, value, kink))
        return Graph(tuple(nodes), tuple(edges), self.out.name, self._backward(nodes, edges))

    def _backward(self, nodes: list[Node], edges: list[Edge]) -> tuple[Adjoint, ...]:
        adjoint: dict[str, sympy.Expr] = {}
        paths: dict[str, int] = {}
        lines = []
        for node in reversed(nodes):
            if node.name == self.out.name:
                adjoint[node.name], paths[node.name] = sympy.S.One, 1
                lines.append(Adjoint(node.name, (), sympy.S.One, 1))
                continue
            terms = tuple(
                (e.child, adjoint[e.child], e.value) for e in edges if e.parent == node.name
            )
            total = _settle(sympy.Add(*(a * v for _, a, v in terms)))
            adjoint[node.name] = total
            paths[node.name] = sum(paths[c] for c, _, _ in terms)
            lines.append(Adjoint(node.name, terms, total, paths[node.name]))
        return tuple(lines)


def _settle(value: sympy.Expr) -> sympy.Expr:
    """Keep exact values exact while they stay small; else 30 significant digits."""
    value = sympy.sympify(value)
    if value.is_Rational or sympy.count_ops(value) <= 40:
        return value
    return value.evalf(30)


# ----------------------------------------------------------------------------------------------
# rendering


def mermaid(g: Graph) -> str:
    """The graph as a mermaid flowchart: quoted Unicode labels, forward values on nodes.

    Examples
    --------
    >>> import sympy
    >>> x, y = sympy.symbols("x y", real=True)
    >>> print(mermaid(graph([], x * y, [x, y], {x: 2, y: 3})))
    flowchart LR
      n0("x = 2")
      n1("y = 3")
      n2[["f = x·y<br>= 6"]]
      n0 -->|"∂f/∂x = y = 3"| n2
      n1 -->|"∂f/∂y = x = 2"| n2
    """
    ids = {node.name: f"n{i}" for i, node in enumerate(g.nodes)}
    lines = [f"flowchart {direction(g)}"]
    for node in g.nodes:
        value = mermaid_text(number_text(node.value))
        if node.kind == INPUT:
            lines.append(f'  {ids[node.name]}("{mermaid_text(node.name)} = {value}")')
            continue
        label = mermaid_text(f"{node.name} = {plain(node.local)}") + "<br>= " + value
        if node.kind == OUTPUT:
            lines.append(f'  {ids[node.name]}[["{label}"]]')
        else:
            lines.append(f'  {ids[node.name]}["{label}"]')
    for e in g.edges:
        text = plain(e.partial)
        head = f"∂{e.child}/∂{e.parent}"
        value = number_text(e.value)
        label = f"{head} = {text} = {value}" if len(text) <= EDGE_TEXT_MAX and text != value else f"{head} = {value}"
        if e.kink:
            label = f"{head}: none at the kink (torch uses {value})"
        lines.append(f'  {ids[e.parent]} -->|"{mermaid_text(label)}"| {ids[e.child]}')
    return "\n".join(lines)


def direction(g: Graph) -> str:
    """``LR`` for shallow graphs; ``TD`` for long chains, which left to right outgrow a page column."""
    level: dict[str, int] = {}
    for node in g.nodes:  # topological order
        level[node.name] = 1 + max((level[p] for p in node.parents), default=-1)
    depth = max(level.values(), default=0) + 1
    breadth = max((list(level.values()).count(k) for k in set(level.values())), default=1)
    return "TD" if depth >= DEEP and breadth <= 4 else "LR"


def _name_tex(name: str) -> str:
    return symbol_latex(sympy.Symbol(name))


def _d(out: str, node: str) -> str:
    return r"\frac{\partial " + _name_tex(out) + r"}{\partial " + _name_tex(node) + "}"


def forward_markdown(g: Graph) -> str:
    """The forward pass as a numbered list: each node's expression and value.

    Examples
    --------
    >>> import sympy
    >>> x = sympy.Symbol("x", real=True)
    >>> print(forward_markdown(graph([], x**2, [x], {x: 3})))
    1. $`f = x^{2} = 9`$
    """
    lines = []
    for node in g.nodes:
        if node.kind == INPUT:
            continue
        names = {sympy.Symbol(p, real=True): _name_tex(p) for p in node.parents}
        lines.append(
            f"{len(lines) + 1}. "
            + inline(f"{_name_tex(node.name)} = {latex(node.local, names)} = {number_latex(node.value)}")
        )
    return "\n".join(lines)


def _bar(name: str) -> str:
    """The adjoint of a node, d out / d node, written with a bar: ``\\bar{u}``."""
    return bar_tex(name)


def backward_markdown(g: Graph) -> str:
    """The backward pass line by line, in reverse topological order, with sums over paths.

    Each node's adjoint ``ū = d out / d u`` (a total derivative) is the sum over its children c of
    ``c̄ · ∂c/∂u`` (a local partial).

    Examples
    --------
    >>> import sympy
    >>> x = sympy.Symbol("x", real=True)
    >>> print(backward_markdown(graph([], x**2, [x], {x: 3})).splitlines()[1])
    2. $`\\bar{x} = \\bar{f}\\,\\frac{\\partial f}{\\partial x} = 1 \\cdot 6 = 6`$
    """
    out = g.output
    lines = []
    for i, line in enumerate(g.backward, start=1):
        if line.node == out:
            lines.append(f"{i}. " + inline(_bar(out) + " = 1") + " (the output)")
            continue
        if not line.terms:
            lines.append(f"{i}. " + inline(_bar(line.node) + " = 0") + " (does not reach the output)")
            continue
        symbolic = " + ".join(f"{_bar(c)}\\,{_d(c, line.node)}" for c, _, _ in line.terms)
        numeric = " + ".join(
            f"{_num_paren(a)} \\cdot {_num_paren(v)}" for _, a, v in line.terms
        )
        text = f"{i}. " + inline(f"{_bar(line.node)} = {symbolic} = {numeric} = {number_latex(line.value)}")
        if any(e.kink for e in g.edges if e.parent == line.node):
            text += " — at a kink, with torch's choice of the local derivative (none exists)"
        if line.paths > 1:
            text += f" — {line.node} reaches {out} along {line.paths} paths"
        lines.append(text)
    lines.extend(_path_sums(g))
    return "\n".join(lines)


def _num_paren(value: sympy.Expr) -> str:
    tex = number_latex(value)
    return r"\left(" + tex + r"\right)" if tex.startswith("-") else tex


def _path_sums(g: Graph) -> list[str]:
    """For each input with several paths to the output: the sum over paths of edge products."""
    edge_value = {(e.parent, e.child): e.value for e in g.edges}
    out = []
    for node in g.nodes:
        if node.kind != INPUT:
            continue
        paths = g.paths(node.name)
        if len(paths) < PATH_SUM_FROM:
            continue
        shown = paths[:PATHS_SHOWN]
        terms = []
        for path in shown:
            factors = [edge_value[pair] for pair in itertools.pairwise(path)]
            terms.append(" \\cdot ".join(_num_paren(f) for f in factors))
        more = f" + \\dots ({len(paths) - len(shown)} more)" if len(paths) > len(shown) else ""
        listing = "; ".join(" → ".join(p) for p in shown)
        out.append("")
        out.append(
            f"Sum over the {len(paths)} paths from {node.name} to {g.output} ({listing}): "
            + inline(f"{_bar(node.name)} = " + " + ".join(terms) + more + f" = {number_latex(g.adjoint(node.name))}")
        )
    return out


def graph_markdown(g: Graph) -> str:
    """Mermaid flowchart, forward pass and backward pass, ready for a report section."""
    parts = [
        "```mermaid\n" + mermaid(g) + "\n```",
        "Backward pass (adjoints, output first):\n\n" + backward_markdown(g),
    ]
    return "\n\n".join(parts)
