"""Wrong rules at element-wise functions and powers: the chain rule's inner factor, the power rule's
exponent and coefficient, aˣ without ln a, d cos = sin, d acos without its minus sign, d cosh = -sinh."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from derivcheck.mistakes.backends import Backend
from derivcheck.mistakes.differentiate import Walk, unary_derivative
from derivcheck.mistakes.rules import Local, Tans
from derivcheck.mistakes.tree import Node, Tree


def _sqrt(B: Backend, u: np.ndarray) -> np.ndarray:
    return B.call("sqrt", u)


#: name -> [(rule, code, what, wrong step, wrong f'(u))]
WRONG_DERIVATIVES: dict[str, list[tuple[str, str, str, str, Callable[[Backend, np.ndarray], np.ndarray]]]] = {
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
    # sigmoid' = sigmoid (1 - sigmoid): the factor (1 - sigmoid) dropped leaves sigmoid itself, the
    # exponential's rule (d e^u = e^u); softplus = ln(1 + e^u): taken as its own derivative (the
    # exponential's rule again), or with the chain rule's inner factor e^u of ln(1 + e^u) dropped
    "sigmoid": [("exponential", "as-itself", ("the derivative of sigmoid taken as sigmoid itself (its factor "
                                              "1 - sigmoid dropped, as if it were an exponential)"), "sigmoid({u})",
                 lambda B, u: B.call("sigmoid", u))],
    "softplus": [("exponential", "as-itself", ("the derivative of softplus taken as softplus itself (as if it "
                                               "were an exponential)"), "softplus({u})", lambda B, u: B.call("softplus", u)),
                 ("chain", "log-inner-dropped", ("softplus = ln(1 + e^u) differentiated without the chain rule's "
                                                 "inner factor e^u (1/(1 + e^u) for e^u/(1 + e^u))"), "1/(1 + exp({u}))",
                  lambda B, u: 1 / (1 + B.call("exp", u)))],
    "erf": [], "asinh": [], "acosh": [], "atanh": [],
}


def function_mistakes(add: Callable[..., None], node: Node, u: str, depends: bool, bare: bool) -> None:
    name, t = node.name, node.text
    if not depends:
        return
    right = f"∂({t}) = {name}'({u}) ∂({u})"
    if bare:  # the inner derivative of a variable is 1 (a direction's component): nothing to drop
        for rule, code, what, wrong, fprime in WRONG_DERIVATIVES[name]:
            add(rule, code, what, right, wrong.format(u=u) + f" ∂({u})", _with_outer(fprime))
        return
    add("chain", "inner-dropped", "the chain rule's inner factor {inner} dropped", right, f"{name}'({u})",
        _chain_dropped(lambda w, n: unary_derivative(w.B, name, w.values[n.children[0]])))
    add("chain", "inner-inside", f"the inner derivative put inside the outer one ({name}'(∂u) for {name}'(u) ∂u)",
        right, f"{name}'(∂({u}))", _chain_inside(lambda B, u: unary_derivative(B, name, u)))
    add("chain", "outer-at-variable", "the outer derivative evaluated at {var} instead of at " + u,
        right, f"{name}'({{var}}) ∂({u})", _outer_at_variable(lambda B, u: unary_derivative(B, name, u)))
    for rule, code, what, wrong, fprime in WRONG_DERIVATIVES[name]:
        add(rule, code, what, right, wrong.format(u=u) + f" ∂({u})", _with_outer(fprime))


def _with_outer(fprime: Callable[[Backend, np.ndarray], np.ndarray]) -> Local:
    def local(w: Walk, n: Node, tans: Tans) -> np.ndarray | None:
        du = w.d(n, tans, 0)
        return None if du is None else fprime(w.B, w.values[n.children[0]]) * du
    return local


def _chain_dropped(outer: Callable[[Walk, Node], np.ndarray], child: int = 0) -> Local:
    def local(w: Walk, n: Node, tans: Tans) -> np.ndarray | None:
        du = w.d(n, tans, child)
        return None if du is None else outer(w, n) * w.B.nonzero(du)
    return local


def _chain_inside(fprime: Callable[[Backend, np.ndarray], np.ndarray]) -> Local:
    def local(w: Walk, n: Node, tans: Tans) -> np.ndarray | None:
        du = w.d(n, tans, 0)
        return None if du is None else fprime(w.B, du) * w.B.nonzero(du)
    return local


def _outer_at_variable(fprime: Callable[[Backend, np.ndarray], np.ndarray], child: int = 0) -> Local:
    def local(w: Walk, n: Node, tans: Tans) -> np.ndarray | None:
        du = w.d(n, tans, child)
        x = w.seed_coordinates()
        if du is None or x is None or w.tree.nodes[n.children[child]].kind == "var":
            return None
        return fprime(w.B, w.lift(x, w.values[n.id].ndim)) * du
    return local


# powers -----------------------------------------------------------------------------------
def power_mistakes(add: Callable[..., None], tree: Tree, node: Node, texts: list[str], wrapped: list[str], dep: list[bool], values: list[np.ndarray]) -> None:
    u, e = texts
    U, E = wrapped
    t = node.text
    lower, higher = _shifted(e, -1), _shifted(e, 1)
    U_lower = U if lower == "1" else f"{U}^{lower}"
    if dep[0] and not dep[1]:
        right = f"∂({t}) = {E} {U_lower} ∂({u})"

        def rule(factor: Callable[[Backend, np.ndarray, np.ndarray], np.ndarray]) -> Local:
            def local(w: Walk, n: Node, tans: Tans) -> np.ndarray | None:
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
            def local(w: Walk, n: Node, tans: Tans) -> np.ndarray | None:
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
            def local(w: Walk, n: Node, tans: Tans) -> np.ndarray | None:
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


def _outer_power(w: Walk, n: Node, tans: Tans) -> np.ndarray | None:
    du = w.d(n, tans, 0)
    x = w.seed_coordinates()
    if du is None or x is None or w.tree.nodes[n.children[0]].kind == "var":
        return None
    b = w.values[n.children[1]]
    x = w.lift(x, w.values[n.id].ndim)
    return b * x ** (b - 1) * du



