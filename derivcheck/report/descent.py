"""Gradient descent as a teacher shows it: exact iterates (rationals when the inputs are), the
same iteration in float64, and the distance to the minimiser when it has a closed form.

For SSE(w) = 14 (w - 2)^2 with rate 1/56 from w = 0, the iterates are w_n = 2 - 1/2^(n-1):
:func:`run_descent` finds them exactly, and for a quadratic of one variable it also gives that
closed form, w_n = w* + (w_0 - w*) (1 - rate f'')^n.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import sympy

from derivcheck.report.mathtext import display, exact_value, inline, latex, md_text, symbol_latex, value_text

#: exact values with more operations than this continue as 30-digit floats
EXACT_MAX_OPS = 40
#: gradients of a higher polynomial degree are not solved for a minimiser
SOLVE_MAX_DEGREE = 4


@dataclass(frozen=True)
class Iterate:
    """One step: w_n exactly and in float64, f(w_n), grad f(w_n) and the distance to w*."""

    n: int
    exact: tuple[sympy.Expr, ...]
    numeric: tuple[float, ...]
    value: sympy.Expr
    gradient: tuple[sympy.Expr, ...]
    distance: sympy.Expr | None


@dataclass(frozen=True)
class DescentRun:
    """The iterates w_0 .. w_steps of w <- w - rate grad f(w)."""

    symbols: tuple[sympy.Symbol, ...]
    rate: sympy.Expr
    iterates: tuple[Iterate, ...]
    minimiser: tuple[sympy.Expr, ...] | None
    exact: bool  # every iterate stayed exact (no float fallback)
    closed_form: sympy.Expr | None  # w_n as a function of n, for a 1-D quadratic
    ratio: sympy.Expr | None  # 1 - rate f'': how each step scales the distance to w*
    n: sympy.Symbol


def run_descent(
    f: sympy.Expr,
    symbols: Sequence[sympy.Symbol],
    rate: sympy.Expr,
    start: Sequence[sympy.Expr],
    steps: int,
) -> DescentRun:
    """Iterate ``w <- w - rate * grad f(w)`` exactly and in float64.

    Parameters
    ----------
    f : sympy.Expr
        The scalar function.
    symbols : sequence of sympy.Symbol
        Its variables, in the order of ``start``.
    rate : sympy.Expr
        The learning rate (a positive constant).
    start : sequence of sympy.Expr
        w_0.
    steps : int
        How many updates.

    Examples
    --------
    >>> import sympy
    >>> w = sympy.Symbol("w", real=True)
    >>> run = run_descent(14 * (w - 2)**2, [w], sympy.Rational(1, 56), [0], 3)
    >>> [it.exact[0] for it in run.iterates]
    [0, 1, 3/2, 7/4]
    >>> run.closed_form
    2 - 2/2**n
    """
    symbols = tuple(symbols)
    rate = sympy.sympify(rate)
    gradient = [sympy.diff(f, s) for s in symbols]
    minimiser = _minimiser(f, gradient, symbols)
    point = tuple(sympy.sympify(v) for v in start)
    floats = [float(v) for v in point]
    numeric_grad = _float_gradient(gradient, symbols)
    iterates: list[Iterate] = []
    exact = True
    for k in range(steps + 1):
        subs = dict(zip(symbols, point))
        g = tuple(_settle(d.xreplace(subs)) for d in gradient)
        value = _settle(f.xreplace(subs))
        distance = None
        if minimiser is not None:
            distance = _settle(sympy.sqrt(sum((a - b) ** 2 for a, b in zip(point, minimiser))))
        iterates.append(Iterate(k, point, tuple(floats), value, g, distance))
        exact = exact and all(v.is_Rational for v in point)
        if k == steps:
            break
        point = tuple(_settle(p - rate * d) for p, d in zip(point, g))
        try:
            step_grad = numeric_grad(floats)
        except NotImplementedError:  # a function without numpy evaluation: no float64 run
            step_grad = [math.nan] * len(floats)
        floats = [a - float(rate) * b for a, b in zip(floats, step_grad)]
    n = sympy.Symbol("n", integer=True, nonnegative=True)
    closed, ratio = _closed_form(f, symbols, rate, iterates[0].exact, minimiser, n)
    return DescentRun(symbols, rate, tuple(iterates), minimiser, exact, closed, ratio, n)


def _settle(value: sympy.Expr) -> sympy.Expr:
    value = sympy.sympify(value)
    if value.is_Rational or sympy.count_ops(value) <= EXACT_MAX_OPS:
        return value
    return value.evalf(30)


def _float_gradient(gradient: list[sympy.Expr], symbols: tuple[sympy.Symbol, ...]):
    """float64 gradient evaluation (plain Python floats, like a hand-written training loop)."""
    from derivcheck.engines.numpy_eval import numeric

    funcs = [numeric(g, symbols) for g in gradient]

    def grad(values: list[float]) -> list[float]:
        return [float(fn(*values)) for fn in funcs]

    return grad


def _minimiser(
    f: sympy.Expr, gradient: list[sympy.Expr], symbols: tuple[sympy.Symbol, ...]
) -> tuple[sympy.Expr, ...] | None:
    """The real stationary point with the lowest f, for polynomial gradients of low degree."""
    if len(symbols) > 3 or not all(g.is_polynomial(*symbols) for g in gradient):
        return None
    if any(sympy.Poly(g, *symbols).total_degree() > SOLVE_MAX_DEGREE for g in gradient if g != 0):
        return None
    try:
        solutions = sympy.solve(gradient, symbols, dict=True)
    except (NotImplementedError, ValueError):
        return None
    candidates = []
    for sol in solutions:
        point = tuple(sympy.sympify(sol.get(s, s)) for s in symbols)
        if any(p.free_symbols or not p.is_real for p in point):
            continue  # a line of minimisers, or a complex root
        candidates.append(point)
    if not candidates:
        return None
    return min(candidates, key=lambda p: float(f.xreplace(dict(zip(symbols, p)))))


def _closed_form(
    f: sympy.Expr,
    symbols: tuple[sympy.Symbol, ...],
    rate: sympy.Expr,
    start: tuple[sympy.Expr, ...],
    minimiser: tuple[sympy.Expr, ...] | None,
    n: sympy.Symbol,
) -> tuple[sympy.Expr | None, sympy.Expr | None]:
    """w_n = w* + (w_0 - w*) (1 - rate f'')^n for a quadratic of one variable, and the ratio."""
    if len(symbols) != 1 or minimiser is None:
        return None, None
    (w,) = symbols
    curvature = sympy.diff(f, w, 2)
    if curvature.free_symbols or not f.is_polynomial(w):
        return None, None
    ratio = 1 - rate * curvature
    w_star, w0 = minimiser[0], start[0]
    return sympy.simplify(w_star + (w0 - w_star) * ratio**n), ratio


def converges(run: DescentRun) -> bool | None:
    """Whether the distance to the minimiser shrank over the run (None without a minimiser)."""
    first, last = run.iterates[0].distance, run.iterates[-1].distance
    if first is None or last is None:
        return None
    a, b = float(first), float(last)
    if not (math.isfinite(a) and math.isfinite(b)):
        return None
    return b < a or a == 0


# ----------------------------------------------------------------------------------------------
# markdown


def _tuple(values: Sequence[sympy.Expr]) -> str:
    texts = [value_text(v) for v in values]
    return texts[0] if len(texts) == 1 else "(" + ", ".join(texts) + ")"


def descent_markdown(
    f: sympy.Expr,
    symbols: Sequence[sympy.Symbol],
    rate: sympy.Expr,
    start: Sequence[sympy.Expr],
    steps: int,
) -> str:
    """The iterates of w <- w - rate grad f(w) as markdown: exact and float64, f, |grad f| and the
    distance to the minimiser, with the closed form for a quadratic of one variable.

    Examples
    --------
    >>> import sympy
    >>> w = sympy.Symbol("w", real=True)
    >>> text = descent_markdown(14 * (w - 2)**2, [w], sympy.Rational(1, 56), [0], 2)
    >>> "| 2 | 1.5 | 1.5 | 3.5 | 14 | 0.5 |" in text
    True
    """
    run = run_descent(f, symbols, rate, start, steps)
    names = ", ".join(s.name for s in run.symbols)
    w = "w" if len(run.symbols) > 1 else symbol_latex(run.symbols[0])
    update = f"{w}_{{n+1}} = {w}_{{n}} - {latex(run.rate)}" + r" \, \nabla f" + f"({w}_{{n}})"
    parts = [
        (f"Update: {inline(update)}, "
         f"from {md_text(names)} = {_tuple(start)}, {steps} steps, "
         "in exact arithmetic and in float64.")
    ]
    if run.minimiser is not None:
        parts.append(f"The minimiser (where ∇f = 0): {md_text(names)} = {_tuple(run.minimiser)}.")
    if run.closed_form is not None and run.ratio is not None and run.minimiser is not None:
        star, first = latex(run.minimiser[0]), latex(run.iterates[0].exact[0])
        formula = (
            f"{w}_{{n}} = {w}^{{*}} + ({w}_{{0}} - {w}^{{*}}) (1 - \\eta f'')^{{n}} = "
            f"{star} + ({first} - {star}) \\left({latex(run.ratio)}\\right)^{{n}} = {latex(run.closed_form)}"
        )
        parts.append(
            "For a quadratic, each step multiplies the distance to the minimiser by the same factor "
            f"1 - η f'' = {value_text(run.ratio)} (η the rate):\n\n" + display(formula)
        )
    v = run.symbols[0].name if len(run.symbols) == 1 else "(" + ", ".join(s.name for s in run.symbols) + ")"
    header = f"| n | {v}_n (exact) | {v}_n (float64) | f({v}_n) | ‖∇f({v}_n)‖ | distance to minimiser |"
    lines = [header, "| --- | --- | --- | --- | --- | --- |"]
    for it in run.iterates:
        exact = ", ".join(value_text(v) for v in it.exact)
        floats = ", ".join(f"{v:.12g}" for v in it.numeric)
        grad_norm = exact_value(sympy.sqrt(sum(g**2 for g in it.gradient)), {})
        dist = "—" if it.distance is None else value_text(it.distance)
        lines.append(f"| {it.n} | {exact} | {floats} | {value_text(it.value)} | {value_text(grad_norm)} | {dist} |")
    parts.append("\n".join(lines))
    verdict = converges(run)
    if verdict is not None:
        parts.append("The distance to the minimiser shrinks: descent converges at this rate." if verdict
                     else "The distance to the minimiser does not shrink: the rate is too large.")
    if not run.exact:
        parts.append("(Exact values that grow long continue as 30-digit decimals.)")
    return "\n\n".join(parts)
