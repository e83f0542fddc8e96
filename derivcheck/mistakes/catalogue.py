"""The catalogue: every wrong rule that applies at each node of the written tree.

Each names its rule (the fixed vocabulary of ``RULES``), says in words what went wrong, and
computes the wrong local tangent from the node's operands (right values, right operand tangents),
so that the differentiator can put it in place of the right one at that node. Drawn from calculus
textbooks' common-error notes (the chain rule's inner factor, (uv)' = u'v', the quotient rule's
order, d/dx a^x = x a^(x-1), d cos = sin, ...) and the tutorials' own slips (the sign of
d(y - b)/db, the 1/N of a mean, a transpose in matrix calculus). The families live in
``elementary`` (functions and powers) and ``algebraic`` (sums, products, quotients, reductions,
matrix products).
"""

from __future__ import annotations

from derivcheck.mistakes.algebraic import (
    layout_transposed,
    log_base_rule,
    matrix_product_mistakes,
    product_mistakes,
    quotient_mistakes,
    reduction_rule,
    sum_mistakes,
)
from derivcheck.mistakes.differentiate import Walk
from derivcheck.mistakes.elementary import WRONG_DERIVATIVES, function_mistakes, power_mistakes
from derivcheck.mistakes.graph import partial_mistakes
from derivcheck.mistakes.rules import RULES, Local, Mistake, is_square, operand_text
from derivcheck.mistakes.tree import Node, Tree

__all__ = ["RULES", "Mistake", "candidates"]


def candidates(tree: Tree, walk: Walk) -> list[Mistake]:
    """Every catalogued mistake that applies somewhere in ``tree`` (shapes read from ``walk``)."""
    found: list[Mistake] = []
    for node in tree.nodes:
        found.extend(_at(tree, walk, node))
    return found


def _at(tree: Tree, walk: Walk, node: Node) -> list[Mistake]:
    texts = [tree.nodes[c].let or tree.nodes[c].text for c in node.children]
    wrapped = [operand_text(tree.nodes[c]) for c in node.children]
    dep = [tree.depends(c) for c in node.children]
    values = [walk.values[c] for c in node.children]
    out: list[Mistake] = []

    def add(rule: str, code: str, what: str, right: str, wrong: str, local: Local) -> None:
        out.append(Mistake(rule, code, node.id, what, right, wrong, local))

    k, t = node.kind, node.text
    if k == "var" and walk.values[node.id].ndim == 2 and is_square(walk.values[node.id]):
        add("transpose", "layout", f"the gradient with respect to {t} laid out transposed",
            f"∂f/∂{t}[i,j] at row i, column j", f"∂f/∂{t}[i,j] at row j, column i", layout_transposed)
    if k == "call" and node.name in WRONG_DERIVATIVES:
        function_mistakes(add, node, texts[0], dep[0], tree.nodes[node.children[0]].kind == "var")
    if k == "call" and node.name == "logb" and dep[0] and not dep[1]:
        u, b = texts
        U = wrapped[0]
        add("logarithm", "base-dropped", f"the factor 1/ln({b}) of the base missing",
            f"∂({t}) = ∂({u})/({U} ln({b}))", f"∂({u})/{U}", log_base_rule(lambda B, b: 1))
        add("logarithm", "base-multiplied", f"ln({b}) multiplied instead of divided",
            f"∂({t}) = ∂({u})/({U} ln({b}))", f"∂({u}) ln({b})/{U}", log_base_rule(lambda B, b: B.call("log", b)))
    if k == "call" and node.name in ("mean", "sum") and dep[0] and values[0].size > 1:
        n = values[0].size
        if node.name == "mean":
            add("mean", "as-sum", f"the mean's 1/N (N = {n}) dropped, as if it were a sum",
                f"∂({t}) = mean(∂({texts[0]}))", f"sum(∂({texts[0]}))", reduction_rule(lambda s, n: s))
            add("mean", "twice", f"the mean's 1/N (N = {n}) applied twice",
                f"∂({t}) = mean(∂({texts[0]}))", f"mean(∂({texts[0]}))/{n}", reduction_rule(lambda s, n: s / (n * n)))
        else:
            add("mean", "sum-as-mean", f"the sum differentiated as a mean (divided by N = {n})",
                f"∂({t}) = sum(∂({texts[0]}))", f"sum(∂({texts[0]}))/{n}", reduction_rule(lambda s, n: s / n))
    if k == "pow":
        power_mistakes(add, tree, node, texts, wrapped, dep, values)
    if k in ("add", "sub"):
        sum_mistakes(add, node, texts, dep, values)
    if k == "neg" and dep[0]:
        add("sign", "negation-dropped", f"the minus sign of {t} dropped", f"∂({t}) = -∂({texts[0]})",
            f"∂({texts[0]})", lambda w, n, tans: w.full(w.d(n, tans, 0), n.id))
    if k == "mul":
        product_mistakes(add, node, texts, wrapped, dep)
    if k == "div":
        quotient_mistakes(add, node, texts, wrapped, dep)
    if k in ("matmul", "dot"):
        matrix_product_mistakes(add, node, texts, wrapped, dep, values)
    if node.let and tree.depends(node.id):
        partial_mistakes(add, tree, walk, node)
    if k == "T" and dep[0] and values[0].ndim == 2 and is_square(values[0]):
        add("transpose", "derivative-not-transposed", f"the derivative of {t} not transposed",
            f"∂({t}) = (∂{texts[0]}).T", f"∂{texts[0]}", lambda w, n, tans: tans[n.children[0]])
    return out

