"""Three kinds of numbers for the same walk: float64 (screening), mpmath (exact matching), SymPy
(the symbols a sentence shows).

Values are NumPy arrays (0-d for a scalar): float64 arrays, or object arrays of mpmath or
SymPy numbers. Each backend offers the elementary functions element-wise and a few helpers.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import mpmath
import numpy as np
import sympy

from derivcheck.language.functions import relu, sigmoid, softplus

#: working precision of the exact matching, in decimal digits
MATCH_DIGITS = 50


class Backend:
    """Element-wise functions over one kind of number."""

    name = ""
    functions: dict[str, Callable[[np.ndarray], np.ndarray]]

    def const(self, value: object) -> np.ndarray:
        raise NotImplementedError

    def nonzero(self, t: np.ndarray) -> np.ndarray:
        """1 where an entry is not zero, else 0 (in this backend's numbers)."""
        raise NotImplementedError

    def step(self, t: np.ndarray) -> np.ndarray:
        """1 where an entry is positive, else 0."""
        raise NotImplementedError

    def sign(self, t: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def call(self, name: str, *args: np.ndarray) -> np.ndarray:
        return np.asarray(self.functions[name](*args), dtype=self.dtype)

    dtype: object = object


def _ufunc(fn: Callable[..., object], nargs: int = 1) -> Callable[..., np.ndarray]:
    vectorised = np.frompyfunc(fn, nargs, 1)
    return lambda *a: np.asarray(vectorised(*a), dtype=object)


class FloatBackend(Backend):
    name = "float"
    dtype = np.float64

    def __init__(self) -> None:
        erf = np.vectorize(math.erf, otypes=[np.float64])
        self.functions = {
            "sin": np.sin, "cos": np.cos, "tan": np.tan, "asin": np.arcsin, "acos": np.arccos,
            "atan": np.arctan, "sinh": np.sinh, "cosh": np.cosh, "tanh": np.tanh, "asinh": np.arcsinh,
            "acosh": np.arccosh, "atanh": np.arctanh, "exp": np.exp, "log": np.log, "sqrt": np.sqrt,
            "abs": np.abs, "erf": erf, "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
            "softplus": lambda x: np.logaddexp(0, x), "relu": lambda x: np.maximum(x, 0),
            "heaviside": lambda x: (x > 0) * 1.0, "atan2": np.arctan2, "max": np.maximum, "min": np.minimum,
        }

    def const(self, value: object) -> np.ndarray:
        if isinstance(value, np.ndarray):
            return np.array([float(v) for v in value.flat], dtype=np.float64).reshape(value.shape)
        return np.asarray(float(value), dtype=np.float64)  # type: ignore[arg-type]

    def nonzero(self, t: np.ndarray) -> np.ndarray:
        return (t != 0) * 1.0

    def step(self, t: np.ndarray) -> np.ndarray:
        return (t > 0) * 1.0

    def sign(self, t: np.ndarray) -> np.ndarray:
        return np.sign(t)


def _mp_number(value: object) -> object:
    if isinstance(value, sympy.Rational):
        return mpmath.mpf(int(value.p)) / int(value.q)
    if isinstance(value, sympy.Expr):
        number = value.evalf(MATCH_DIGITS + 10)
        if not number.is_Float:
            raise ArithmeticError(f"{value} is not a real number")
        return mpmath.mpf(number)
    return mpmath.mpf(value)  # type: ignore[arg-type]


class MpBackend(Backend):
    name = "mp"

    def __init__(self) -> None:
        def real(fn: Callable[..., object]) -> Callable[..., object]:
            def checked(*args: object) -> object:
                value = fn(*args)
                if not isinstance(value, mpmath.mpf) or not mpmath.isfinite(value):
                    raise ArithmeticError("not a finite real number")
                return value
            return checked

        mp = mpmath
        table: dict[str, Callable[..., object]] = {
            "sin": mp.sin, "cos": mp.cos, "tan": mp.tan, "asin": mp.asin, "acos": mp.acos, "atan": mp.atan,
            "sinh": mp.sinh, "cosh": mp.cosh, "tanh": mp.tanh, "asinh": mp.asinh, "acosh": mp.acosh,
            "atanh": mp.atanh, "exp": mp.exp, "log": mp.log, "sqrt": mp.sqrt, "abs": abs, "erf": mp.erf,
            "sigmoid": lambda x: 1 / (1 + mp.exp(-x)), "softplus": lambda x: mp.log(1 + mp.exp(x)),
            "relu": lambda x: x if x > 0 else mp.mpf(0), "heaviside": lambda x: mp.mpf(1 if x > 0 else 0),
            "atan2": mp.atan2, "max": lambda a, b: max(a, b), "min": lambda a, b: min(a, b),
        }
        self.functions = {k: _ufunc(real(fn), 2 if k in ("atan2", "max", "min") else 1) for k, fn in table.items()}
        self._nonzero = _ufunc(lambda v: mpmath.mpf(1 if v != 0 else 0))
        self._step = _ufunc(lambda v: mpmath.mpf(1 if v > 0 else 0))
        self._sign = _ufunc(lambda v: mpmath.mpf(mpmath.sign(v)))
        self._const = np.frompyfunc(_mp_number, 1, 1)

    def const(self, value: object) -> np.ndarray:
        return np.asarray(self._const(value), dtype=object)

    def nonzero(self, t: np.ndarray) -> np.ndarray:
        return self._nonzero(t)

    def step(self, t: np.ndarray) -> np.ndarray:
        return self._step(t)

    def sign(self, t: np.ndarray) -> np.ndarray:
        return self._sign(t)


class SymBackend(Backend):
    name = "sym"

    def __init__(self) -> None:
        s = sympy
        table: dict[str, Callable[..., object]] = {
            "sin": s.sin, "cos": s.cos, "tan": s.tan, "asin": s.asin, "acos": s.acos, "atan": s.atan,
            "sinh": s.sinh, "cosh": s.cosh, "tanh": s.tanh, "asinh": s.asinh, "acosh": s.acosh,
            "atanh": s.atanh, "exp": s.exp, "log": s.log, "sqrt": s.sqrt, "abs": s.Abs, "erf": s.erf,
            "sigmoid": sigmoid, "softplus": softplus, "relu": relu, "heaviside": s.Heaviside,
            "atan2": s.atan2, "max": s.Max, "min": s.Min,
        }
        self.functions = {k: _ufunc(fn, 2 if k in ("atan2", "max", "min") else 1) for k, fn in table.items()}
        self._nonzero = _ufunc(lambda v: s.Integer(0 if v == 0 else 1))
        self._step = _ufunc(s.Heaviside)
        self._sign = _ufunc(s.sign)
        self._const = np.frompyfunc(s.sympify, 1, 1)

    def const(self, value: object) -> np.ndarray:
        return np.asarray(self._const(value), dtype=object)

    def nonzero(self, t: np.ndarray) -> np.ndarray:
        return self._nonzero(t)

    def step(self, t: np.ndarray) -> np.ndarray:
        return self._step(t)

    def sign(self, t: np.ndarray) -> np.ndarray:
        return self._sign(t)


FLOAT = FloatBackend()
MP = MpBackend()
SYM = SymBackend()
