"""A NumPy function of one array, for ``check_grad(f, x, grad=g)`` as scipy's ``check_grad`` takes it.

It has no autograd: the numeric derivative (complex step where ``f`` answers complex input with
complex values) is the reference for the user's gradient.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

from derivcheck.flat_index import Slot
from derivcheck.gradcheck.torch_function import ModeUnsupported, as_array
from derivcheck.verdict import DType


class NumpyFunction:
    """A NumPy function of one array, for ``check_grad(f, x, grad=g)``: evaluation only.

    It has no autograd: the numeric derivative (complex step when ``f`` takes complex input)
    is the reference for the user's gradient.
    """

    positions = (0,)
    differentiable = False
    upcast = False
    constant_gradient = False

    def __init__(self, func: Callable, x: object) -> None:
        if not callable(func):
            raise ValueError(f"func must be callable, got {func!r}")
        point = np.asarray(x)
        if point.dtype.kind not in "fiu" or point.size == 0:
            raise ValueError(f"x must be a non-empty real array, got {x!r}")
        if not np.all(np.isfinite(point)):
            raise ValueError(f"x has entries that are not finite: {x!r}")
        self.func = func
        self.shape = point.shape
        self.x = point.astype(np.float64).reshape(-1)
        self.n = self.x.size
        self.slots = (Slot("x", tuple(self.shape), 0),)
        raw = np.asarray(func(self.x.reshape(self.shape).copy()))
        if raw.dtype.kind not in "fiu":
            raise ValueError(f"func must return real numbers, got {raw!r}")
        self.out_dtype = raw.dtype
        self.reference_dtype = self.dtype
        self.value = raw.astype(np.float64).reshape(-1)
        self.m = self.value.size
        self.out_slots = (Slot("out", tuple(raw.shape), 0),)

    @property
    def dtype(self) -> str:
        return DType.FLOAT32 if self.out_dtype == np.float32 else DType.FLOAT64

    def evaluate(self, points: np.ndarray) -> np.ndarray:
        """Row by row: ``(k, n)`` points to ``(k, m)`` values (nan where complex input is refused)."""
        points = np.asarray(points)
        complex_input = np.iscomplexobj(points)
        rows = []
        for point in points:
            try:
                with np.errstate(all="ignore"), warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # a function that drops the imaginary part says so
                    value = np.asarray(self.func(point.reshape(self.shape).copy())).reshape(-1)
            except Exception:
                if not complex_input:
                    raise
                value = np.full(self.m, np.nan + 0j)
            if complex_input and not np.iscomplexobj(value):
                value = np.full(self.m, np.nan + 0j)
            rows.append(value)
        return np.array(rows, dtype=np.complex128 if complex_input else np.float64)

    def call_gradient(self, grad: Callable) -> list[np.ndarray]:
        """The user's ``grad`` at the point, as a float64 array."""
        return [as_array(grad(self.x.reshape(self.shape).copy()))]

    def vjp(self, cotangents: np.ndarray) -> np.ndarray:
        raise ModeUnsupported("a NumPy function has no autograd")

    jvp = hvp = vjp

    def term_variants(self, cotangent: np.ndarray) -> list[tuple[str, np.ndarray]]:
        return []

    def complex_safe(self, direction: np.ndarray, step: float = 1e-20) -> bool:
        """Whether ``func`` answers complex input with complex, finite values."""
        value = self.evaluate((self.x + 1j * step * direction)[None])
        return bool(np.all(np.isfinite(value)))
