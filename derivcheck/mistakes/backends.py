"""Three kinds of numbers for the same walk: float64 (screening), mpmath (exact matching), SymPy
(the symbols a sentence shows).

Values are NumPy arrays (0-d for a scalar): float64 arrays, or object arrays of mpmath or
SymPy numbers. Each backend offers the elementary functions element-wise and a few helpers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import mpmath
import numpy as np
import sympy

from derivcheck.language.registry import BY_NAME

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
        self.functions = {
            **{name: spec.numpy for name, spec in BY_NAME.items() if spec.numpy is not None},
            "sqrt": np.sqrt, "max": np.maximum, "min": np.minimum,
            "heaviside": lambda x: (x > 0) * 1.0,  # the walk's convention: H(0) = 0, as torch's relu'(0)
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


class _ObjectBackend(Backend):
    """A backend of Python number objects (mpmath or SymPy) in object arrays; its constructor sets
    the element-wise helpers."""

    _const: Callable[[object], object]
    _nonzero: Callable[[np.ndarray], np.ndarray]
    _step: Callable[[np.ndarray], np.ndarray]
    _sign: Callable[[np.ndarray], np.ndarray]

    def const(self, value: object) -> np.ndarray:
        return np.asarray(self._const(value), dtype=object)

    def nonzero(self, t: np.ndarray) -> np.ndarray:
        return self._nonzero(t)

    def step(self, t: np.ndarray) -> np.ndarray:
        return self._step(t)

    def sign(self, t: np.ndarray) -> np.ndarray:
        return self._sign(t)


class MpBackend(_ObjectBackend):
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
            **{name: functools.partial(spec.mpmath, mp.mp) for name, spec in BY_NAME.items() if spec.mpmath is not None},
            "sqrt": mp.sqrt, "heaviside": lambda x: mp.mpf(1 if x > 0 else 0),
            "atan2": mp.atan2, "max": lambda a, b: max(a, b), "min": lambda a, b: min(a, b),
        }
        self.functions = {k: _ufunc(real(fn), 2 if k in ("atan2", "max", "min") else 1) for k, fn in table.items()}
        self._nonzero = _ufunc(lambda v: mpmath.mpf(1 if v != 0 else 0))
        self._step = _ufunc(lambda v: mpmath.mpf(1 if v > 0 else 0))
        self._sign = _ufunc(lambda v: mpmath.mpf(mpmath.sign(v)))
        self._const = np.frompyfunc(_mp_number, 1, 1)


class SymBackend(_ObjectBackend):
    name = "sym"

    def __init__(self) -> None:
        s = sympy
        table: dict[str, Callable[..., object]] = {
            **{name: spec.build for name, spec in BY_NAME.items()}, "sqrt": s.sqrt,
        }
        self.functions = {k: _ufunc(fn, 2 if k in ("atan2", "max", "min") else 1) for k, fn in table.items()}
        self._nonzero = _ufunc(lambda v: s.Integer(0 if v == 0 else 1))
        self._step = _ufunc(s.Heaviside)
        self._sign = _ufunc(s.sign)
        self._const = np.frompyfunc(s.sympify, 1, 1)


FLOAT = FloatBackend()
MP = MpBackend()
SYM = SymBackend()
