"""One specification per elementary function: the registry every engine and the report read.

A function of the case language (``sin``, ``softplus``, ``abs``...) or one that SymPy produces
while differentiating (``sign``, ``DiracDelta``, ``sec``...) is described once, here: its SymPy
node, how torch and NumPy evaluate it element-wise, how the exact evaluator reaches it in mpmath
and on which domain, its LaTeX name where SymPy has none, the family of differentiation rules a
derivation names, whether it is analytic (the complex step applies) and, for a kinked function,
the convention at its kink. Adding a function is one entry (plus its SymPy class in
``functions.py`` when SymPy lacks one).

Torch is never imported here: torch forms receive the ``torch`` module as their first argument.

Examples
--------
>>> spec = BY_NAME["softplus"]
>>> spec.family.value, spec.analytic, spec.latex
('sigmoid and softplus', True, '\\\\operatorname{softplus}')
>>> sorted(s.name for s in SPECS if s.kink and s.name)
['abs', 'heaviside', 'max', 'min', 'relu']
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy

from derivcheck.language.functions import relu, sigmoid, softplus

# the rules a derivation names ------------------------------------------------------------------
class Rule(enum.StrEnum):
    """A differentiation rule, as a derivation names it: the structural rules and the families of
    elementary functions (a member *is* its name, so rendered steps read the same)."""

    CONSTANT = "constant"
    VARIABLE = "variable"
    SUM = "sum"
    CONSTANT_MULTIPLE = "constant multiple"
    POWER = "power"
    PRODUCT = "product"
    QUOTIENT = "quotient"
    CHAIN = "chain"
    NO_RULE = "no rule"
    SIMPLIFY = "simplify"
    EXP_LOG = "exponential and logarithm"
    TRIG = "trigonometric"
    INVERSE_TRIG = "inverse trigonometric"
    HYPERBOLIC = "hyperbolic"
    SIGMOID_SOFTPLUS = "sigmoid and softplus"
    PIECEWISE = "piecewise"
    SPECIAL = "error function"


@dataclass(frozen=True)
class Domain:
    """Where a function of one argument is real: ``[low, high]``; an ``open`` end is a pole
    (the value is infinite there, as atanh(1) or log(0)), a ``grows`` function overflows for large
    arguments (the exact evaluator refuses them instead of hanging)."""

    low: float = -math.inf
    high: float = math.inf
    open: bool = False
    grows: bool = False


REAL = Domain()


@dataclass(frozen=True)
class Elementary:
    """One elementary function, described once."""

    name: str | None  # in the case language; None for functions only SymPy produces
    node: type  # the SymPy class of the node it builds
    build: Callable[..., sympy.Expr]  # SymPy form: arguments -> expression
    family: Rule  # the rule family a derivation names
    arity: int = 1
    torch: Callable[..., Any] | None = None  # (torch, *tensors) -> tensor
    numpy: Callable[..., Any] | None = None  # (*arrays) -> array
    mpmath: Callable[..., Any] | None = None  # (ctx, *mpf) -> mpf, inside ``domain``
    domain: Domain = REAL
    latex: str | None = None  # the LaTeX name, for functions SymPy does not print well
    analytic: bool = False  # analytic where defined, and torch evaluates it in complex arithmetic
    kink: str = ""  # the convention where it is not differentiable ("" for a smooth function)


def _np_sigmoid(x: Any) -> Any:
    x = np.asarray(x, dtype=float)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _np_softplus(x: Any) -> Any:
    return np.logaddexp(0.0, np.asarray(x, dtype=float))


def _np_relu(x: Any) -> Any:
    return np.maximum(np.asarray(x, dtype=float), 0.0)


def _np_heaviside(x: Any, h0: float = 0.5) -> Any:
    return np.heaviside(np.asarray(x, dtype=float), h0)


def _np_dirac(x: Any) -> Any:
    x = np.asarray(x, dtype=float)
    return np.where(x == 0, np.inf, 0.0)


_np_erf = np.vectorize(math.erf, otypes=[float])


def _torch_sigmoid(torch: Any, x: Any) -> Any:
    return 1 / (1 + torch.exp(-x)) if x.is_complex() else torch.sigmoid(x)


def _torch_softplus(torch: Any, x: Any) -> Any:
    return torch.log(1 + torch.exp(x)) if x.is_complex() else torch.nn.functional.softplus(x)


def _torch_heaviside(torch: Any, x: Any) -> Any:
    # SymPy's convention H(0) = 1/2; its derivative is 0 everywhere torch can see
    return torch.where(x > 0, 1.0, torch.where(x < 0, 0.0, 0.5)).to(x.dtype)


def _mp_sigmoid(ctx: Any, a: Any) -> Any:
    if a >= 0:  # exp of -|a| only, so a large |a| cannot overflow
        return 1 / (1 + ctx.exp(-a))
    e = ctx.exp(a)
    return e / (1 + e)


def _mp_softplus(ctx: Any, a: Any) -> Any:
    return (a if a > 0 else ctx.zero) + ctx.log1p(ctx.exp(-abs(a)))


def _unary(name: str, node: type, family: Rule, torch_name: str, numpy_fn: Callable[..., Any], *,
           domain: Domain = REAL, analytic: bool = True) -> Elementary:
    """A function torch, NumPy and mpmath all know by (nearly) the same name."""
    return Elementary(
        name, node, node, family, torch=lambda torch, x: getattr(torch, torch_name)(x), numpy=numpy_fn,
        mpmath=lambda ctx, a: getattr(ctx, name)(a), domain=domain, analytic=analytic,
    )


_KINK_RELU = ("relu'(u) = H(u): 1 for u > 0, 0 for u < 0; relu'(0) taken as 0, as torch does; "
              "not differentiable there")
_KINK_ABS = ("|u|' = sign(u): 1 for u > 0, -1 for u < 0; |u|'(0) taken as sign(0) = 0, as torch does; "
             "not differentiable there")
_KINK_MAX = ("∂max(a, b)/∂a = H(a - b): 1 where a > b, 0 where a < b; at a tie H(0) = 1/2 splits the "
             "derivative evenly, as torch.maximum does; not differentiable there")
_KINK_MIN = ("∂min(a, b)/∂a = H(b - a): 1 where a < b, 0 where a > b; at a tie H(0) = 1/2 splits the "
             "derivative evenly, as torch.minimum does; not differentiable there")
_KINK_HEAVISIDE = ("H'(u) = δ(u): 0 for u ≠ 0; H jumps at u = 0 and has no derivative there "
                   "(torch does not differentiate heaviside)")
_KINK_SIGN = "sign'(u) = 2δ(u): 0 for u ≠ 0; sign jumps at u = 0 and has no derivative there"

_UNIT = Domain(-1.0, 1.0)

SPECS: tuple[Elementary, ...] = (
    _unary("sin", sympy.sin, Rule.TRIG, "sin", np.sin),
    _unary("cos", sympy.cos, Rule.TRIG, "cos", np.cos),
    _unary("tan", sympy.tan, Rule.TRIG, "tan", np.tan),
    _unary("asin", sympy.asin, Rule.INVERSE_TRIG, "asin", np.arcsin, domain=_UNIT),
    _unary("acos", sympy.acos, Rule.INVERSE_TRIG, "acos", np.arccos, domain=_UNIT),
    _unary("atan", sympy.atan, Rule.INVERSE_TRIG, "atan", np.arctan),
    _unary("sinh", sympy.sinh, Rule.HYPERBOLIC, "sinh", np.sinh, domain=Domain(grows=True)),
    _unary("cosh", sympy.cosh, Rule.HYPERBOLIC, "cosh", np.cosh, domain=Domain(grows=True)),
    _unary("tanh", sympy.tanh, Rule.HYPERBOLIC, "tanh", np.tanh),
    _unary("asinh", sympy.asinh, Rule.HYPERBOLIC, "asinh", np.arcsinh),
    _unary("acosh", sympy.acosh, Rule.HYPERBOLIC, "acosh", np.arccosh, domain=Domain(1.0, math.inf)),
    _unary("atanh", sympy.atanh, Rule.HYPERBOLIC, "atanh", np.arctanh, domain=Domain(-1.0, 1.0, open=True)),
    Elementary("exp", sympy.exp, sympy.exp, Rule.EXP_LOG, torch=lambda torch, x: torch.exp(x), numpy=np.exp,
               mpmath=lambda ctx, a: ctx.exp(a), domain=Domain(grows=True), analytic=True),
    Elementary("log", sympy.log, sympy.log, Rule.EXP_LOG, torch=lambda torch, x: torch.log(x), numpy=np.log,
               mpmath=lambda ctx, a: ctx.log(a), domain=Domain(0.0, math.inf, open=True), analytic=True),
    Elementary("erf", sympy.erf, sympy.erf, Rule.SPECIAL, torch=lambda torch, x: torch.special.erf(x),
               numpy=_np_erf, mpmath=lambda ctx, a: ctx.erf(a)),
    Elementary("sigmoid", sigmoid, sigmoid, Rule.SIGMOID_SOFTPLUS, torch=_torch_sigmoid, numpy=_np_sigmoid,
               mpmath=_mp_sigmoid, latex=r"\sigma", analytic=True),
    Elementary("softplus", softplus, softplus, Rule.SIGMOID_SOFTPLUS, torch=_torch_softplus, numpy=_np_softplus,
               mpmath=_mp_softplus, latex=r"\operatorname{softplus}", analytic=True),
    Elementary("relu", relu, relu, Rule.PIECEWISE, torch=lambda torch, x: torch.relu(x), numpy=_np_relu,
               mpmath=lambda ctx, a: max(a, ctx.zero), latex=r"\operatorname{relu}", kink=_KINK_RELU),
    Elementary("abs", sympy.Abs, sympy.Abs, Rule.PIECEWISE, torch=lambda torch, x: torch.abs(x), numpy=np.abs,
               mpmath=lambda ctx, a: abs(a), kink=_KINK_ABS),
    Elementary("heaviside", sympy.Heaviside, lambda x: sympy.Heaviside(x), Rule.PIECEWISE, torch=_torch_heaviside,
               numpy=_np_heaviside, latex="H", kink=_KINK_HEAVISIDE),
    Elementary("max", sympy.Max, sympy.Max, Rule.PIECEWISE, arity=2, kink=_KINK_MAX),
    Elementary("min", sympy.Min, sympy.Min, Rule.PIECEWISE, arity=2, kink=_KINK_MIN),
    Elementary("atan2", sympy.atan2, sympy.atan2, Rule.INVERSE_TRIG, arity=2, numpy=np.arctan2),
    # produced by SymPy while differentiating or simplifying, never written in a case file
    Elementary(None, sympy.sign, sympy.sign, Rule.PIECEWISE, torch=lambda torch, x: torch.sign(x), numpy=np.sign,
               mpmath=lambda ctx, a: ctx.mpf(ctx.sign(a)), kink=_KINK_SIGN),
    Elementary(None, sympy.DiracDelta, sympy.DiracDelta, Rule.PIECEWISE, numpy=_np_dirac),
    *(Elementary(None, node, node, Rule.TRIG) for node in (sympy.cot, sympy.sec, sympy.csc)),
    *(Elementary(None, node, node, Rule.INVERSE_TRIG) for node in (sympy.acot,)),
    *(Elementary(None, node, node, Rule.HYPERBOLIC) for node in (sympy.coth, sympy.sech, sympy.csch)),
    Elementary(None, sympy.erfc, sympy.erfc, Rule.SPECIAL),
)

#: the case language's functions by name (``sqrt`` and two-argument ``log`` are the parser's own)
BY_NAME: dict[str, Elementary] = {s.name: s for s in SPECS if s.name}
#: every function by its SymPy class
BY_NODE: dict[type, Elementary] = {s.node: s for s in SPECS}
#: functions whose derivative jumps somewhere: where their argument crosses 0 (or two arguments
#: cross each other), a point may be non-differentiable
KINKED: tuple[type, ...] = tuple(s.node for s in SPECS if s.kink)
#: functions analytic where defined, that torch evaluates in complex arithmetic: with only these,
#: Im f(x + ih)/h is an exact derivative (the complex step)
ANALYTIC: tuple[type, ...] = tuple(s.node for s in SPECS if s.analytic)
