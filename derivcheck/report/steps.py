"""Step-by-step derivatives: which rule applies at each node of an expression, and why.

:func:`derive` walks a SymPy expression top-down and records one :class:`Step` per rule
application (sum, product, quotient, chain with an explicit substitution ``u = ...``, ...). The
composed result is checked against ``sympy.diff``; algebraic tidying is one folded final step.
``steps_markdown.derivation_markdown`` renders a derivation as markdown.

Conventions at kinks (relu, abs, max/min, heaviside) are stated in the step's note, e.g.
"relu'(0) taken as 0, as torch does; not differentiable there".
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import sympy

from derivcheck.language.registry import SPECS, Rule

_CATEGORY: dict[type, Rule] = {spec.node: spec.family for spec in SPECS}

#: The convention each kinked function follows where it is not differentiable.
KINK_NOTES: dict[type, str] = {spec.node: spec.kink for spec in SPECS if spec.kink}

#: The heading of each rule in rendered derivations.
TITLES = {
    Rule.CONSTANT: "Constant", Rule.VARIABLE: "Variable", Rule.SUM: "Sum rule",
    Rule.CONSTANT_MULTIPLE: "Constant multiple", Rule.POWER: "Power rule", Rule.PRODUCT: "Product rule",
    Rule.QUOTIENT: "Quotient rule", Rule.CHAIN: "Chain rule", Rule.EXP_LOG: "Exponential and logarithm",
    Rule.TRIG: "Trigonometric", Rule.INVERSE_TRIG: "Inverse trigonometric", Rule.HYPERBOLIC: "Hyperbolic",
    Rule.SIGMOID_SOFTPLUS: "Sigmoid and softplus", Rule.PIECEWISE: "Piecewise", Rule.SPECIAL: "Error function",
    Rule.NO_RULE: "No rule applies", Rule.SIMPLIFY: "Simplify",
}

#: Above this many operations the final expression is not passed to ``sympy.simplify``.
SIMPLIFY_MAX_OPS = 40


@dataclass(frozen=True)
class Step:
    """One rule application: ``d expr / d var = result``.

    ``parts`` depends on the rule: ``(c, g)`` for a constant multiple ``c g``; the factors for a
    product; ``(numerator, denominator)`` for a quotient; ``(base, exponent)`` for powers and
    exponentials. ``substitution`` holds ``(u, g)`` pairs for the chain rule; its children are the
    outer step(s) in ``u`` followed by the inner derivation(s).
    """

    rule: Rule
    expr: sympy.Expr
    var: sympy.Symbol
    result: sympy.Expr
    parts: tuple[sympy.Expr, ...] = ()
    substitution: tuple[tuple[sympy.Symbol, sympy.Expr], ...] = ()
    children: tuple[Step, ...] = ()
    note: str = ""

    def walk(self) -> Iterator[Step]:
        """This step and every step below it, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass(frozen=True)
class Derivation:
    """A derivative explained: the rule tree, its composed result and the simplified result.

    ``raw`` is what the rules compose to; ``result`` is ``sympy.diff(expr, var)`` tidied by one
    folded simplification. ``agrees`` records that ``raw`` and ``result`` were checked equal.
    """

    expr: sympy.Expr
    var: sympy.Symbol
    root: Step
    raw: sympy.Expr
    result: sympy.Expr
    agrees: bool
    partial: bool  # the expression has other symbols: write the derivative as a partial

    @property
    def rules(self) -> tuple[str, ...]:
        """The rules used, in order of first use."""
        seen: dict[str, None] = {}
        for step in self.root.walk():
            seen.setdefault(step.rule, None)
        return tuple(seen)

    @property
    def simplified(self) -> bool:
        """Whether the final simplify step changes the composed expression."""
        return self.raw != self.result


def derive(expr: sympy.Expr, var: sympy.Symbol) -> Derivation:
    """Differentiate ``expr`` by ``var`` rule by rule.

    Parameters
    ----------
    expr : sympy.Expr
        The expression (symbols real, as the case parser makes them).
    var : sympy.Symbol
        The variable to differentiate by; other symbols are held constant.

    Returns
    -------
    Derivation
        The tree of steps, the composed result ``raw`` and the tidied ``result``, which equals
        ``sympy.diff(expr, var)``.

    Examples
    --------
    >>> import sympy
    >>> x = sympy.Symbol("x", real=True)
    >>> d = derive(sympy.sin(x**2), x)
    >>> d.root.rule.value, d.result
    ('chain', 2*x*cos(x**2))
    >>> tuple(r.value for r in d.rules)
    ('chain', 'trigonometric', 'power')
    """
    expr = sympy.sympify(expr)
    taken = {s.name for s in expr.free_symbols}
    builder = _Builder(_chain_letter(taken), numbered=True)
    root = builder.step(expr, var)
    if builder.count == 1:
        builder = _Builder(_chain_letter(taken), numbered=False)
        root = builder.step(expr, var)
    raw = root.result
    target = sympy.diff(expr, var)
    result = tidy(target)
    agrees = equivalent(raw, target)
    partial = len(expr.free_symbols - {var}) > 0
    return Derivation(expr, var, root, raw, result, agrees, partial)


def _chain_letter(taken: set[str]) -> str:
    for letter in ("u", "v", "s", "t", "z", "q"):
        if letter not in taken and not any(name.startswith(letter + "_") for name in taken):
            return letter
    return "u_c"


@functools.lru_cache(maxsize=4096)
def tidy(expr: sympy.Expr) -> sympy.Expr:
    """One folded simplification, kept only when it is shorter and brings in no new functions.

    Cheap rewrites (common factors, one fraction, factorisation) are always tried;
    ``sympy.simplify`` only up to ``SIMPLIFY_MAX_OPS`` operations and without hyperbolic
    functions (slow there). Step functions are left alone.

    Examples
    --------
    >>> import sympy
    >>> x = sympy.Symbol("x", real=True)
    >>> tidy(sympy.exp(x) / (1 + sympy.exp(x)) - sympy.exp(2 * x) / (1 + sympy.exp(x))**2)
    exp(x)/(exp(x) + 1)**2
    """
    ops = sympy.count_ops(expr)
    if ops == 0 or expr.has(*_NO_SIMPLIFY):
        return expr
    allowed = _function_types(expr)
    candidates = [sympy.factor_terms(expr), sympy.together(expr), sympy.factor(expr)]
    if ops <= SIMPLIFY_MAX_OPS and not expr.has(*_SLOW_SIMPLIFY):
        candidates.append(sympy.simplify(expr))
    best, best_ops = expr, ops
    for candidate in candidates:
        cand_ops = sympy.count_ops(candidate)
        if cand_ops < best_ops and _function_types(candidate) <= allowed:
            best, best_ops = candidate, cand_ops
    return best


_NO_SIMPLIFY = (sympy.Heaviside, sympy.DiracDelta, sympy.Max, sympy.Min, sympy.sign)
#: simplify() spends long on these (hyperbolic rewriting) for little gain
_SLOW_SIMPLIFY = (sympy.tanh, sympy.sinh, sympy.cosh, sympy.asinh, sympy.acosh, sympy.atanh)


def _function_types(expr: sympy.Expr) -> set[type]:
    return {type(f) for f in expr.atoms(sympy.Function)}


def equivalent(a: sympy.Expr, b: sympy.Expr) -> bool:
    """Whether two expressions are equal: structurally, by expansion, by simplify, or numerically.

    The numeric check evaluates both at fixed pseudo-random points (30 digits) and accepts when
    every point where both are finite agrees; it is the fallback for forms SymPy cannot match.

    Examples
    --------
    >>> import sympy
    >>> x = sympy.Symbol("x", real=True)
    >>> equivalent((x + 1)**2, x**2 + 2*x + 1)
    True
    """
    if a == b:
        return True
    diff = a - b
    if diff == 0:
        return True
    if sympy.count_ops(diff) <= 400 and sympy.expand(diff) == 0:
        return True
    if sympy.count_ops(diff) <= SIMPLIFY_MAX_OPS and sympy.simplify(diff) == 0:
        return True
    return _numerically_equal(a, b)


_PROBES = (
    sympy.Rational(3, 7), sympy.Rational(-5, 11), sympy.Rational(9, 13), sympy.Rational(-2, 3),
    sympy.Rational(13, 17), sympy.Rational(-7, 19), sympy.Rational(4, 5), sympy.Rational(-1, 9),
)


def _numerically_equal(a: sympy.Expr, b: sympy.Expr) -> bool:
    symbols = sorted(a.free_symbols | b.free_symbols, key=lambda s: s.name)
    compared = 0
    for shift in range(6):
        subs = {s: _PROBES[(i + shift) % len(_PROBES)] * (1 + shift) for i, s in enumerate(symbols)}
        va, vb = _number(a, subs), _number(b, subs)
        if va is None or vb is None:
            continue
        compared += 1
        gap = sympy.Abs(va - vb).evalf(30)
        if gap > sympy.Float("1e-20", 30) * (1 + sympy.Abs(va).evalf(30)):
            return False
    return compared > 0


def _number(e: sympy.Expr, subs: Mapping[sympy.Symbol, sympy.Expr]) -> sympy.Expr | None:
    """A finite (possibly complex) value of ``e`` at ``subs`` to 30 digits, or None (also where
    SymPy cannot evaluate it there: ``Max`` of a complex value raises)."""
    try:
        value = e.evalf(30, subs=dict(subs))
    except (ValueError, TypeError, ArithmeticError):
        return None
    if not value.is_number or value.has(sympy.nan, sympy.zoo, sympy.oo, -sympy.oo):
        return None
    re, im = value.as_real_imag()
    if not (re.is_Number and im.is_Number):
        return None
    return value


class _Builder:
    """Builds the step tree; numbers the chain-rule substitutions ``u_1, u_2, ...``."""

    def __init__(self, letter: str, *, numbered: bool) -> None:
        self.letter = letter
        self.numbered = numbered
        self.count = 0

    def fresh(self) -> sympy.Symbol:
        self.count += 1
        name = f"{self.letter}_{self.count}" if self.numbered else self.letter
        return sympy.Dummy(name, real=True)

    def step(self, e: sympy.Expr, v: sympy.Symbol) -> Step:
        if not e.has(v):
            note = f"{e} is held constant" if isinstance(e, sympy.Symbol) else ""
            return Step(Rule.CONSTANT, e, v, sympy.S.Zero, note=note)
        if e == v:
            return Step(Rule.VARIABLE, e, v, sympy.S.One)
        if e.is_Add:
            return self._sum(e, v)
        if e.is_Mul:
            return self._mul(e, v)
        if e.is_Pow:
            return self._pow(e, v)
        if type(e) in _CATEGORY:
            return self._function(e, v)
        return self._no_rule(e, v, f"no rule of this explainer applies to {type(e).__name__}")

    # rules ---------------------------------------------------------------------------------
    def _no_rule(self, e: sympy.Expr, v: sympy.Symbol, why: str) -> Step:
        return Step(Rule.NO_RULE, e, v, sympy.diff(e, v), note=why + "; SymPy's result")

    def _sum(self, e: sympy.Expr, v: sympy.Symbol) -> Step:
        children = tuple(self.step(term, v) for term in e.args)
        return Step(Rule.SUM, e, v, sympy.Add(*(c.result for c in children)), children=children)

    def _mul(self, e: sympy.Expr, v: sympy.Symbol) -> Step:
        constant = [f for f in e.args if not f.has(v)]
        varying = [f for f in e.args if f.has(v)]
        if constant:
            c, g = sympy.Mul(*constant), sympy.Mul(*varying)
            child = self.step(g, v)
            return Step(Rule.CONSTANT_MULTIPLE, e, v, c * child.result, parts=(c, g), children=(child,))
        below = [f.is_Pow and f.exp.is_Rational and f.exp.is_negative for f in varying]
        if any(below):
            numerator = sympy.Mul(*(f for f, d in zip(varying, below) if not d))
            denominator = sympy.Mul(*(f.base ** (-f.exp) for f, d in zip(varying, below) if d))
            dn, dd = self.step(numerator, v), self.step(denominator, v)
            result = (dn.result * denominator - numerator * dd.result) / denominator**2
            return Step(Rule.QUOTIENT, e, v, result, parts=(numerator, denominator), children=(dn, dd))
        children = tuple(self.step(f, v) for f in varying)
        terms = []
        for i, child in enumerate(children):
            others = [f for j, f in enumerate(varying) if j != i]
            terms.append(sympy.Mul(child.result, *others))
        return Step(Rule.PRODUCT, e, v, sympy.Add(*terms), parts=tuple(varying), children=children)

    def _pow(self, e: sympy.Expr, v: sympy.Symbol) -> Step:
        base, n = e.base, e.exp
        if not n.has(v):
            if base == v:
                note = ""
                if n == sympy.S.Half:
                    note = "square root: x^(1/2)"
                elif n.is_negative:
                    note = "negative power: a reciprocal"
                return Step(Rule.POWER, e, v, n * base ** (n - 1), parts=(base, n), note=note)
            return self._chain(e, v, [0])
        if not base.has(v):
            if n == v:
                note = "d/dx a^x = a^x ln a"
                return Step(Rule.EXP_LOG, e, v, e * sympy.log(base), parts=(base, n), note=note)
            return self._chain(e, v, [1])
        db, dn = self.step(base, v), self.step(n, v)
        result = e * (dn.result * sympy.log(base) + n * db.result / base)
        note = "logarithmic differentiation: f^g = exp(g ln f), so (f^g)' = f^g (g' ln f + g f'/f)"
        return Step(Rule.EXP_LOG, e, v, result, parts=(base, n), children=(db, dn), note=note)

    def _function(self, e: sympy.Function, v: sympy.Symbol) -> Step:
        func = type(e)
        if func is sympy.Abs and not e.args[0].is_extended_real:
            return self._no_rule(e, v, "|u| of an argument not known to be real")
        varying = [i for i, a in enumerate(e.args) if a.has(v)]
        if len(varying) == 1 and e.args[varying[0]] == v:
            return Step(_CATEGORY[func], e, v, sympy.diff(e, v), note=_note(func))
        return self._chain(e, v, varying)

    def _chain(self, e: sympy.Expr, v: sympy.Symbol, positions: list[int]) -> Step:
        """``e`` with the arguments at ``positions`` replaced by fresh variables ``u_i``."""
        args = list(e.args)
        subs: list[tuple[sympy.Symbol, sympy.Expr]] = []
        for i in positions:
            u = self.fresh()
            subs.append((u, args[i]))
            args[i] = u
        outer_expr = e.func(*args)
        back = dict(subs)
        outers: list[Step] = []
        inners: list[Step] = []
        terms = []
        for u, g in subs:
            outer = self.step(outer_expr, u)
            inner = self.step(g, v)
            outers.append(outer)
            inners.append(inner)
            terms.append(outer.result.subs(back, simultaneous=True) * inner.result)
        children = tuple(s for pair in zip(outers, inners) for s in pair)
        return Step(
            Rule.CHAIN, e, v, sympy.Add(*terms), parts=(outer_expr,), substitution=tuple(subs),
            children=children,
        )


def _note(func: type) -> str:
    return KINK_NOTES.get(func, "")


# ----------------------------------------------------------------------------------------------
# kinks at a point


def kinks(expr: sympy.Expr, point: Mapping[sympy.Symbol, sympy.Expr]) -> tuple[str, ...]:
    """Notes for every kinked function of ``expr`` that sits exactly on its kink at ``point``.

    Examples
    --------
    >>> import sympy
    >>> from derivcheck.language.functions import relu
    >>> x = sympy.Symbol("x", real=True)
    >>> kinks(relu(x) + x, {x: 0})[0].startswith("relu(x) at x = 0")
    True
    """
    from derivcheck.engines.exact import kinks as switching  # where a kink switches is the exact engine's call

    subs = {symbol: sympy.sympify(value) for symbol, value in point.items()}
    notes: list[str] = []
    for node in switching([expr], subs):
        what = "a tie" if isinstance(node, (sympy.Max, sympy.Min)) else "argument is 0"
        notes.append(f"{node} at {_where(point)}: {what}; {KINK_NOTES.get(type(node), 'not differentiable there')}")
    return tuple(dict.fromkeys(notes))


def _where(point: Mapping[sympy.Symbol, sympy.Expr]) -> str:
    return ", ".join(f"{s} = {v}" for s, v in point.items())
