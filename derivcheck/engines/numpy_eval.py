"""Expressions of the case language evaluated with NumPy over arrays of points (plots, descent).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import sympy

from derivcheck.language.registry import BY_NODE, SPECS

Numeric = Callable[..., Any]


#: SymPy function classes and the NumPy code that evaluates them element-wise (the registry's)
NUMPY_FUNCTIONS: dict[type, Callable[..., Any]] = {spec.node: spec.numpy for spec in SPECS if spec.numpy is not None}
_heaviside = BY_NODE[sympy.Heaviside].numpy


Numeric = Callable[..., Any]


def numeric(expr: sympy.Expr, symbols: Sequence[sympy.Symbol]) -> Numeric:
    """A vectorised numpy function of ``symbols`` for an expression of the case language.

    The expression tree is walked and each node evaluated with numpy (no generated code: no
    ``lambdify``, no ``eval``); a sub-expression used twice is evaluated once. Outside a
    function's real domain the value is nan. The result always has the broadcast shape of the
    inputs (a constant is broadcast too).

    Raises
    ------
    NotImplementedError
        For a function this evaluator does not know (checked when it is called).

    Examples
    --------
    >>> import numpy as np, sympy
    >>> from derivcheck.language.functions import sigmoid
    >>> x = sympy.Symbol("x", real=True)
    >>> numeric(sigmoid(x) + 1, [x])(np.array([0.0, 0.0]))
    array([1.5, 1.5])
    """
    expr = sympy.sympify(expr)
    symbols = list(symbols)

    def f(*args: Any) -> Any:
        arrays = [np.asarray(a, dtype=float) for a in args]
        shape = np.broadcast_shapes(*(a.shape for a in arrays)) if arrays else ()
        env: dict[sympy.Basic, Any] = dict(zip(symbols, arrays))
        with np.errstate(all="ignore"):
            value = np.asarray(_evaluate(expr, env), dtype=float)
        return np.broadcast_to(value, shape).astype(float)

    return f


_RELATIONS = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
              "==": np.equal, "!=": np.not_equal}


def _truth(condition: sympy.Basic, env: dict[sympy.Basic, Any]) -> Any:
    if condition is sympy.true or condition is sympy.false:
        return bool(condition)
    if isinstance(condition, sympy.Not):
        return np.logical_not(_truth(condition.args[0], env))
    if isinstance(condition, (sympy.And, sympy.Or)):
        combine = np.logical_and if isinstance(condition, sympy.And) else np.logical_or
        return functools.reduce(combine, [_truth(c, env) for c in condition.args])
    return _RELATIONS[condition.rel_op](_evaluate(condition.lhs, env), _evaluate(condition.rhs, env))


def value_at(expr: sympy.Basic, env: dict[sympy.Basic, Any]) -> Any:
    """``expr`` evaluated with NumPy; ``env`` maps symbols to values and keeps every node's value.

    Examples
    --------
    >>> x = sympy.Symbol("x", real=True)
    >>> float(value_at(sympy.cos(x) ** 2, {x: 0.0}))
    1.0
    """
    with np.errstate(all="ignore"):
        return _evaluate(expr, env)


def _evaluate(e: sympy.Basic, env: dict[sympy.Basic, Any]) -> Any:
    if e in env:
        return env[e]
    if e.is_Number or isinstance(e, sympy.NumberSymbol):
        value: Any = float(e)
    elif e.is_Add:
        value = sum((_evaluate(a, env) for a in e.args), 0.0)
    elif e.is_Mul:
        value = 1.0
        for a in e.args:
            value = value * _evaluate(a, env)
    elif e.is_Pow:
        base, exponent = _evaluate(e.base, env), _evaluate(e.exp, env)
        value = np.sqrt(base) if e.exp == sympy.S.Half else np.power(base, exponent)
    elif isinstance(e, sympy.Heaviside):
        h0 = float(e.args[1]) if len(e.args) > 1 else 0.5
        value = _heaviside(_evaluate(e.args[0], env), h0)
    elif isinstance(e, sympy.Piecewise):
        value = np.nan
        for branch, condition in reversed(e.args):
            chosen = _evaluate(branch, env)
            value = chosen if condition is sympy.true else np.where(_truth(condition, env), chosen, value)
    elif isinstance(e, (sympy.Max, sympy.Min)):
        op = np.maximum if isinstance(e, sympy.Max) else np.minimum
        value = functools.reduce(op, [_evaluate(a, env) for a in e.args])
    elif type(e) in NUMPY_FUNCTIONS:
        value = NUMPY_FUNCTIONS[type(e)](*(_evaluate(a, env) for a in e.args))
    else:
        raise NotImplementedError(f"no numpy evaluation for {type(e).__name__}")
    env[e] = value
    return value
