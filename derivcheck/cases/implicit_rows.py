"""Rows for the derivatives of an implicit case's dependent variable along F = 0.

* exactly: y_j = -F_j / F_y, and higher orders by the total derivative D_j g = g_j + g_y y_j
  (SymPy), evaluated at the point;
* by autograd: the same formula with every partial taken by torch (nested ``torch.func.grad``);
* numerically: F = 0 solved for y by Newton's method near each stencil point, and the result (or,
  for order k, the exact derivative of order k - 1 along the solved curve) differentiated by
  finite differences, so each order is checked on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import sympy
import torch

from derivcheck.engines import exact as symbolic
from derivcheck.engines import numeric as finite_diff
from derivcheck.engines.autograd import Compiled, compile_torch
from derivcheck.errors import EvaluationError
from derivcheck.model import Case, Implicit, Quantity
from derivcheck.verdict import Row

#: Newton iterations for y on F = 0 (quadratic convergence: a handful suffice)
NEWTON_STEPS = 30


def total_derivative(g: sympy.Expr, implicit: Implicit, symbols: Sequence[sympy.Symbol], j: int) -> sympy.Expr:
    """D_j g = dg/dx_j + dg/dy * y_j along F = 0, with y_j = -F_j / F_y."""
    y = symbols[implicit.dependent]
    f = implicit.function
    slope = -sympy.diff(f, symbols[j]) / sympy.diff(f, y)
    return sympy.diff(g, symbols[j]) + sympy.diff(g, y) * slope


def derivative(implicit: Implicit, symbols: Sequence[sympy.Symbol], sequence: Sequence[int]) -> sympy.Expr:
    """The dependent variable differentiated along the curve by ``sequence`` (Leibniz order)."""
    g: sympy.Expr = symbols[implicit.dependent]
    for j in reversed(list(sequence)):
        g = total_derivative(g, implicit, symbols, j)
    return g


class ImplicitPlan:
    """What an implicit case shares across points: the formulas and compiled code."""

    def __init__(self, case: Case) -> None:
        implicit = case.implicit
        assert implicit is not None
        self.implicit = implicit
        self.symbols = case.symbols
        y = self.symbols[implicit.dependent]
        self.exact = [derivative(implicit, self.symbols, seq) for seq in implicit.sequences]
        self.F = compile_torch(self.symbols, [implicit.function])
        self.F_y = compile_torch(self.symbols, [sympy.diff(implicit.function, y)])
        self.lower: dict[tuple[int, ...], Compiled] = {}
        for seq in implicit.sequences:
            tail = tuple(seq[1:])
            if tail and tail not in self.lower:
                self.lower[tail] = compile_torch(self.symbols, [derivative(implicit, self.symbols, tail)])

    def rows(self, k: int, x: np.ndarray, subs: dict, judge: Callable[..., Row]) -> list[Row]:
        implicit = self.implicit
        exact = []
        for expr in self.exact:
            try:
                exact.append(symbolic.evaluate(expr, subs))
            except EvaluationError:
                exact.append(None)  # F_y = 0: the curve is not a graph of y here
        autograd = [self._autograd(x, seq) for seq in implicit.sequences]
        numeric = [self._numeric(x, seq) for seq in implicit.sequences]
        values = [abs(float(v)) for v in exact if v is not None]
        scale = max(values, default=0.0) or 1.0
        return [
            judge(Quantity.IMPLICIT, k, (d,), implicit.labels[d], exact[d], subs, reverse=autograd[d],
                  numeric=numeric[d], one_sided=None, scale=scale, expr=self.exact[d])
            for d in range(len(implicit.sequences))
        ]

    def _autograd(self, x: np.ndarray, sequence: Sequence[int]) -> float:
        from torch.func import grad

        dep = self.implicit.dependent

        def F(z: torch.Tensor) -> torch.Tensor:
            return self.F(z)[..., 0]

        def slope(j: int) -> Callable[[torch.Tensor], torch.Tensor]:
            def fn(z: torch.Tensor) -> torch.Tensor:
                g = grad(F)(z)
                return -g[j] / g[dep]
            return fn

        def along(g: Callable[[torch.Tensor], torch.Tensor], j: int) -> Callable[[torch.Tensor], torch.Tensor]:
            def fn(z: torch.Tensor) -> torch.Tensor:
                d = grad(g)(z)
                return d[j] + d[dep] * slope(j)(z)
            return fn

        g: Callable[[torch.Tensor], torch.Tensor] = lambda z: z[dep]
        for j in reversed(list(sequence)):
            g = along(g, j)
        return float(g(torch.tensor(x, dtype=torch.float64)))

    def _numeric(self, x: np.ndarray, sequence: Sequence[int]) -> tuple[float, float, str]:
        dep = self.implicit.dependent
        tail = tuple(sequence[1:])
        lower = self.lower.get(tail)

        def along_curve(points: np.ndarray) -> np.ndarray:
            points = np.array(points, dtype=np.float64)
            y = np.full(len(points), x[dep])
            for _ in range(NEWTON_STEPS):
                points[:, dep] = y
                step = self.F.numpy(points)[:, 0] / self.F_y.numpy(points)[:, 0]
                y = y - step
                if np.all(np.abs(step) <= 1e-17 * np.maximum(np.abs(y), 1e-300)):
                    break
            points[:, dep] = y
            return points[:, dep:dep + 1] if lower is None else lower.numpy(points)

        vector = np.zeros((1, len(x)))
        vector[0, sequence[0]] = 1.0
        num = finite_diff.directional(along_curve, x, vector, complex_step=False)
        return float(num.value[0, 0]), float(num.error[0, 0]), f"{num.method[0, 0]} on F = 0 (Newton)"
