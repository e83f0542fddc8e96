"""The exact engine: SymPy derivatives, evaluated at exact points to high precision.

Points are exact rationals. ``evaluate`` walks the expression once per point over mpmath at two
working precisions, sharing every repeated sub-expression (across all the entries evaluated at
the same ``Point``); when the two agree to more than ``DIGITS`` digits the value is certified,
and otherwise (heavy cancellation, a function it does not know) SymPy's ``evalf`` decides, which
raises its working precision until it has the digits. Either way every value is correct to
``DIGITS`` significant digits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import sympy
from sympy.core.relational import Relational

from derivcheck.engines.exact_eval import Failure, Point, Unsupported
from derivcheck.errors import EvaluationError
from derivcheck.language.registry import KINKED
from derivcheck.model import Case, Quantity

#: Significant digits of every exact value (the issue asks for at least 30).
DIGITS = 34


@dataclass(frozen=True, eq=False)
class Symbolic:
    """A case's derivatives as SymPy expressions, derived once and evaluated at every point."""

    symbols: tuple[sympy.Symbol, ...]
    outputs: tuple[sympy.Expr, ...]
    jacobian: np.ndarray  # (m, n) object array
    hessian: np.ndarray | None  # (m, n, n) object array, when second derivatives are asked

    @property
    def n(self) -> int:
        return len(self.symbols)


def derive(symbols: Sequence[sympy.Symbol], outputs: Sequence[sympy.Expr], *, order: int = 1) -> Symbolic:
    """Differentiate every output by every input (and twice when ``order`` is 2).

    Examples
    --------
    >>> x, y = sympy.symbols("x y", real=True)
    >>> derive([x, y], [x**2 * y]).jacobian.tolist()
    [[2*x*y, x**2]]
    """
    m, n = len(outputs), len(symbols)
    zero = sympy.Integer(0)
    jacobian = np.empty((m, n), dtype=object)
    for i, out in enumerate(outputs):
        free = out.free_symbols
        real = _as_real(out)
        for j, sym in enumerate(symbols):
            jacobian[i, j] = _diff(real, sym) if sym in free else zero
    hessian = None
    if order >= 2:
        hessian = np.empty((m, n, n), dtype=object)
        for i in range(m):
            for j in range(n):
                d = jacobian[i, j]
                free = d.free_symbols
                real = _as_real(d)
                for k in range(j, n):
                    value = _diff(real, symbols[k]) if symbols[k] in free else zero
                    hessian[i, j, k] = hessian[i, k, j] = value
    return Symbolic(tuple(symbols), tuple(outputs), jacobian, hessian)


class _RealAbs(sympy.Function):
    """|u| for a u that is real wherever the case is defined, which SymPy cannot always tell
    (acos(0.9 sin x)); its derivative is then sign(u) u', not SymPy's re/im formula."""

    nargs = 1

    def fdiff(self, argindex: int = 1) -> sympy.Expr:
        return _RealSign(self.args[0])


class _RealSign(sympy.Function):
    """sign(u) for a real u; its derivative is 2 DiracDelta(u) u'."""

    nargs = 1

    def fdiff(self, argindex: int = 1) -> sympy.Expr:
        return 2 * sympy.DiracDelta(self.args[0])


def _as_real(expr: sympy.Expr) -> sympy.Expr:
    """``expr`` with |u| and sign(u) marked real (every value of a case is real or an error)."""
    if not expr.has(sympy.Abs, sympy.sign):
        return expr
    return expr.replace(sympy.Abs, _RealAbs).replace(sympy.sign, _RealSign)


def _diff(expr: sympy.Expr, symbol: sympy.Symbol) -> sympy.Expr:
    derivative = sympy.diff(expr, symbol)
    if derivative.has(_RealAbs, _RealSign):
        derivative = derivative.replace(_RealAbs, sympy.Abs).replace(_RealSign, sympy.sign)
    return derivative


def derive_sequence(expr: sympy.Expr, symbols: Sequence[sympy.Symbol]) -> sympy.Expr:
    """``expr`` differentiated by ``symbols`` in Leibniz order: the last one first.

    Examples
    --------
    >>> x, y = sympy.symbols("x y", real=True)
    >>> derive_sequence(x**3 * y**2, [x, x, y])
    12*x*y
    """
    for symbol in reversed(list(symbols)):
        expr = _diff(_as_real(expr), symbol) if symbol in expr.free_symbols else sympy.Integer(0)
    return expr


def derive_case(case: Case, *, order: int | None = None) -> Symbolic:
    """``derive`` for a loaded case, with second derivatives when it asks for them."""
    wants_hessian = case.order >= 2 or any(c.quantity in (Quantity.HESSIAN, Quantity.LAPLACIAN) for c in case.claims)
    return derive(case.symbols, case.outputs, order=order or (2 if wants_hessian else 1))


def substitution(symbols: Sequence[sympy.Symbol], point: Sequence[sympy.Expr]) -> Point:
    """The map from each input symbol to its exact coordinate (a read-only dict).

    Values computed by ``evaluate`` at it are remembered on it, so the entries of a Jacobian
    share the work on their common sub-expressions.
    """
    return Point(zip(symbols, point))


def evaluate(expr: sympy.Expr, subs: dict, *, digits: int = DIGITS) -> sympy.Float:
    """``expr`` at the exact point ``subs`` to ``digits`` significant digits.

    Raises
    ------
    EvaluationError
        When the value is not a finite real number; the message names the smallest
        sub-expression responsible (for example ``log(x - 1)`` at x = 1).

    Examples
    --------
    >>> x = sympy.Symbol("x", real=True)
    >>> evaluate(sympy.sin(x), {x: sympy.Rational(1, 2)})
    0.4794255386042030002732879352155714
    >>> evaluate(sympy.log(x - 1), {x: sympy.Rational(1, 2)})
    Traceback (most recent call last):
    ...
    derivcheck.errors.EvaluationError: 'log(x - 1)' is not a real number (log of -0.5) at this point
    """
    expr = expr if isinstance(expr, sympy.Basic) else sympy.sympify(expr)
    point = subs if isinstance(subs, Point) else Point(subs)
    try:
        value = point.certified(expr, digits)
    except Unsupported:
        value = None  # a node the fast walk does not know: evalf decides
    if isinstance(value, Failure):
        raise value.error()
    if value is not None:
        return sympy.Float(value, digits)
    return _evalf(expr, subs, digits)


def _evalf(expr: sympy.Expr, subs: dict, digits: int) -> sympy.Float:
    """SymPy's own evaluation: slower, but it raises its precision until it has the digits."""
    try:
        value = expr.xreplace({k: sympy.sympify(v) for k, v in subs.items()})
        number = value.evalf(digits, chop=False)
    except (ArithmeticError, ValueError, TypeError) as exc:  # SymPy signals some poles this way
        raise EvaluationError(f"{_culprit(expr, subs)} cannot be evaluated here ({exc})") from None
    if not _finite_real(number):
        real, imaginary = number.as_real_imag()
        if _finite_real(real) and imaginary.is_Number and abs(imaginary) <= abs(real) * sympy.Float(10) ** -digits:
            number = real  # a spurious imaginary zero, such as 0.e-44*I
        else:
            raise EvaluationError(f"{_culprit(expr, subs)} is {_describe(number)} at this point")
    return sympy.Float(number, digits)


def evaluate_array(exprs: np.ndarray, subs: dict, *, digits: int = DIGITS) -> np.ndarray:
    """``evaluate`` over an object array, keeping its shape."""
    point = subs if isinstance(subs, Point) else Point(subs)
    out = np.empty(exprs.shape, dtype=object)
    for index in np.ndindex(exprs.shape):
        out[index] = evaluate(exprs[index], point, digits=digits)
    return out


def kinks(outputs: Sequence[sympy.Expr], subs: dict) -> list[sympy.Expr]:
    """Sub-expressions whose derivative jumps exactly at this point (relu(0), |0|, max(a, a)).

    Examples
    --------
    >>> x, y = sympy.symbols("x y", real=True)
    >>> kinks([sympy.Abs(x) + sympy.Max(x, y)], {x: 0, y: 1})
    [Abs(x)]
    """
    point = subs if isinstance(subs, Point) else Point(subs)
    found: list[sympy.Expr] = []
    seen: set[sympy.Basic] = set()
    for out in outputs:
        stack = [out]
        while stack:  # each distinct node once, in preorder
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            switches = (isinstance(node, KINKED) and _switches_here(node, point)) or (
                isinstance(node, sympy.Piecewise) and _on_switching_set(node, point))
            if switches:
                found.append(node)
            stack.extend(reversed(node.args))
    return found


def _switches_here(node: sympy.Expr, subs: dict) -> bool:
    args = node.args
    if isinstance(node, (sympy.Max, sympy.Min)):
        values = [_value_or_none(a, subs) for a in args]
        extreme = (max if isinstance(node, sympy.Max) else min)([v for v in values if v is not None], default=None)
        return extreme is not None and sum(1 for v in values if v is not None and (v - extreme).is_zero) > 1
    value = _value_or_none(args[0], subs)
    return value is not None and bool(value.is_zero)


def _on_switching_set(node: sympy.Piecewise, point: Point) -> bool:
    """Whether a where()'s condition sits exactly on its boundary here (lhs = rhs)."""
    for _, condition in node.args:  # type: ignore[attr-defined]
        for relation in condition.atoms(Relational) if not isinstance(condition, Relational) else [condition]:
            value = _value_or_none(relation.lhs - relation.rhs, point)
            if value is not None and value.is_zero:
                return True
    return False


def _value_or_none(expr: sympy.Expr, subs: dict) -> sympy.Float | None:
    try:
        return evaluate(expr, subs)
    except EvaluationError:
        return None


def _finite_real(number: sympy.Expr) -> bool:
    return bool(number.is_Number and number.is_real and number.is_finite)


def _describe(number: sympy.Expr) -> str:
    if number.has(sympy.zoo, sympy.oo, -sympy.oo):
        return "infinite (division by zero or a pole)"
    if number.has(sympy.nan):
        return "undefined (nan)"
    if number.is_Number is False and number.free_symbols:
        return "not a number"
    return f"not a real number ({sympy.N(number, 6)})"


def _culprit(expr: sympy.Expr, subs: dict) -> str:
    """The smallest sub-expression that is not finite and real at the point."""
    bad = expr
    stack = [expr]
    while stack:
        node = stack.pop()
        try:
            value = node.xreplace(subs).evalf(15)
        except (ZeroDivisionError, ValueError, TypeError):
            value = sympy.nan
        if not _finite_real(value):
            bad = node
            stack = list(node.args)
    return repr(str(bad))
