"""SymPy functions the case language adds to SymPy's own: sigmoid, softplus and relu.

How each is evaluated, printed and named in derivations is its entry in ``registry.py``.

Each defines its local derivative right beside it (``fdiff``), so the exact engine, the step
explainer and the computational graph all read the rule from one place.
"""

from __future__ import annotations

import sympy
from sympy import Function, Heaviside, Max, S, exp, log
from sympy.core.evalf import prec_to_dps


def _evalf_of(rewritten: sympy.Expr, prec: int) -> sympy.Expr:
    """The value of a rewritten function at ``prec`` bits, as SymPy's evalf expects it back.

    Calling ``_eval_evalf`` on the rewrite instead loses precision silently: SymPy then
    evaluates sin(softplus(asin(9/10000))) as 0.
    """
    value = rewritten.evalf(prec_to_dps(prec) + 5)
    if not value.is_Float:  # evalf may leave an imaginary zero without digits (0.e-26*I): drop it
        real, imaginary = value.as_real_imag()
        if real.is_Float and imaginary.is_Number and abs(imaginary) <= abs(real) * sympy.Float(2) ** -prec:
            value = real
    return sympy.Float._new(value._mpf_, prec) if value.is_Float else value


class sigmoid(Function):
    """The logistic function 1 / (1 + exp(-x)); its derivative is sigmoid(x) (1 - sigmoid(x))."""

    nargs = 1

    def fdiff(self, argindex: int = 1) -> sympy.Expr:
        s = sigmoid(self.args[0])
        return s * (1 - s)

    @classmethod
    def eval(cls, x: sympy.Expr) -> sympy.Expr | None:
        if x.is_zero:
            return S.Half
        return None

    def _eval_rewrite_as_exp(self, x: sympy.Expr, **kwargs: object) -> sympy.Expr:
        return 1 / (1 + exp(-x))

    def _eval_evalf(self, prec: int) -> sympy.Expr:
        return _evalf_of(self.rewrite(exp), prec)

    def _eval_is_real(self) -> bool | None:
        return self.args[0].is_real



class softplus(Function):
    """log(1 + exp(x)); its derivative is sigmoid(x)."""

    nargs = 1

    def fdiff(self, argindex: int = 1) -> sympy.Expr:
        return sigmoid(self.args[0])

    @classmethod
    def eval(cls, x: sympy.Expr) -> sympy.Expr | None:
        if x.is_zero:
            return log(2)
        return None

    def _eval_rewrite_as_log(self, x: sympy.Expr, **kwargs: object) -> sympy.Expr:
        return log(1 + exp(x))

    def _eval_evalf(self, prec: int) -> sympy.Expr:
        return _evalf_of(self.rewrite(log), prec)

    def _eval_is_real(self) -> bool | None:
        return self.args[0].is_real



class relu(Function):
    """max(0, x); its derivative is Heaviside(x), undefined at 0 (a kink)."""

    nargs = 1

    def fdiff(self, argindex: int = 1) -> sympy.Expr:
        return Heaviside(self.args[0])

    @classmethod
    def eval(cls, x: sympy.Expr) -> sympy.Expr | None:
        if x.is_number and x.is_comparable:
            return Max(S.Zero, x)
        return None

    def _eval_rewrite_as_Max(self, x: sympy.Expr, **kwargs: object) -> sympy.Expr:
        return Max(S.Zero, x)

    def _eval_evalf(self, prec: int) -> sympy.Expr:
        return _evalf_of(self.rewrite(Max), prec)

    def _eval_is_real(self) -> bool | None:
        return self.args[0].is_real


