"""The function as written: a small expression graph over the case's own text.

A student makes a mistake at a place in the text, not in SymPy's canonical form (where
``y - b`` is ``y + (-1)*b`` and a mean over four entries is four terms). So the search works on
the written tree: ``f`` and every ``let`` parsed with Python's ``ast`` (after the case language's
whitelisting parser accepted them, and never executed), each ``let`` one shared sub-graph, each
variable one shared leaf, each node keeping its text as written.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import sympy

from derivcheck.model import Case, Variable

#: the written operators and calls the differentiator knows; anything else: no diagnosis
UNARY = frozenset({
    "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh",
    "exp", "log", "sqrt", "abs", "erf", "sigmoid", "softplus", "relu", "heaviside",
})
BINARY = frozenset({"atan2", "max", "min"})
REDUCTIONS = frozenset({"sum", "mean", "norm", "logsumexp", "softmax"})
CONSTANTS = {"pi": sympy.pi, "E": sympy.E}


class Unsupported(Exception):
    """The text uses something the written-tree differentiator does not model."""


@dataclass
class Node:
    """One written operation: its kind, its operands (node ids) and its text."""

    id: int
    kind: str  # var const add sub mul div pow neg matmul dot call T index list
    children: tuple[int, ...] = ()
    text: str = ""
    where: str = "f"  # "f", "f[1]" or the name of the let it sits in
    name: str = ""  # the function's name (call), the variable's or constant's name
    value: object = None  # const: a SymPy number or object array; var: the Variable
    index: object = None  # index: the index tuple
    let: str = ""  # the let this node is the whole of, if any


@dataclass
class Tree:
    """The written graph of a case: nodes in evaluation order and the output roots."""

    nodes: list[Node]
    roots: tuple[int, ...]  # one per string of f
    variables: tuple[Variable, ...]
    subtree: list[int] = field(default_factory=list)  # bitmask of each node's operands, transitively
    uses: list[int] = field(default_factory=list)  # bitmask of the nodes that use each node, transitively

    def inside(self, a: int, b: int) -> bool:
        """Whether node ``a`` is an operand of ``b``, at any depth."""
        return bool(self.subtree[b] >> a & 1)

    def depends(self, node: int) -> bool:
        """Whether a node's value depends on a variable."""
        return bool(self.subtree[node] & self._var_mask) or self.nodes[node].kind == "var"

    @property
    def _var_mask(self) -> int:
        return sum(1 << n.id for n in self.nodes if n.kind == "var")


def build_tree(case: Case) -> Tree:
    """The written graph of ``f`` and its ``let`` intermediates.

    Raises ``Unsupported`` for text outside what the differentiator models.
    """
    return _Builder(case.variables, case.data, case.lets).build(case.f_text)


def build_expression(text: str, variables: Sequence[Variable], data: Mapping[str, object] | None = None,
                     lets: Sequence[tuple[str, str]] = ()) -> Tree:
    """The written graph of one expression over ``variables`` (for check_grad and tests)."""
    return _Builder(tuple(variables), dict(data or {}), tuple(lets)).build(text)


def _clean(text: str) -> tuple[str, bool]:
    stripped = text.strip()
    return stripped.replace("^", "**"), "^" in stripped and "**" not in stripped


class _Builder:
    def __init__(self, variables: tuple[Variable, ...], data: Mapping[str, object],
                 lets: Sequence[tuple[str, str]]) -> None:
        self.variables = variables
        self.data = data
        self.nodes: list[Node] = []
        self.names: dict[str, int] = {}
        for var in variables:
            self.names[var.name] = self._add(Node(-1, "var", text=var.name, name=var.name, value=var))
        self.let_texts = list(lets)

    def build(self, f_text: str | tuple[str, ...]) -> Tree:
        for name, text in self.let_texts:
            root = self._parse(text, name)
            if not self.nodes[root].let and self.nodes[root].kind not in ("var", "const"):
                self.nodes[root].let = name
            self.names[name] = root
        texts = (f_text,) if isinstance(f_text, str) else tuple(f_text)
        roots = tuple(self._parse(t, "f" if len(texts) == 1 else f"f[{i}]") for i, t in enumerate(texts))
        tree = Tree(self.nodes, roots, self.variables)
        subtree = [0] * len(self.nodes)
        for node in self.nodes:  # children come first
            mask = 0
            for c in node.children:
                mask |= subtree[c] | (1 << c)
            subtree[node.id] = mask
        uses = [0] * len(self.nodes)
        for node in reversed(self.nodes):
            for c in node.children:
                uses[c] |= uses[node.id] | (1 << node.id)
        tree.subtree, tree.uses = subtree, uses
        return tree

    def _add(self, node: Node) -> int:
        node.id = len(self.nodes)
        self.nodes.append(node)
        return node.id

    def _parse(self, text: str, where: str) -> int:
        source, caret = _clean(text)
        try:
            body = ast.parse(source, mode="eval").body
        except (SyntaxError, RecursionError, MemoryError, ValueError):
            raise Unsupported(f"cannot read {where}") from None
        self.source, self.caret, self.where = source, caret, where
        return self._node(body)

    def _text(self, node: ast.AST) -> str:
        text = ast.get_source_segment(self.source, node) or ast.unparse(node)
        return text.replace("**", "^") if self.caret else text

    def _new(self, kind: str, children: Sequence[int], node: ast.AST, **extra: object) -> int:
        return self._add(Node(-1, kind, tuple(children), self._text(node), self.where, **extra))  # type: ignore[arg-type]

    def _node(self, node: ast.AST) -> int:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                raise Unsupported("literal")
            return self._new("const", (), node, value=sympy.Rational(repr(node.value)) if isinstance(node.value, float)
                             else sympy.Integer(node.value))
        if isinstance(node, ast.Name):
            if node.id in self.names:
                return self.names[node.id]
            if node.id in self.data:
                return self._new("const", (), node, name=node.id, value=self.data[node.id])
            if node.id in CONSTANTS:
                return self._new("const", (), node, name=node.id, value=CONSTANTS[node.id])
            raise Unsupported(f"name {node.id!r}")
        if isinstance(node, ast.UnaryOp):
            operand = self._node(node.operand)
            if isinstance(node.op, ast.UAdd):
                return operand
            if isinstance(node.op, ast.USub):
                return self._new("neg", (operand,), node)
            raise Unsupported("operator")
        if isinstance(node, ast.BinOp):
            kinds = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div", ast.Pow: "pow",
                     ast.MatMult: "matmul"}
            kind = kinds.get(type(node.op))
            if kind is None:
                raise Unsupported("operator")
            left, right = self._node(node.left), self._node(node.right)
            return self._new(kind, (left, right), node)
        if isinstance(node, ast.Attribute):
            if node.attr != "T":
                raise Unsupported("attribute")
            return self._new("T", (self._node(node.value),), node)
        if isinstance(node, ast.Subscript):
            return self._new("index", (self._node(node.value),), node, index=self._index(node.slice))
        if isinstance(node, ast.List):
            return self._new("list", [self._node(e) for e in node.elts], node)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
            name = node.func.id
            args = [self._node(a) for a in node.args]
            if name == "log" and len(args) == 2:
                return self._new("call", args, node, name="logb")
            if name == "dot" and len(args) == 2:
                return self._new("dot", args, node)
            if (name in UNARY or name in REDUCTIONS) and len(args) == 1:
                return self._new("call", args, node, name=name)
            if name in BINARY and len(args) == 2:
                return self._new("call", args, node, name=name)
        raise Unsupported(type(node).__name__)

    def _index(self, node: ast.AST) -> object:
        if isinstance(node, ast.Tuple):
            return tuple(self._index(e) for e in node.elts)
        if isinstance(node, ast.Slice):
            bound = [None if b is None else self._integer(b) for b in (node.lower, node.upper)]
            return slice(*bound)
        return self._integer(node)

    def _integer(self, node: ast.AST) -> int:
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -self._integer(node.operand)
        if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
            return node.value
        raise Unsupported("index")
