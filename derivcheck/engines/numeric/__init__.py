"""Numeric derivatives by finite differences, each entry with an honest error estimate.

The numeric engine knows nothing about expressions or autograd, only about a *batched* callable
``f`` that maps a ``(k, n)`` array of points to a ``(k, m)`` array of values (nan/inf outside its
domain). The modules: ``sampling`` (constants, points, directions, evaluation), ``noise``
(rounding measured near a point), ``stencils`` (difference quotients), ``ladder`` (Richardson
extrapolation and the choice per entry), ``complex_step`` and ``derivatives`` (entry points);
``methods`` (how an estimate was made, a typed label).
"""

from derivcheck.engines.numeric.derivatives import directional, hessian, jacobian, one_sided
from derivcheck.engines.numeric.methods import FIRST_ESTIMATES, Method
from derivcheck.engines.numeric.quick import (
    QUICK_EXPONENT,
    QUICK_EXPONENT_FLOAT32,
    QUICK_LABEL,
    SHRINK_LABEL,
    SHRINK_LEVELS,
    central_once,
    shrinking,
)
from derivcheck.engines.numeric.sampling import COMPLEX_LABEL, NO_ESTIMATE, BatchedFunction, NumericDerivative

__all__ = [
    "COMPLEX_LABEL",
    "FIRST_ESTIMATES",
    "NO_ESTIMATE",
    "QUICK_EXPONENT",
    "QUICK_EXPONENT_FLOAT32",
    "QUICK_LABEL",
    "SHRINK_LABEL",
    "SHRINK_LEVELS",
    "BatchedFunction",
    "Method",
    "NumericDerivative",
    "central_once",
    "directional",
    "hessian",
    "jacobian",
    "one_sided",
    "shrinking",
]
