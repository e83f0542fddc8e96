"""Property-based proof: on random expression trees over the supported functions, at random points
inside their domains, the exact, autograd and numeric engines always agree (no false alarm), the
fast exact evaluator agrees with SymPy's evalf, and random single mutations of a correct claim are
always caught.

The trees are built from domain-safe pieces (log of 1 + u^2, asin of 0.9 tanh(u), a denominator
of 2 + sin(u), ...), so every real point is inside the domain; kinked functions (abs, max, relu,
heaviside) are included, and a point that happens to sit on a kink is skipped.
``DERIVCHECK_FUZZ_SCALE=10`` runs ten times the examples; ``benchmarks/soak.py`` runs thousands.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import pytest
import sympy
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sympy.printing.str import StrPrinter

from derivcheck.cases.files import loads
from derivcheck.cases.run import Status, run_case
from derivcheck.engines import exact as symbolic
from derivcheck.errors import EvaluationError
from derivcheck.verdict import Source, Verdict

SCALE = int(os.environ.get("DERIVCHECK_FUZZ_SCALE", "1"))
RANDOM = os.environ.get("DERIVCHECK_FUZZ_RANDOM") == "1"  # the soak script explores new examples
VARIABLES = ("x", "y", "z")


def properties(examples: int) -> settings:
    return settings(max_examples=examples * SCALE, deadline=None, derandomize=not RANDOM,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


# Domain-safe random expressions, as case-language text ------------------------------------------------
SMOOTH_UNARY = ("sin({})", "cos({})", "tanh({})", "atan({})", "erf({})", "sigmoid({})", "softplus({})",
                "asinh({})", "exp(tanh({}))", "cosh(2*tanh({}))", "sinh(sin({}))", "log(1 + ({})^2)",
                "log(2 + cos({}))", "sqrt(1 + ({})^2)", "asin(0.9*tanh({}))", "acos(0.9*sin({}))",
                "atanh(0.9*tanh({}))", "acosh(2 + ({})^2)", "tan(tanh({}))", "({})^2", "({})^3", "-({})")
SMOOTH_BINARY = ("({} + {})", "({} - {})", "({} * {})", "{} / (1 + ({})^2)", "{} / (2 + sin({}))",
                 "(1 + ({})^2)^tanh({})", "atan2({}, 1 + ({})^2)", "{} * exp(-({})^2)")
KINKED = ("abs({})", "relu({})", "heaviside({}) * 3 + {}", "max({}, {})", "min({}, {})")


def expressions(*, kinked: bool) -> st.SearchStrategy[str]:
    leaves = st.sampled_from(VARIABLES) | st.sampled_from(["2", "3", "0.5", "pi", "E", "(-1)"])

    def extend(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        unary = st.tuples(st.sampled_from(SMOOTH_UNARY), children).map(lambda t: t[0].format(t[1]))
        binary = st.tuples(st.sampled_from(SMOOTH_BINARY), children, children).map(lambda t: t[0].format(t[1], t[2]))
        options = unary | binary
        if kinked:
            def kink(t: tuple[str, str, str]) -> str:
                return t[0].format(t[1], t[2]) if t[0].count("{}") == 2 else t[0].format(t[1])
            options = options | st.tuples(st.sampled_from(KINKED), children, children).map(kink)
        return options

    # at least one variable, so there is something to differentiate
    return st.recursive(leaves, extend, max_leaves=8).filter(lambda t: re.search(r"\b[xyz]\b", t) is not None)


POINTS = st.tuples(*[st.integers(-2000, 2000).map(lambda k: k / 1000) for _ in VARIABLES])


def case_for(f: str, point: tuple[float, ...], *, claims: str = "", extra: str = "", case_id: str = "prop"):
    at = ", ".join(f"{v} = {c!r}" for v, c in zip(VARIABLES, point))
    text = f'[[case]]\nid = "{case_id}"\nvars = {list(VARIABLES)!r}\nf = "{f}"\nat = {{ {at} }}\n{extra}\n'
    if claims:
        text += f"[case.claims]\n{claims}\n"
    cases, errors = loads(text.replace("'", '"'), path="property.toml")
    assert errors == [], errors
    return cases[0]


def on_a_kink(case) -> bool:
    point = symbolic.substitution(case.symbols, case.points[0])
    return bool(symbolic.kinks(case.outputs, point))


def huge(case) -> bool:
    """Values beyond what float64 differences can resolve are not this property's business."""
    point = symbolic.substitution(case.symbols, case.points[0])
    derived = symbolic.derive_case(case)
    values = [case.outputs[0], *derived.jacobian.flat]
    return any(abs(symbolic.evaluate(v, point)) > 1e8 for v in values)


# The three engines agree ------------------------------------------------------------------------------------
@properties(150)
@given(expressions(kinked=True), POINTS, st.booleans(), st.booleans())
def test_exact_autograd_and_numeric_always_agree(f, point, second_order, with_direction):
    extra = ("order = 2\n" if second_order else "") + ("directions = [[1, -2, 2]]\n" if with_direction else "")
    case = case_for(f, point, extra=extra)
    assume(not on_a_kink(case))
    assume(not huge(case))
    result = run_case(case)
    false_alarms = [r for r in result.rows if r.verdict is not Verdict.PASS]
    assert result.status is Status.OK, (f, point, result.message, false_alarms[:3])
    assert result.verdict is Verdict.PASS
    assert result.rows and all(r.exact is not None for r in result.rows)


# The fast exact evaluator agrees with evalf ---------------------------------------------------------------
@properties(150)
@given(expressions(kinked=True), POINTS)
def test_fast_exact_values_agree_with_evalf_to_30_digits(f, point):
    case = case_for(f, point)
    derived = symbolic.derive(case.symbols, case.outputs, order=1)
    subs = symbolic.substitution(case.symbols, case.points[0])
    for expr in [case.outputs[0], *derived.jacobian.flat]:
        try:
            fast = symbolic.evaluate(expr, subs)
        except EvaluationError as exc:  # DiracDelta at 0, say: evalf must agree there is no value
            with pytest.raises(EvaluationError):
                symbolic._evalf(expr, dict(subs), symbolic.DIGITS)
            assert str(exc)
            continue
        try:
            slow = symbolic._evalf(expr, dict(subs), symbolic.DIGITS)
        except EvaluationError:
            # evalf leaves DiracDelta(tan(tanh(1/1000))) unevaluated: it cannot tell it is 0
            assert expr.has(sympy.DiracDelta), (expr, fast)
            continue
        assert abs(fast - slow) <= abs(slow) * sympy.Float("1e-30", 40) + sympy.Float("1e-60", 40), (expr, fast, slow)


# Mutations of correct claims are caught --------------------------------------------------------------------
class CaseLanguage(StrPrinter):
    """SymPy expressions printed back as case-language text (smooth functions only)."""

    def _print_Abs(self, expr):  # pragma: no cover - smooth trees only
        return f"abs({self._print(expr.args[0])})"


def to_text(expr: sympy.Expr) -> str:
    return CaseLanguage().doprint(expr)


@dataclass(frozen=True)
class Mutation:
    kind: str
    entry: int
    choice: int


MUTATIONS = st.builds(Mutation, st.sampled_from(["sign", "factor", "dropped term", "swapped variable"]),
                      st.integers(0, 2), st.integers(0, 10))


def mutate(expr: sympy.Expr, mutation: Mutation) -> sympy.Expr | None:
    if mutation.kind == "sign":
        return -expr
    if mutation.kind == "factor":
        return expr * (2, sympy.Rational(1, 2), 3, 10, sympy.Rational(11, 10))[mutation.choice % 5]
    if mutation.kind == "dropped term":
        if not isinstance(expr, sympy.Add):
            return None
        terms = list(expr.args)
        del terms[mutation.choice % len(terms)]
        return sympy.Add(*terms)
    symbols = sorted(expr.free_symbols, key=str)
    if not symbols:
        return None
    a = symbols[mutation.choice % len(symbols)]
    b = next(s for s in sympy.symbols(VARIABLES, real=True) if s != a)
    return expr.xreplace({a: b, b: a})


@properties(120)
@given(expressions(kinked=False), POINTS, MUTATIONS)
def test_every_single_mutation_of_a_correct_claim_is_caught(f, point, mutation):
    case = case_for(f, point)
    assume(not huge(case))
    derived = symbolic.derive(case.symbols, case.outputs)
    gradient = list(derived.jacobian[0])
    candidates = [j for j, g in enumerate(gradient) if g != 0]
    if mutation.kind == "dropped term":
        candidates = [j for j in candidates if isinstance(gradient[j], sympy.Add)] or candidates
    assume(candidates)
    entry = candidates[mutation.entry % len(candidates)]
    wrong = mutate(gradient[entry], mutation)
    assume(wrong is not None)
    subs = symbolic.substitution(case.symbols, case.points[0])
    right_value = symbolic.evaluate(gradient[entry], subs)
    scale = max(abs(symbolic.evaluate(g, subs)) for g in gradient)
    assume(abs(symbolic.evaluate(wrong, subs) - right_value) > 1e-6 * max(scale, 1e-3))

    texts = [to_text(g) for g in gradient]
    texts[entry] = to_text(wrong)
    claims = "grad = [" + ", ".join(f'"{t}"' for t in texts) + "]"
    mutated = case_for(f, point, claims=claims)
    result = run_case(mutated)

    flagged = [r.index for r in result.rows if Source.CLAIM in r.wrong]
    assert flagged == [(0, entry)], (f, mutation, texts, result.message)
    assert result.status is Status.FAILED
    assert "wrong claim" in result.message


# False alarms the soak found once, kept as regressions ---------------------------------------------------
def test_rounding_of_an_exact_zero_derivative_is_no_false_alarm():
    # the exact gradient is 0 everywhere in the quantity; autograd's cos(pi/2) leaves 6e-18
    result = run_case(case_for("sin((x + acos(0.9*sin(x))))", (0.0, 0.0, 0.0)))
    assert result.status is Status.OK, result.message


def test_steepest_ascent_next_to_a_kink_is_no_false_alarm():
    # numeric stencils step over the kink 0.001 away; forward mode witnesses the promise instead
    result = run_case(case_for("min(y, abs(x))", (0.001, 0.002, 0.0)))
    assert result.status is Status.OK, result.message
