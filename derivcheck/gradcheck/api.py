"""``check_grad``: one call in a test suite that says whether a derivative is right.

Three kinds of target, one result type:

* a torch function and its inputs (the inputs with ``requires_grad=True`` are checked): reverse
  mode always, forward mode where the function supports it, second order on request, against
  float64 finite differences;
* an expression (text or SymPy) and a point: the exact derivative is the reference;
* a function and the user's own gradient ``grad=`` (NumPy or torch), as scipy's ``check_grad``
  does, with a verdict instead of a bare number.

A wrong derivative raises ``DerivativeMismatch``; no verdict raises ``Inconclusive``; both are
``AssertionError`` subclasses, so pytest reports a test failure with the message.
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from derivcheck.errors import DerivativeMismatch, Inconclusive
from derivcheck.gradcheck.result import CheckResult, Mode, ModeResult, Options, Strategy
from derivcheck.verdict import Tolerances, Verdict

__all__ = ["CheckResult", "Mode", "ModeResult", "check_grad"]

#: the most random directions a check may ask for
MAX_DIRECTIONS = 64
STRATEGIES = tuple(s.value for s in Strategy)


def check_grad(
    func: Callable[..., Any] | str | Any,
    inputs: Any = None,
    *,
    at: Mapping[str, Any] | None = None,
    grad: Callable[..., Any] | None = None,
    seed: int = 0,
    directions: int | None = None,
    order: int = 1,
    tolerances: Tolerances | Mapping[str, float] | None = None,
    device: Any = None,
    strategy: Literal["auto", "full", "directional"] = "auto",
    raises: bool = True,
    params: Sequence[str] | str | None = None,
    names: Sequence[str] | None = None,
    budget: int | None = None,
) -> CheckResult:
    """Check the derivatives of ``func`` and raise if one is wrong.

    Parameters
    ----------
    func : callable, nn.Module, str or sympy.Expr
        A function of torch tensors returning a tensor or a tuple of tensors (scalar or not); an
        ``nn.Module`` (its parameters that require grad are checked too, named ``fc1.weight``;
        the module is checked on a copy and left exactly as found); a NumPy function of one
        array when ``grad`` is given; or an expression (``"x**2*y"`` or a SymPy expression)
        whose exact derivative becomes the reference.
    inputs : tensor, tuple or mapping, optional
        The arguments of ``func``. Tensors with ``requires_grad=True`` are checked; everything
        else is held fixed (the ``torch.autograd.gradcheck`` convention). A mapping is passed as
        keyword arguments (``func(**inputs)``) and names the entries (``b[1]``). A NumPy array
        checks every entry. Not used with an expression.
    at : mapping, optional
        For an expression: each variable's value, a number or nested lists for an array.
    grad : callable, optional
        The user's gradient, called like ``func`` (with keyword arguments named as in ``at`` for an
        expression); returns one array or tensor per checked input. Needs a scalar function.
    seed : int
        Seed of the random directions and cotangents (a local generator; global RNG untouched).
    directions : int, optional
        Random Gaussian directions for large inputs (each costs a few function evaluations);
        default 4, or 1 (and one cotangent) when a call of ``func`` takes over 0.25 s (a large model).
    order : int
        1, or 2 to check second derivatives too (double backward, Hessian-vector products).
    tolerances : Tolerances or mapping, optional
        Overrides of ``verdict.Tolerances`` fields; by default they follow the dtype the function
        computes in.
    device : str or torch.device, optional
        Where to evaluate copies of the inputs (default: where the checked inputs are).
    strategy : {"auto", "full", "directional"}
        Compare full Jacobians (small inputs) or seeded directional products (large inputs).
    raises : bool
        Raise on a wrong derivative or no verdict (default); else only return the result.
    budget : int, optional
        The most function evaluations the numeric reference may spend. A correct function
        costs about two per input entry (or per direction); entries whose first estimate
        disagrees are refined with more, and where the budget stops a refinement those entries
        stay unconfirmed (no verdict rests on them) and a note says so.
    params : str or list of str, optional
        For a module: the parameters to check, by name or glob (``["fc2.*"]``); default every
        parameter that requires grad.
    names : list of str, optional
        Names of the positional inputs in messages (default: ``func``'s parameter names).

    Returns
    -------
    CheckResult
        Verdict per mode, every compared value with its error and tolerance, localised wrong
        entries, likely causes, evaluation count and time.

    Raises
    ------
    DerivativeMismatch
        A derivative disagrees with its reference beyond the tolerance.
    Inconclusive
        No verdict: not differentiable at the point, not finite there, or not deterministic.
    ValueError
        Arguments that cannot be checked (the message quotes the bad value).

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64, requires_grad=True)
    >>> check_grad(lambda t: (t ** 3).sum(), x).ok
    True
    >>> check_grad("x**2*y", at={"x": 2, "y": 3}).verdict
    <Verdict.PASS: 'pass'>
    >>> result = check_grad("x**2*y", at={"x": 2, "y": 3}, grad=lambda x, y: (2 * x * y, -x**2), raises=False)
    >>> result.verdict
    <Verdict.MISMATCH: 'mismatch'>
    >>> result.causes
    ('sign flipped: computed = -1 x reference', 'the error is confined to one entry: y')
    >>> check_grad(torch.nn.Linear(3, 2).double(), torch.randn(4, 3, dtype=torch.float64)).n_inputs
    8
    """
    __tracebackhide__ = True  # pytest shows the message, not this function's source
    options = _options(seed, directions, order, tolerances, device, strategy, budget)
    if grad is not None and not callable(grad):
        raise ValueError(f"grad must be callable, got {grad!r}")
    if isinstance(raises, bool) is False:
        raise ValueError(f"raises must be True or False, got {raises!r}")
    if (params is not None or names is not None) and _is_expression(func):
        raise ValueError("params= and names= are for functions and modules; an expression names its variables")
    if _is_expression(func):
        if inputs is not None:
            raise ValueError("an expression takes its point from at=, not from inputs")
        if at is None:
            raise ValueError(f"checking the expression {func!r} needs at=, e.g. at={{'x': 2}}")
        from derivcheck.gradcheck.expression import check_expression

        result = check_expression(func, at, grad, options)
    else:
        if at is not None:
            raise ValueError("at= is for expressions; pass a function's arguments as inputs")
        if inputs is None:
            raise ValueError("inputs is required: a tensor or a tuple of the function's arguments")
        result = _check_callable(func, inputs, grad, options, _params(params), names)
    if raises and not result.ok:
        if result.verdict is Verdict.MISMATCH:
            raise DerivativeMismatch(result.message, result)
        raise Inconclusive(result.message, result)
    return result


def _check_callable(func: Callable, inputs: Any, grad: Callable | None, options: Options,
                    params: list[str] | None, names: Sequence[str] | None) -> CheckResult:
    import torch

    from derivcheck.gradcheck.inputs import arrange
    from derivcheck.gradcheck.numpy_function import NumpyFunction

    if not callable(func):
        raise ValueError(f"func must be callable, a text expression or a SymPy expression, got {func!r}")
    arguments = arrange(inputs, names)
    if params is not None and not isinstance(func, torch.nn.Module):
        raise ValueError(f"params= selects parameters of an nn.Module; func is {describe(func)!r}, not a module")
    if isinstance(func, torch.nn.Module) or any(isinstance(p, torch.Tensor) for p in arguments.values):
        from derivcheck.gradcheck.targets import check_torch

        return check_torch(func, arguments, grad, options, params, describe(func))
    if grad is None:
        raise ValueError("inputs hold no tensor: a NumPy function has nothing to check without grad=, "
                         "and a torch function needs tensors with requires_grad=True")
    if options.order >= 2:
        raise ValueError("order=2 checks double backward, which needs a torch function; a NumPy function has none")
    from derivcheck.gradcheck.checks import check_function

    if arguments.keywords is not None:
        raise ValueError("inputs: a mapping of inputs is for torch tensors; a NumPy function takes one array")
    return check_function(NumpyFunction(func, inputs), grad, options, describe(func))


def describe(func: object) -> str:
    """A short name for a callable: ``loss``, ``Square.apply``, ``<lambda>``, a module's class."""
    import sys

    nn = getattr(sys.modules.get("torch"), "nn", None)
    if nn is not None and isinstance(func, nn.Module):
        return type(func).__name__
    if inspect.ismethod(func):
        owner = func.__self__
        owner_name = owner.__name__ if isinstance(owner, type) else type(owner).__name__
        return f"{owner_name}.{func.__name__}"
    name = getattr(func, "__qualname__", None) or getattr(func, "__name__", None)
    return name if isinstance(name, str) else type(func).__name__


def _is_expression(func: object) -> bool:
    if isinstance(func, str):
        return True
    sympy = sys.modules.get("sympy")  # a SymPy object means SymPy is imported: no 1.5 s import to ask
    return sympy is not None and isinstance(func, (sympy.Basic, sympy.MatrixBase))


def _options(seed: object, directions: object, order: object, tolerances: object, device: object,
             strategy: object, budget: object = None) -> Options:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a whole number >= 0, got {seed!r}")
    if directions is not None and (isinstance(directions, bool) or not isinstance(directions, int)
                                   or not 1 <= directions <= MAX_DIRECTIONS):
        raise ValueError(f"directions must be a whole number from 1 to {MAX_DIRECTIONS}, got {directions!r}")
    if order not in (1, 2) or isinstance(order, bool):
        raise ValueError(f"order must be 1 or 2, got {order!r}")
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {list(STRATEGIES)}, got {strategy!r}")
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, int) or budget < 1):
        raise ValueError(f"budget must be a whole number of function evaluations >= 1, or None, got {budget!r}")
    return Options(seed=seed, directions=directions, order=order, tolerances=_tolerances(tolerances),
                   device=None if device is None else str(device), strategy=Strategy(strategy),
                   budget=budget)  # type: ignore[arg-type]


def _params(value: object) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        return list(value)
    raise ValueError(f"params must be a parameter name or glob, or a list of them, got {value!r}")


def _tolerances(value: object) -> Tolerances | None:
    if value is None or isinstance(value, Tolerances):
        return value
    if not isinstance(value, Mapping):
        raise ValueError(f"tolerances must be a Tolerances or a mapping of its fields, got {value!r}")
    fields = {f.name for f in dataclasses.fields(Tolerances)}
    for key, number in value.items():
        if key not in fields:
            raise ValueError(f"tolerances: unknown field {key!r}; the fields are {sorted(fields)}")
        if isinstance(number, bool) or not isinstance(number, (int, float)) or not number >= 0:
            raise ValueError(f"tolerances: {key!r} must be a number >= 0, got {number!r}")
    return Tolerances(**{k: float(v) for k, v in value.items()})
