"""Accuracy of numeric first derivatives against exact values, derivcheck versus its peers.

Run from the repository root::

    python benchmarks/numeric_accuracy.py

For each function/point pair the exact derivative is computed by SymPy at 50 significant
digits, with the point taken as the exact binary value of the float64 ``x`` (so ``cos(1e8)``
is the cosine of the double nearest 1e8, not of 10**8).  Each method's relative error
``|numeric - exact| / |exact|`` and its number of function evaluations are printed, then the
median and maximum relative error and the mean evaluation count per method.

Methods
-------
derivcheck-cs     ``derivcheck.engines.numeric.jacobian(..., complex_step=True)``
derivcheck-real   ``derivcheck.engines.numeric.jacobian`` (central/one-sided Richardson, real only)
central-1e-6      ``(f(x+h) - f(x-h)) / 2h`` with ``h = 1e-6`` (torch.autograd.gradcheck's rule)
scipy             ``scipy.differentiate.derivative`` with default settings
numdifftools      ``numdifftools.Derivative`` with default settings (skipped if not installed)

The "covered" columns say whether derivcheck's error estimate bounds its actual error
(complex step, then real only).  "fail" means no finite value (nan or inf).
"""

from __future__ import annotations

import statistics
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sympy

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from derivcheck.engines import numeric as finite_diff

try:
    from scipy.differentiate import derivative as scipy_derivative
except ImportError:  # scipy < 1.15
    scipy_derivative = None

try:
    import numdifftools
except ImportError:
    numdifftools = None

DIGITS = 50
GRADCHECK_STEP = 1e-6
X = sympy.Symbol("x")


@dataclass(frozen=True)
class Problem:
    """One function at one point, with its exact derivative."""

    label: str
    expr: sympy.Expr
    x: float

    @property
    def exact(self) -> float:
        derivative = sympy.diff(self.expr, X)
        # sympy.Rational(float) is the exact binary value of the double.
        return float(derivative.subs(X, sympy.Rational(self.x)).evalf(DIGITS))

    def numpy_function(self) -> Callable[[np.ndarray], np.ndarray]:
        return sympy.lambdify(X, self.expr, modules="numpy")


PROBLEMS = (
    Problem("sin(x) at 1", sympy.sin(X), 1.0),
    Problem("exp(x) at 1", sympy.exp(X), 1.0),
    Problem("x^3 - 2x at 2", X**3 - 2 * X, 2.0),
    Problem("atan(x) at 0.5", sympy.atan(X), 0.5),
    Problem("1/(1+25x^2) at 0.3", 1 / (1 + 25 * X**2), 0.3),
    Problem("tanh(x) at 3", sympy.tanh(X), 3.0),
    Problem("x*exp(-x^2) at -1.2", X * sympy.exp(-(X**2)), -1.2),
    Problem("log(x) at 1e-3", sympy.log(X), 1e-3),
    Problem("log(x) at 1e-6", sympy.log(X), 1e-6),
    Problem("sqrt(x) at 1e-3", sympy.sqrt(X), 1e-3),
    Problem("sqrt(x) at 1e-6", sympy.sqrt(X), 1e-6),
    Problem("sin(1/x) at 0.01", sympy.sin(1 / X), 0.01),
    Problem("sin(x) at 1e8", sympy.sin(X), 1e8),
    Problem("1e10 + x^2 at 1.5", sympy.Integer(10) ** 10 + X**2, 1.5),
    Problem("exp(x) at 40", sympy.exp(X), 40.0),
    Problem("1e-9*sin(x) at 0.7", sympy.Float(1e-9) * sympy.sin(X), 0.7),
)


def derivcheck_method(complex_step: bool) -> Callable[[Callable, float], tuple[float, int, float]]:
    def run(g: Callable, x: float) -> tuple[float, int, float]:
        batched = lambda p: g(p[:, 0])[:, None]
        d = finite_diff.jacobian(batched, np.array([x]), complex_step=complex_step)
        return float(d.value[0, 0]), d.evaluations, float(d.error[0, 0])

    return run


def central_gradcheck(g: Callable, x: float) -> tuple[float, int, float]:
    with np.errstate(all="ignore"):
        values = g(np.array([x + GRADCHECK_STEP, x - GRADCHECK_STEP]))
        return float((values[0] - values[1]) / (2 * GRADCHECK_STEP)), 2, np.nan


def scipy_method(g: Callable, x: float) -> tuple[float, int, float]:
    with np.errstate(all="ignore"):
        result = scipy_derivative(g, x)
    return float(result.df), int(result.nfev), float(result.error)


def numdifftools_method(g: Callable, x: float) -> tuple[float, int, float]:
    calls = [0]

    def counted(t):
        calls[0] += np.size(t)
        return g(t)

    with np.errstate(all="ignore"):
        result = numdifftools.Derivative(counted, full_output=True)(x)
    # numdifftools 0.11 returns an EstimateResult; older releases a (value, info) pair.
    if hasattr(result, "estimate"):
        return float(result.estimate), calls[0], float(result.error_estimate)
    value, info = result
    return float(value), calls[0], float(info.error_estimate)


def methods() -> dict[str, Callable]:
    table = {
        "derivcheck-cs": derivcheck_method(True),
        "derivcheck-real": derivcheck_method(False),
        "central-1e-6": central_gradcheck,
    }
    if scipy_derivative is not None:
        table["scipy"] = scipy_method
    if numdifftools is not None:
        table["numdifftools"] = numdifftools_method
    return table


def relative_error(value: float, exact: float) -> float:
    if not np.isfinite(value):
        return np.inf
    return abs(value - exact) / abs(exact)


def fmt(value: float) -> str:
    return f"{value:8.1e}" if np.isfinite(value) else f"{'fail':>8}"


def main() -> None:
    table = methods()
    names = list(table)
    errors: dict[str, list[float]] = {name: [] for name in names}
    counts: dict[str, list[int]] = {name: [] for name in names}
    header = f"{'function / point':<22}" + "".join(f"{name:>17}" for name in names) + f"{'covered':>10}"
    print("relative error (evaluations)")
    print(header)
    print("-" * len(header))
    for problem in PROBLEMS:
        exact = problem.exact
        g = problem.numpy_function()
        cells = []
        covered = []
        for name in names:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # peers warn about nan samples near 0
                value, evaluations, estimate = table[name](g, problem.x)
            rel = relative_error(value, exact)
            errors[name].append(rel)
            counts[name].append(evaluations)
            cells.append(f"{fmt(rel)} ({evaluations:3d})  ")
            if name.startswith("derivcheck"):
                covered.append("yes" if abs(value - exact) <= estimate else "NO")
        print(f"{problem.label:<22}" + "".join(f"{cell:>17}" for cell in cells) + f"{'/'.join(covered):>10}")
    print("-" * len(header))
    print(f"{'median rel. error':<22}" + "".join(f"{fmt(statistics.median(errors[n])):>15}  " for n in names).rstrip())
    print(f"{'max rel. error':<22}" + "".join(f"{fmt(max(errors[n])):>15}  " for n in names).rstrip())
    print(f"{'mean evaluations':<22}" + "".join(f"{statistics.mean(counts[n]):>15.1f}  " for n in names).rstrip())
    if numdifftools is None:
        print("\nnumdifftools is not installed; its column is skipped (pip install numdifftools).")


if __name__ == "__main__":
    main()
