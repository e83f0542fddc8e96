"""Wrong rules at sums, products, quotients, reductions and matrix products: a term dropped, a
constant's derivative kept, (uv)' = u'v', the quotient rule's order, a mean's 1/N, a transpose."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from derivcheck.mistakes.backends import Backend
from derivcheck.mistakes.differentiate import Walk
from derivcheck.mistakes.rules import Local, Tans, is_square, nonzero_constant, total
from derivcheck.mistakes.tree import Node


def sum_mistakes(add: Callable[..., None], node: Node, texts: list[str], dep: list[bool], values: list[np.ndarray]) -> None:
    a, b = texts
    t, minus = node.text, node.kind == "sub"
    op = "-" if minus else "+"
    right = f"∂({t}) = ∂({a}) {op} ∂({b})"
    sign = -1 if minus else 1
    if minus and dep[1]:
        add("sign", "subtraction", f"the minus sign of {t} lost in its derivative", right, f"∂({a}) + ∂({b})",
            lambda w, n, tans: w.full(total(w.d(n, tans, 0), w.d(n, tans, 1)), n.id))
    if minus and dep[0] and dep[1]:
        # the difference taken the wrong way round: ∂b - ∂a (y - p for p - y: the classic sign
        # slip of a loss's gradient, e.g. softmax cross-entropy's onehot - softmax(z))
        add("sign", "subtraction-reversed", f"the subtraction {t} differentiated the wrong way round "
            f"(its sign lost)", right, f"∂({b}) - ∂({a})",
            lambda w, n, tans: w.full(total(w.d(n, tans, 1), _negated(w.d(n, tans, 0))), n.id))
    if dep[0] and dep[1]:
        add("sum", "term-dropped", f"the term {b} of {t} dropped", right, f"∂({a})",
            lambda w, n, tans: w.full(w.d(n, tans, 0), n.id))
        add("sum", "term-dropped", f"the term {a} of {t} dropped", right, f"{'-' if minus else ''}∂({b})",
            lambda w, n, tans: w.full(sign * w.d(n, tans, 1), n.id))
    for c, x in ((1, 0), (0, 1)):
        if dep[x] and not dep[c] and nonzero_constant(values[c]):
            kept = texts[c]
            wrong = f"∂({texts[0]}) {op} {kept}" if c == 1 else f"{kept} {op} ∂({texts[1]})"

            def local(w: Walk, n: Node, tans: Tans, c: int = c, x: int = x) -> np.ndarray | None:
                dx = w.d(n, tans, x)
                kept_value = w.values[n.children[c]] * w.B.nonzero(dx)
                if c == 1:
                    return w.full(dx + sign * kept_value, n.id)
                return w.full(kept_value + sign * dx, n.id)

            add("constant", "kept", f"the derivative of the constant {kept} taken as {kept} (it is 0)", right,
                wrong, local)


def _negated(t: np.ndarray | None) -> np.ndarray | None:
    return None if t is None else -t


def product_mistakes(add: Callable[..., None], node: Node, texts: list[str], wrapped: list[str], dep: list[bool]) -> None:
    u, v = texts
    U, V = wrapped
    t = node.text
    if dep[0] and dep[1]:
        right = f"∂({t}) = ∂({u}) {V} + {U} ∂({v})"
        add("product", "derivatives-multiplied", "the product rule taken as (uv)' = u'v'", right,
            f"∂({u}) ∂({v})", lambda w, n, tans: w.full(w.d(n, tans, 0) * w.d(n, tans, 1), n.id))
        add("product", "term-dropped", f"the product rule's term {U} ∂({v}) dropped", right, f"∂({u}) {V}",
            lambda w, n, tans: w.full(w.d(n, tans, 0) * w.values[n.children[1]], n.id))
        add("product", "term-dropped", f"the product rule's term ∂({u}) {V} dropped", right, f"{U} ∂({v})",
            lambda w, n, tans: w.full(w.values[n.children[0]] * w.d(n, tans, 1), n.id))
        return
    for c, x in ((0, 1), (1, 0)):
        if dep[x] and not dep[c]:
            factor, rest, F = texts[c], texts[x], wrapped[c]
            right = f"∂({t}) = {F} ∂({rest})"
            add("constant-factor", "dropped", f"the constant factor {factor} dropped", right, f"∂({rest})",
                lambda w, n, tans, x=x: w.full(w.d(n, tans, x), n.id))
            add("constant-factor", "twice", f"the constant factor {factor} applied twice", right,
                f"{F}² ∂({rest})",
                lambda w, n, tans, c=c, x=x: w.full(w.values[n.children[c]] ** 2 * w.d(n, tans, x), n.id))


def quotient_mistakes(add: Callable[..., None], node: Node, texts: list[str], wrapped: list[str], dep: list[bool]) -> None:
    u, v = texts
    U, V = wrapped
    t = node.text
    if dep[1]:
        right = f"∂({t}) = (∂({u}) {V} - {U} ∂({v}))/{V}²"

        def rule(numerator_sign: int, left_sign: int, square: bool) -> Local:
            def local(w: Walk, n: Node, tans: Tans) -> np.ndarray | None:
                a, b = (w.values[c] for c in n.children)
                da, db = w.d(n, tans, 0), w.d(n, tans, 1)
                first = None if da is None else left_sign * da * b
                num = total(first, numerator_sign * a * db)
                return w.full(num / (b * b if square else b), n.id)
            return local

        add("quotient", "swapped", "the quotient rule's numerator terms swapped (u v' - u' v)", right,
            f"({U} ∂({v}) - ∂({u}) {V})/{V}²", rule(1, -1, True))
        add("quotient", "not-squared", f"the quotient rule's denominator {v} not squared", right,
            f"(∂({u}) {V} - {U} ∂({v}))/{V}", rule(-1, 1, False))
        add("quotient", "plus", "the quotient rule's numerator with + instead of -", right,
            f"(∂({u}) {V} + {U} ∂({v}))/{V}²", rule(1, 1, True))
        if dep[0]:
            add("quotient", "derivatives-divided", "the derivative of a quotient taken as the quotient of the "
                "derivatives u'/v'", right, f"∂({u})/∂({v})",
                lambda w, n, tans: w.full(w.d(n, tans, 0) / w.d(n, tans, 1), n.id))
    elif dep[0]:
        right = f"∂({t}) = ∂({u})/{V}"
        add("constant-factor", "division-dropped", f"the division by {v} dropped", right, f"∂({u})",
            lambda w, n, tans: w.full(w.d(n, tans, 0), n.id))
        add("constant-factor", "division-twice", f"the division by {v} applied twice", right, f"∂({u})/{V}²",
            lambda w, n, tans: w.full(w.d(n, tans, 0) / w.values[n.children[1]] ** 2, n.id))


def log_base_rule(multiplier: Callable[[Backend, np.ndarray], object]) -> Local:
    def local(w: Walk, n: Node, tans: Tans) -> np.ndarray | None:
        du = w.d(n, tans, 0)
        u, b = (w.values[c] for c in n.children)
        return None if du is None else w.full(du / u * multiplier(w.B, b), n.id)
    return local


def reduction_rule(fn: Callable[[np.ndarray, int], np.ndarray]) -> Local:
    def local(w: Walk, n: Node, tans: Tans) -> np.ndarray | None:
        t = tans[n.children[0]]
        if t is None:
            return None
        size = w.values[n.children[0]].size
        return np.asarray(fn(np.sum(t.reshape(w.K, -1), axis=1), size), dtype=w.B.dtype)
    return local


# matrix calculus --------------------------------------------------------------------------
def matrix_product_mistakes(add: Callable[..., None], node: Node, texts: list[str], wrapped: list[str], dep: list[bool],
                    values: list[np.ndarray]) -> None:
    a, b = texts
    A, Bw = wrapped
    t = node.text
    right = f"∂({t}) = ∂({a}) @ {Bw} + {A} @ ∂({b})"
    if dep[0] and dep[1]:
        add("product", "term-dropped", f"the product rule's term {A} @ ∂({b}) dropped", right, f"∂({a}) @ {Bw}",
            lambda w, n, tans: w.product_tangent(n, tans, right=False))
        add("product", "term-dropped", f"the product rule's term ∂({a}) @ {Bw} dropped", right, f"{A} @ ∂({b})",
            lambda w, n, tans: w.product_tangent(n, tans, left=False))
        add("transpose", "symmetric", f"the product rule's two terms of {t} taken as equal, as if the matrix "
            "were symmetric (2Ax for (A + Aᵀ)x)", right, f"2 ∂({a}) @ {Bw}", _doubled(left=True))
        add("transpose", "symmetric", f"the product rule's two terms of {t} taken as equal, as if the matrix "
            "were symmetric (2Ax for (A + Aᵀ)x)", right, f"2 {A} @ ∂({b})", _doubled(left=False))
    if dep[1] and is_square(values[0]):
        add("transpose", "operand", f"{a} transposed in the derivative of {t}", right, f"{A}.T @ ∂({b})",
            _transposed_operand(0))
    if dep[0] and is_square(values[1]):
        add("transpose", "operand", f"{b} transposed in the derivative of {t}", right, f"∂({a}) @ {Bw}.T",
            _transposed_operand(1))


def _doubled(left: bool) -> Local:
    """One term of d(a @ b) counted twice; only where, along a seed, both terms are there."""
    def local(w: Walk, n: Node, tans: Tans) -> np.ndarray | None:
        ta, tb = (tans[c] for c in n.children)
        right = w.product_tangent(n, tans)
        if ta is None or tb is None:
            return right
        both = np.array([bool(np.any(ta[k] != 0) and np.any(tb[k] != 0)) for k in range(w.K)])
        doubled = 2 * w.product_tangent(n, tans, right=not left, left=left)
        mask = both.reshape((w.K,) + (1,) * (np.ndim(right) - 1))
        return np.where(mask, doubled, right)
    return local


def _transposed_operand(which: int) -> Local:
    def local(w: Walk, n: Node, tans: Tans) -> np.ndarray | None:
        a, b = (w.values[c] for c in n.children)
        ta, tb = (tans[c] for c in n.children)
        if which == 0:
            terms = [None if ta is None else w.bilinear(n, ta, b, True), w.bilinear(n, a.T, tb, False)]
        else:
            terms = [w.bilinear(n, ta, b.T, True), None if tb is None else w.bilinear(n, a, tb, False)]
        return total(*terms)
    return local


def layout_transposed(w: Walk, n: Node, tans: Tans) -> np.ndarray | None:
    return np.transpose(w.var_seeds[n.name], (0, 2, 1))

