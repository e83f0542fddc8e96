"""Quantities built from the Jacobian or the Hessian: det, max_rate, max_direction, laplacian,
divergence and curl; their claims, and their rows from every source.

The exact value is the formula applied to the exact derivatives (SymPy); autograd's applies it
to torch's Jacobian (reverse and forward mode) or Hessian; the numeric one to the finite-difference
Jacobian or Hessian, its error estimate carried through the formula to first order.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import sympy

from derivcheck.model import ClaimEntry, Quantity

DERIVED_KEYS = ("det", "max_rate", "max_direction", "laplacian", "divergence", "curl")
_QUANTITY = {
    "det": Quantity.DET, "max_rate": Quantity.MAX_RATE, "max_direction": Quantity.MAX_DIRECTION,
    "laplacian": Quantity.LAPLACIAN, "divergence": Quantity.DIVERGENCE, "curl": Quantity.CURL,
}
#: a symbolic determinant grows as n!: beyond this the claim is refused
MAX_DET_SIZE = 6


class _Reader(Protocol):
    key: str
    value: object
    shape: Any

    def error(self, message: str) -> Exception: ...

    def _array(self, value: object, want: tuple[int, ...]) -> np.ndarray: ...


def derived_claims(reader: _Reader, key: str) -> list[ClaimEntry]:
    """Claim entries for one derived quantity, after checking that the case has it."""
    shape = reader.shape
    n, m = shape.n, shape.m
    if key in ("det", "divergence") and (shape.scalar or m != n):
        raise reader.error(f"'{key}' needs a square Jacobian (as many outputs as inputs), got {m} x {n}")
    if key == "det" and n > MAX_DET_SIZE:
        raise reader.error(f"'det' is for Jacobians up to {MAX_DET_SIZE} x {MAX_DET_SIZE}, got {n} x {n}")
    if key == "curl" and (shape.scalar or m != 3 or n != 3):
        raise reader.error(f"'curl' needs a 3-D vector field (3 outputs of 3 inputs), got {m} x {n}")
    if key in ("max_rate", "max_direction", "laplacian") and not shape.scalar:
        raise reader.error(f"'{key}' is for a scalar function")
    want = (n,) if key == "max_direction" else (3,) if key == "curl" else ()
    array = reader._array(reader.value, want).reshape(want or (1,))
    text = reader.value if isinstance(reader.value, str) else None
    return [ClaimEntry(key, _QUANTITY[key], (j,), array[j], text if text is not None else str(array[j]))
            for j in range(array.shape[0])]


def wanted(claims: tuple[ClaimEntry, ...]) -> list[Quantity]:
    """The derived quantities a case's claims ask for, in a fixed order."""
    asked = {c.quantity for c in claims}
    return [q for q in _QUANTITY.values() if q in asked]


# formulas: each takes a Jacobian (m, n) or Hessian (n, n) as an array of numbers or of SymPy
# expressions, and the module that does the arithmetic (sympy or numpy) ---------------------------
def _det(j: Any, exact: bool) -> list[Any]:
    return [sympy.Matrix(j).det(method="berkowitz") if exact else float(np.linalg.det(np.asarray(j, float)))]


def _norm(g: Any, exact: bool) -> Any:
    return sympy.sqrt(sympy.Add(*(v**2 for v in g))) if exact else math.sqrt(sum(float(v) ** 2 for v in g))


def _max_rate(j: Any, exact: bool) -> list[Any]:
    return [_norm(j[0], exact)]


def _max_direction(j: Any, exact: bool) -> list[Any]:
    norm = _norm(j[0], exact)
    return [v / norm for v in j[0]]


def _divergence(j: Any, exact: bool) -> list[Any]:
    return [sum((j[k][k] for k in range(len(j))), sympy.Integer(0) if exact else 0.0)]


def _curl(j: Any, exact: bool) -> list[Any]:
    return [j[2][1] - j[1][2], j[0][2] - j[2][0], j[1][0] - j[0][1]]


def _laplacian(h: Any, exact: bool) -> list[Any]:
    return [sum((h[k][k] for k in range(len(h))), sympy.Integer(0) if exact else 0.0)]


FORMULAS: dict[Quantity, Callable[[Any, bool], list[Any]]] = {
    Quantity.DET: _det, Quantity.MAX_RATE: _max_rate, Quantity.MAX_DIRECTION: _max_direction,
    Quantity.DIVERGENCE: _divergence, Quantity.CURL: _curl, Quantity.LAPLACIAN: _laplacian,
}


def symbolic(quantity: Quantity, jacobian: np.ndarray, hessian: np.ndarray | None) -> list[sympy.Expr]:
    """The exact expressions of a derived quantity (one per entry)."""
    source = hessian[0] if quantity is Quantity.LAPLACIAN else jacobian  # type: ignore[index]
    return [sympy.sympify(e) for e in FORMULAS[quantity](source.tolist(), True)]


def numeric(quantity: Quantity, value: np.ndarray, error: np.ndarray) -> list[tuple[float, float]]:
    """The quantity from a numeric Jacobian (or Hessian) and its error, carried to first order."""
    base = FORMULAS[quantity](value.tolist(), False)
    out = []
    for k, v in enumerate(base):
        # first-order propagation: perturb each entry by its error estimate, add the effects
        total = 0.0
        for index in np.ndindex(value.shape):
            if not error[index] or not math.isfinite(error[index]):
                continue
            bumped = value.copy()
            bumped[index] += error[index]
            total += abs(FORMULAS[quantity](bumped.tolist(), False)[k] - v)
        out.append((float(v), total if math.isfinite(total) else math.inf))
    return out


def autograd(quantity: Quantity, jacobian: np.ndarray, hessian: np.ndarray | None) -> list[float]:
    """The quantity from torch's Jacobian (or Hessian)."""
    source = hessian[0] if quantity is Quantity.LAPLACIAN else jacobian  # type: ignore[index]
    return [float(v) for v in FORMULAS[quantity](source.tolist(), False)]


def label(quantity: Quantity, k: int, name: str, inputs: tuple[str, ...]) -> str:
    """How a row of a derived quantity is named."""
    return {
        Quantity.DET: f"det J{name}", Quantity.MAX_RATE: f"|grad {name}|",
        Quantity.MAX_DIRECTION: f"grad {name}/|grad {name}|[{inputs[k] if k < len(inputs) else k}]",
        Quantity.LAPLACIAN: f"laplacian {name}", Quantity.DIVERGENCE: f"div {name}",
        Quantity.CURL: f"curl {name}[{k}]",
    }[quantity]
