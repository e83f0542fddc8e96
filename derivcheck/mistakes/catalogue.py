"""The wrong rules: each a local derivative a student might write at one node instead of the right one.

Every entry names its rule (the fixed vocabulary of ``RULES``), says in words what went wrong,
and computes the wrong local tangent from the node's operands (right values, right operand
tangents), so that the differentiator can put it in place of the right one at that node.
Drawn from calculus textbooks' common-error notes (the chain rule's inner factor, (uv)' = u'v',
the quotient rule's order, d/dx a^x = x a^(x-1), d cos = sin, ...) and the tutorials' own slips
(the sign of d(y - b)/db, the 1/N of a mean, a transpose in matrix calculus).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from derivcheck.mistakes.backends import Backend
from derivcheck.mistakes.differentiate import Walk, unary_derivative
from derivcheck.mistakes.tree import Node, Tree

RULES = (
    "chain", "product", "quotient", "power", "exponential", "logarithm", "trigonometric",
    "inverse-trigonometric", "hyperbolic", "sum", "constant", "constant-factor", "sign", "mean", "transpose",
)

Tans = Sequence["np.ndarray | None"]
Local = Callable[[Walk, Node, Tans], "np.ndarray | None"]


@dataclass(frozen=True)
class Mistake:
    """One wrong local rule at one node."""

    rule: str  # one of RULES
    code: str  # which mistake of the rule, e.g. "inner-dropped"
    node: int
    what: str  # the mistake in words, completed by ``explain`` ({inner} and {var} filled there)
    right: str  # the right local step, in the node's own text
    wrong: str  # the wrong step
    local: Local

    def tangent(self, walk: Walk, node: Node, tans: Tans) -> "np.ndarray | None":
        return self.local(walk, node, tans)


def candidates(tree: Tree, walk: Walk) -> list[Mistake]:
    """Every catalogued mistake that applies somewhere in ``tree`` (shapes read from ``walk``)."""
    found: list[Mistake] = []
    for node in tree.nodes:
        found.extend(_at(tree, walk, node))
    return found


def _at(tree: Tree, walk: Walk, node: Node) -> list[Mistake]:
    texts = [tree.nodes[c].let or tree.nodes[c].text for c in node.children]
    wrapped = [_wrap(tree.nodes[c]) for c in node.children]
    dep = [tree.depends(c) for c in node.children]
    values = [walk.values[c] for c in node.children]
    out: list[Mistake] = []

    def add(rule: str, code: str, what: str, right: str, wrong: str, local: Local) -> None:
        out.append(Mistake(rule, code, node.id, what, right, wrong, local))

    k, t = node.kind, node.text
    if k == "var" and walk.values[node.id].ndim == 2 and _square(walk.values[node.id]):
        add("transpose", "layout", f"the gradient with respect to {t} laid out transposed",
            f"∂f/∂{t}[i,j] at row i, column j", f"∂f/∂{t}[i,j] at row j, column i", _layout_transposed)
    if k == "call" and node.name in _UNARY_WRONG:
        _unary(add, node, texts[0], dep[0], tree.nodes[node.children[0]].kind == "var")
    if k == "call" and node.name == "logb" and dep[0] and not dep[1]:
        u, b = texts
        U = wrapped[0]
        add("logarithm", "base-dropped", f"the factor 1/ln({b}) of the base missing",
            f"∂({t}) = ∂({u})/({U} ln({b}))", f"∂({u})/{U}", _logb(lambda B, b: 1))
        add("logarithm", "base-multiplied", f"ln({b}) multiplied instead of divided",
            f"∂({t}) = ∂({u})/({U} ln({b}))", f"∂({u}) ln({b})/{U}", _logb(lambda B, b: B.call("log", b)))
    if k == "call" and node.name in ("mean", "sum") and dep[0] and values[0].size > 1:
        n = values[0].size
        if node.name == "mean":
            add("mean", "as-sum", f"the mean's 1/N (N = {n}) dropped, as if it were a sum",
                f"∂({t}) = mean(∂({texts[0]}))", f"sum(∂({texts[0]}))", _reduce(lambda s, n: s))
            add("mean", "twice", f"the mean's 1/N (N = {n}) applied twice",
                f"∂({t}) = mean(∂({texts[0]}))", f"mean(∂({texts[0]}))/{n}", _reduce(lambda s, n: s / (n * n)))
        else:
            add("mean", "sum-as-mean", f"the sum differentiated as a mean (divided by N = {n})",
                f"∂({t}) = sum(∂({texts[0]}))", f"sum(∂({texts[0]}))/{n}", _reduce(lambda s, n: s / n))
    if k == "pow":
        _power(add, tree, node, texts, wrapped, dep, values)
    if k in ("add", "sub"):
        _sum(add, node, texts, dep, values)
    if k == "neg" and dep[0]:
        add("sign", "negation-dropped", f"the minus sign of {t} dropped", f"∂({t}) = -∂({texts[0]})",
            f"∂({texts[0]})", lambda w, n, tans: w.full(w.d(n, tans, 0), n.id))
    if k == "mul":
        _product(add, node, texts, wrapped, dep)
    if k == "div":
        _quotient(add, node, texts, wrapped, dep)
    if k in ("matmul", "dot"):
        _matrix_product(add, node, texts, wrapped, dep, values)
    if k == "T" and dep[0] and values[0].ndim == 2 and _square(values[0]):
        add("transpose", "derivative-not-transposed", f"the derivative of {t} not transposed",
            f"∂({t}) = (∂{texts[0]}).T", f"∂{texts[0]}", lambda w, n, tans: tans[n.children[0]])
    return out


def _wrap(node: Node) -> str:
    """A node's text, in parentheses when it is not a single term."""
    if node.kind in ("var", "const", "call", "index", "list", "dot") or node.let:
        return node.let or node.text
    return f"({node.text})"


def _square(value: np.ndarray) -> bool:
    return value.ndim == 2 and value.shape[0] == value.shape[1] > 1


# element-wise functions -------------------------------------------------------------------
def _sqrt(B: Backend, u: np.ndarray) -> np.ndarray:
    return B.call("sqrt", u)


#: name -> [(rule, code, what, wrong step, wrong f'(u))]
_UNARY_WRONG: dict[str, list[tuple[str, str, str, str, Callable[[Backend, np.ndarray], np.ndarray]]]] = {
    "sin": [("trigonometric", "sign", "the derivative of sin taken as -cos", "-cos({u})",
             lambda B, u: -B.call("cos", u))],
    "cos": [("trigonometric", "sign", "the derivative of cos taken as sin (its minus sign lost)", "sin({u})",
             lambda B, u: B.call("sin", u))],
    "tan": [("trigonometric", "not-squared", "the derivative of tan taken as sec, not sec²", "sec({u})",
             lambda B, u: 1 / B.call("cos", u))],
    "asin": [("inverse-trigonometric", "sign", "the derivative of asin taken with a minus sign",
              "-1/sqrt(1 - ({u})^2)", lambda B, u: -1 / _sqrt(B, 1 - u * u))],
    "acos": [("inverse-trigonometric", "sign", "the derivative of acos taken without its minus sign",
              "1/sqrt(1 - ({u})^2)", lambda B, u: 1 / _sqrt(B, 1 - u * u))],
    "atan": [("inverse-trigonometric", "denominator", "the derivative of atan taken as 1/(1 - u²)",
              "1/(1 - ({u})^2)", lambda B, u: 1 / (1 - u * u))],
    "cosh": [("hyperbolic", "sign", "the derivative of cosh taken as -sinh (as for cos)", "-sinh({u})",
              lambda B, u: -B.call("sinh", u))],
    "sinh": [("hyperbolic", "sign", "the derivative of sinh taken as -cosh", "-cosh({u})",
              lambda B, u: -B.call("cosh", u))],
    "tanh": [("hyperbolic", "tan-analogy", "the derivative of tanh taken as 1 + tanh² (as for tan)",
              "1 + tanh({u})^2", lambda B, u: 1 + B.call("tanh", u) ** 2)],
    "exp": [("power", "on-exp", "the power rule applied to the exponential (u e^(u-1))", "({u}) exp({u} - 1)",
             lambda B, u: u * B.call("exp", u - 1))],
    "sqrt": [("power", "not-decremented", "the power rule's exponent not decremented (½ u^½)", "sqrt({u})/2",
              lambda B, u: _sqrt(B, u) / 2),
             ("power", "coefficient-missing", "the power rule's coefficient ½ missing", "1/sqrt({u})",
              lambda B, u: 1 / _sqrt(B, u))],
    "log": [],
    "sigmoid": [], "softplus": [], "erf": [], "asinh": [], "acosh": [], "atanh": [],
}


def _unary(add: Callable[..., None], node: Node, u: str, depends: bool, bare: bool) -> None:
    name, t = node.name, node.text
    if not depends:
        return
    right = f"∂({t}) = {name}'({u}) ∂({u})"
    if bare:  # the inner derivative of a variable is 1 (a direction's component): nothing to drop
        for rule, code, what, wrong, fprime in _UNARY_WRONG[name]:
            add(rule, code, what, right, wrong.format(u=u) + f" ∂({u})", _with_outer(fprime))
        return
    add("chain", "inner-dropped", "the chain rule's inner factor {inner} dropped", right, f"{name}'({u})",
        _chain_dropped(lambda w, n: unary_derivative(w.B, name, w.values[n.children[0]])))
    add("chain", "inner-inside", f"the inner derivative put inside the outer one ({name}'(∂u) for {name}'(u) ∂u)",
        right, f"{name}'(∂({u}))", _chain_inside(lambda B, u: unary_derivative(B, name, u)))
    add("chain", "outer-at-variable", "the outer derivative evaluated at {var} instead of at " + u,
        right, f"{name}'({{var}}) ∂({u})", _outer_at_variable(lambda B, u: unary_derivative(B, name, u)))
    for rule, code, what, wrong, fprime in _UNARY_WRONG[name]:
        add(rule, code, what, right, wrong.format(u=u) + f" ∂({u})", _with_outer(fprime))


def _with_outer(fprime: Callable[[Backend, np.ndarray], np.ndarray]) -> Local:
    def local(w: Walk, n: Node, tans: Tans) -> "np.ndarray | None":
        du = w.d(n, tans, 0)
        return None if du is None else fprime(w.B, w.values[n.children[0]]) * du
    return local


def _chain_dropped(outer: Callable[[Walk, Node], np.ndarray], child: int = 0) -> Local:
    def local(w: Walk, n: Node, tans: Tans) -> "np.ndarray | None":
        du = w.d(n, tans, child)
        return None if du is None else outer(w, n) * w.B.nonzero(du)
    return local


def _chain_inside(fprime: Callable[[Backend, np.ndarray], np.ndarray]) -> Local:
    def local(w: Walk, n: Node, tans: Tans) -> "np.ndarray | None":
        du = w.d(n, tans, 0)
        return None if du is None else fprime(w.B, du) * w.B.nonzero(du)
    return local


def _outer_at_variable(fprime: Callable[[Backend, np.ndarray], np.ndarray], child: int = 0) -> Local:
    def local(w: Walk, n: Node, tans: Tans) -> "np.ndarray | None":
        du = w.d(n, tans, child)
        x = w.seed_coordinates()
        if du is None or x is None or w.tree.nodes[n.children[child]].kind == "var":
            return None
        return fprime(w.B, w.lift(x, w.values[n.id].ndim)) * du
    return local


# powers -----------------------------------------------------------------------------------
def _power(add: Callable[..., None], tree: Tree, node: Node, texts: list[str], wrapped: list[str], dep: list[bool], values: list[np.ndarray]) -> None:
    u, e = texts
    U, E = wrapped
    t = node.text
    lower, higher = _shifted(e, -1), _shifted(e, 1)
    U_lower = U if lower == "1" else f"{U}^{lower}"
    if dep[0] and not dep[1]:
        right = f"∂({t}) = {E} {U_lower} ∂({u})"

        def rule(factor: Callable[[Backend, np.ndarray, np.ndarray], np.ndarray]) -> Local:
            def local(w: Walk, n: Node, tans: Tans) -> "np.ndarray | None":
                du = w.d(n, tans, 0)
                a, b = (w.values[c] for c in n.children)
                return None if du is None else factor(w.B, a, b) * du
            return local

        add("power", "not-decremented", f"the power rule's exponent not decremented ({e} u^{e})", right,
            f"{E} {U}^{E} ∂({u})", rule(lambda B, a, b: b * a ** b))
        add("power", "raised", f"the exponent raised instead of lowered ({e} u^{higher})", right,
            f"{E} {U}^{higher} ∂({u})", rule(lambda B, a, b: b * a ** (b + 1)))
        square = values[1].ndim == 0 and _is_two(values[1])
        if not square:  # for a square, (n-1) u^(n-1) is the 2 dropped, said below
            add("power", "coefficient-decremented", f"the power rule's coefficient taken as {e} - 1 "
                "((n-1) u^(n-1))", right, f"{lower} {U_lower} ∂({u})",
                rule(lambda B, a, b: (b - 1) * a ** (b - 1)))
        if square:
            add("constant-factor", "square-2", f"the 2 of the square {t} dropped", right, f"{U} ∂({u})",
                rule(lambda B, a, b: a ** (b - 1)))
        else:
            add("power", "coefficient-missing", f"the power rule's coefficient {e} missing", right,
                f"{U_lower} ∂({u})", rule(lambda B, a, b: a ** (b - 1)))
        if tree.nodes[node.children[0]].kind != "var":
            add("chain", "inner-dropped", "the chain rule's inner factor {inner} dropped", right,
                f"{E} {U_lower}", _chain_dropped(_outer_of_power))
            add("chain", "outer-at-variable", "the outer derivative evaluated at {var} instead of at " + u, right,
                f"{E} {{var}}^{lower} ∂({u})", _outer_power)
    elif dep[1] and not dep[0]:
        right = f"∂({t}) = {U}^{E} ln({u}) ∂({e})"

        def rule2(factor: Callable[[Backend, np.ndarray, np.ndarray], np.ndarray]) -> Local:
            def local(w: Walk, n: Node, tans: Tans) -> "np.ndarray | None":
                db = w.d(n, tans, 1)
                a, b = (w.values[c] for c in n.children)
                return None if db is None else factor(w.B, a, b) * db
            return local

        add("exponential", "ln-missing", f"the factor ln({u}) missing (d a^x = a^x)", right, f"{U}^{E} ∂({e})",
            rule2(lambda B, a, b: a ** b))
        add("power", "on-exponential", f"the power rule applied to the exponential {t} (x a^(x-1))", right,
            f"{E} {U}^({e} - 1) ∂({e})", rule2(lambda B, a, b: b * a ** (b - 1)))
        if tree.nodes[node.children[1]].kind != "var":
            add("chain", "inner-dropped", "the chain rule's inner factor {inner} dropped", right,
                f"{U}^{E} ln({u})", _chain_dropped(_outer_of_exponential, child=1))
    elif dep[0] and dep[1]:
        right = f"∂({t}) = {U}^{E} (∂({e}) ln({u}) + {E} ∂({u})/{U})"

        def both(power_part: bool) -> Local:
            def local(w: Walk, n: Node, tans: Tans) -> "np.ndarray | None":
                a, b = (w.values[c] for c in n.children)
                if power_part:
                    return w.full(b * a ** (b - 1) * w.d(n, tans, 0), n.id)
                return w.full(a ** b * w.B.call("log", a) * w.d(n, tans, 1), n.id)
            return local

        add("power", "on-x^x", f"the power rule applied to {t} as if its exponent were constant", right,
            f"{E} {U}^({e} - 1) ∂({u})", both(True))
        add("exponential", "on-x^x", f"{t} differentiated as an exponential only (its base held constant)", right,
            f"{U}^{E} ln({u}) ∂({e})", both(False))


def _shifted(exponent: str, by: int) -> str:
    """The text of an exponent plus ``by``: a number when the exponent is an integer literal."""
    try:
        return str(int(exponent) + by)
    except ValueError:
        return f"({exponent} {'+' if by > 0 else '-'} {abs(by)})"


def _is_two(value: np.ndarray) -> bool:
    try:
        return float(value) == 2.0
    except (TypeError, ValueError):
        return False


def _outer_of_power(w: Walk, n: Node) -> np.ndarray:
    a, b = (w.values[c] for c in n.children)
    return b * a ** (b - 1)


def _outer_of_exponential(w: Walk, n: Node) -> np.ndarray:
    a, b = (w.values[c] for c in n.children)
    return a ** b * w.B.call("log", a)


def _outer_power(w: Walk, n: Node, tans: Tans) -> "np.ndarray | None":
    du = w.d(n, tans, 0)
    x = w.seed_coordinates()
    if du is None or x is None or w.tree.nodes[n.children[0]].kind == "var":
        return None
    b = w.values[n.children[1]]
    x = w.lift(x, w.values[n.id].ndim)
    return b * x ** (b - 1) * du




# sums, products, quotients ------------------------------------------------------------------
def _sum(add: Callable[..., None], node: Node, texts: list[str], dep: list[bool], values: list[np.ndarray]) -> None:
    a, b = texts
    t, minus = node.text, node.kind == "sub"
    op = "-" if minus else "+"
    right = f"∂({t}) = ∂({a}) {op} ∂({b})"
    sign = -1 if minus else 1
    if minus and dep[1]:
        add("sign", "subtraction", f"the minus sign of {t} lost in its derivative", right, f"∂({a}) + ∂({b})",
            lambda w, n, tans: w.full(_total(w.d(n, tans, 0), w.d(n, tans, 1)), n.id))
    if dep[0] and dep[1]:
        add("sum", "term-dropped", f"the term {b} of {t} dropped", right, f"∂({a})",
            lambda w, n, tans: w.full(w.d(n, tans, 0), n.id))
        add("sum", "term-dropped", f"the term {a} of {t} dropped", right, f"{'-' if minus else ''}∂({b})",
            lambda w, n, tans: w.full(sign * w.d(n, tans, 1), n.id))
    for c, x in ((1, 0), (0, 1)):
        if dep[x] and not dep[c] and _nonzero_constant(values[c]):
            kept = texts[c]
            wrong = f"∂({texts[0]}) {op} {kept}" if c == 1 else f"{kept} {op} ∂({texts[1]})"

            def local(w: Walk, n: Node, tans: Tans, c: int = c, x: int = x) -> "np.ndarray | None":
                dx = w.d(n, tans, x)
                kept_value = w.values[n.children[c]] * w.B.nonzero(dx)
                if c == 1:
                    return w.full(dx + sign * kept_value, n.id)
                return w.full(kept_value + sign * dx, n.id)

            add("constant", "kept", f"the derivative of the constant {kept} taken as {kept} (it is 0)", right,
                wrong, local)


def _total(*terms: "np.ndarray | None") -> "np.ndarray | None":
    present = [t for t in terms if t is not None]
    if not present:
        return None
    out = present[0]
    for t in present[1:]:
        out = out + t
    return out


def _nonzero_constant(value: np.ndarray) -> bool:
    try:
        return bool(np.any(np.asarray(value, dtype=float) != 0))
    except (TypeError, ValueError):
        return True


def _product(add: Callable[..., None], node: Node, texts: list[str], wrapped: list[str], dep: list[bool]) -> None:
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


def _quotient(add: Callable[..., None], node: Node, texts: list[str], wrapped: list[str], dep: list[bool]) -> None:
    u, v = texts
    U, V = wrapped
    t = node.text
    if dep[1]:
        right = f"∂({t}) = (∂({u}) {V} - {U} ∂({v}))/{V}²"

        def rule(numerator_sign: int, left_sign: int, square: bool) -> Local:
            def local(w: Walk, n: Node, tans: Tans) -> "np.ndarray | None":
                a, b = (w.values[c] for c in n.children)
                da, db = w.d(n, tans, 0), w.d(n, tans, 1)
                first = None if da is None else left_sign * da * b
                num = _total(first, numerator_sign * a * db)
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


def _logb(multiplier: Callable[[Backend, np.ndarray], object]) -> Local:
    def local(w: Walk, n: Node, tans: Tans) -> "np.ndarray | None":
        du = w.d(n, tans, 0)
        u, b = (w.values[c] for c in n.children)
        return None if du is None else w.full(du / u * multiplier(w.B, b), n.id)
    return local


def _reduce(fn: Callable[[np.ndarray, int], np.ndarray]) -> Local:
    def local(w: Walk, n: Node, tans: Tans) -> "np.ndarray | None":
        t = tans[n.children[0]]
        if t is None:
            return None
        size = w.values[n.children[0]].size
        return np.asarray(fn(np.sum(t.reshape(w.K, -1), axis=1), size), dtype=w.B.dtype)
    return local


# matrix calculus --------------------------------------------------------------------------
def _matrix_product(add: Callable[..., None], node: Node, texts: list[str], wrapped: list[str], dep: list[bool],
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
    if dep[1] and _square(values[0]):
        add("transpose", "operand", f"{a} transposed in the derivative of {t}", right, f"{A}.T @ ∂({b})",
            _transposed_operand(0))
    if dep[0] and _square(values[1]):
        add("transpose", "operand", f"{b} transposed in the derivative of {t}", right, f"∂({a}) @ {Bw}.T",
            _transposed_operand(1))


def _doubled(left: bool) -> Local:
    """One term of d(a @ b) counted twice; only where, along a seed, both terms are there."""
    def local(w: Walk, n: Node, tans: Tans) -> "np.ndarray | None":
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
    def local(w: Walk, n: Node, tans: Tans) -> "np.ndarray | None":
        a, b = (w.values[c] for c in n.children)
        ta, tb = (tans[c] for c in n.children)
        if which == 0:
            terms = [None if ta is None else w.bilinear(n, ta, b, True), w.bilinear(n, a.T, tb, False)]
        else:
            terms = [w.bilinear(n, ta, b.T, True), None if tb is None else w.bilinear(n, a, tb, False)]
        return _total(*terms)
    return local


def _layout_transposed(w: Walk, n: Node, tans: Tans) -> "np.ndarray | None":
    return np.transpose(w.var_seeds[n.name], (0, 2, 1))
