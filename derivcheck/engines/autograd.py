"""The autograd engine: SymPy expressions compiled to torch, differentiated in both modes.

Compilation walks the SymPy tree (after common-subexpression elimination) and maps each node to
a torch operation; no source text is generated or executed. The compiled function takes a tensor
of shape ``(..., n)`` and returns ``(..., m)``, so one call evaluates a whole batch of points,
real or complex (complex inputs serve the complex-step derivative).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import sympy
import torch

from derivcheck.language.registry import ANALYTIC, BY_NODE, SPECS

Tensor = torch.Tensor

# Functions that are analytic where defined and that torch evaluates in complex arithmetic:
# with only these, Im f(x + ih)/h is an exact derivative (the complex step).
_ANALYTIC = ANALYTIC

#: torch forms of the registry's one-argument functions (Heaviside, whose argument may be a
#: constant, is emitted on its own)
_UNARY: dict[type, Callable[[Tensor], Tensor]] = {
    spec.node: functools.partial(spec.torch, torch)
    for spec in SPECS if spec.torch is not None and spec.arity == 1 and spec.node is not sympy.Heaviside
}
_heaviside = functools.partial(BY_NODE[sympy.Heaviside].torch, torch)


def complex_step_safe(exprs: Sequence[sympy.Expr]) -> bool:
    """Whether every function in ``exprs`` is analytic, so the complex step applies."""
    for expr in exprs:
        for node in sympy.preorder_traversal(expr):
            if (node.is_Function or isinstance(node, (sympy.Max, sympy.Min))) and not isinstance(node, _ANALYTIC):
                return False
            if isinstance(node, sympy.Pow) and not node.exp.is_Number:
                return False  # x**y with symbolic y: fine in theory, but branch cuts bite
    return True


@dataclass(frozen=True, eq=False)
class Compiled:
    """A batched torch function of the inputs, built from SymPy expressions."""

    symbols: tuple[sympy.Symbol, ...]
    outputs: tuple[sympy.Expr, ...]
    analytic: bool  # complex step is valid
    _program: tuple[tuple[sympy.Symbol, sympy.Expr], ...]
    _results: tuple[sympy.Expr, ...]

    def __call__(self, x: Tensor) -> Tensor:
        env: dict[sympy.Expr, Tensor] = {s: x[..., j] for j, s in enumerate(self.symbols)}
        for name, expr in self._program:
            env[name] = _emit(expr, env, x)
        values = [_emit(expr, env, x) for expr in self._results]
        return torch.stack([torch.broadcast_to(_as_tensor(v, x), x.shape[:-1]) for v in values], dim=-1)

    def numpy(self, points: np.ndarray) -> np.ndarray:
        """Evaluate a batch ``(k, n)`` of float64 or complex128 points to ``(k, m)``, no grad."""
        with torch.no_grad():
            return self(torch.from_numpy(np.ascontiguousarray(points))).numpy()


def compile_torch(symbols: Sequence[sympy.Symbol], outputs: Sequence[sympy.Expr]) -> Compiled:
    """Compile ``outputs`` (functions of ``symbols``) into one batched torch function.

    Examples
    --------
    >>> x, y = sympy.symbols("x y", real=True)
    >>> f = compile_torch([x, y], [x**2 * y, sympy.sin(x)])
    >>> f(torch.tensor([2.0, 3.0], dtype=torch.float64)).tolist()[0]
    12.0
    """
    replacements, reduced = sympy.cse(list(outputs), optimizations=None)
    return Compiled(tuple(symbols), tuple(outputs), complex_step_safe(outputs), tuple(replacements), tuple(reduced))


def _emit(expr: sympy.Expr, env: dict, x: Tensor) -> Tensor | float | complex:
    if expr in env:
        return env[expr]
    if expr.is_Number or expr.is_NumberSymbol:
        value = complex(expr) if not expr.is_real else float(expr)
        return _constant(torch.tensor(value, dtype=x.dtype if not isinstance(value, complex) else torch.complex128), x)
    if isinstance(expr, sympy.Add):
        total = _emit(expr.args[0], env, x)
        for arg in expr.args[1:]:
            total = total + _emit(arg, env, x)
        return total
    if isinstance(expr, sympy.Mul):
        product = _emit(expr.args[0], env, x)
        for arg in expr.args[1:]:
            product = product * _emit(arg, env, x)
        return product
    if isinstance(expr, sympy.Pow):
        base = _emit(expr.base, env, x)
        exp = expr.exp
        if exp == sympy.S.Half:
            return torch.sqrt(base)
        if exp == -sympy.S.Half:
            return torch.rsqrt(base)
        if exp.is_Integer:
            return base ** int(exp)
        return base ** _emit(exp, env, x)
    func = type(expr)
    if func in _UNARY:
        return _UNARY[func](_emit(expr.args[0], env, x))
    if func is sympy.Heaviside:
        return _heaviside(_as_tensor(_emit(expr.args[0], env, x), x))
    if func in (sympy.Max, sympy.Min):
        combine = torch.maximum if func is sympy.Max else torch.minimum
        args = [_as_tensor(_emit(a, env, x), x) for a in expr.args]
        out = args[0]
        for arg in args[1:]:
            out = combine(out, arg)
        return out
    if func is sympy.Piecewise:
        out = None
        for value, condition in reversed(expr.args):
            branch = _as_tensor(_emit(value, env, x), x)
            if condition is sympy.true or out is None:
                out = branch
            else:
                out = torch.where(_condition(condition, env, x), branch, out)
        return out
    if func is sympy.atan2:
        return torch.atan2(_as_tensor(_emit(expr.args[0], env, x), x), _as_tensor(_emit(expr.args[1], env, x), x))
    raise NotImplementedError(f"no torch translation for {func.__name__} in {expr}")


_RELATIONS = {"<": torch.lt, "<=": torch.le, ">": torch.gt, ">=": torch.ge, "==": torch.eq, "!=": torch.ne}


def _condition(condition: sympy.Basic, env: dict, x: Tensor) -> Tensor:
    """A where()'s condition as a boolean tensor."""
    if condition is sympy.true or condition is sympy.false:
        return torch.tensor(bool(condition))
    if isinstance(condition, sympy.Not):
        return torch.logical_not(_condition(condition.args[0], env, x))
    if isinstance(condition, (sympy.And, sympy.Or)):
        combine = torch.logical_and if isinstance(condition, sympy.And) else torch.logical_or
        parts = [_condition(c, env, x) for c in condition.args]
        out = parts[0]
        for part in parts[1:]:
            out = combine(out, part)
        return out
    if condition in env:
        return env[condition]
    left = _as_tensor(_emit(condition.lhs, env, x), x)
    right = _as_tensor(_emit(condition.rhs, env, x), x)
    return _RELATIONS[condition.rel_op](left.real, right.real)


def _as_tensor(value: Tensor | float, x: Tensor) -> Tensor:
    return value if isinstance(value, Tensor) else _constant(torch.tensor(value, dtype=x.dtype), x)


def _constant(value: Tensor, x: Tensor) -> Tensor:
    """A constant, as a dual number with a zero tangent when ``x`` is one: torch's forward mode of
    an operation that mixes dual and plain operands runs a Python decomposition whose first call
    imports torch's compiler stack (seconds, once per process: every test worker's first case)."""
    import torch.autograd.forward_ad as fwAD

    if fwAD.unpack_dual(x).tangent is None:
        return value
    return fwAD.make_dual(value, torch.zeros_like(value))


@dataclass(frozen=True)
class AutogradValues:
    """Everything torch computes at one point (float64 numpy arrays)."""

    value: np.ndarray  # (m,)
    reverse: np.ndarray  # (m, n) Jacobian by reverse mode
    forward: np.ndarray  # (m, n) Jacobian by forward mode
    directional: np.ndarray  # (d, m) along unit directions, forward mode
    jvp: np.ndarray  # (t, m) forward mode
    vjp: np.ndarray  # (c, n) reverse mode
    hessian: np.ndarray | None  # (m, n, n), forward-over-reverse


def autograd_at(
    fn: Compiled,
    point: np.ndarray,
    *,
    directions: np.ndarray,
    tangents: np.ndarray,
    cotangents: np.ndarray,
    hessian: bool,
) -> AutogradValues:
    """Reverse- and forward-mode derivatives of ``fn`` at ``point`` (float64).

    Both modes use torch's autograd directly (``autograd.grad``, dual numbers): ``torch.func``'s
    transforms import torch's compiler stack (seconds) on first use, which every worker process
    of a parallel test run would pay again for its first case.
    """
    import torch.autograd.forward_ad as fwAD

    x = torch.tensor(point, dtype=torch.float64)
    leaf = x.clone().requires_grad_(True)
    value = fn(leaf)
    m, n = value.shape[-1], x.shape[-1]

    def push(v: torch.Tensor) -> torch.Tensor:
        with fwAD.dual_level():
            tangent = fwAD.unpack_dual(fn(fwAD.make_dual(x, v))).tangent
        return torch.zeros(m, dtype=torch.float64) if tangent is None else tangent.detach()

    forward = torch.stack([push(e) for e in torch.eye(n, dtype=torch.float64)], dim=1) if n else \
        torch.zeros(m, 0, dtype=torch.float64)

    def pull(out: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        if not out.requires_grad:
            return torch.zeros(n, dtype=torch.float64)
        return torch.autograd.grad(out, leaf, w, retain_graph=True, allow_unused=True, materialize_grads=True)[0]

    reverse = torch.stack([pull(value, row) for row in torch.eye(m, dtype=torch.float64)]) if m else \
        torch.zeros(0, n, dtype=torch.float64)

    def along(vectors: np.ndarray) -> np.ndarray:
        rows = [push(torch.tensor(v, dtype=torch.float64)).numpy() for v in vectors]
        return np.array(rows, dtype=np.float64).reshape(len(vectors), m)

    vjps = [pull(value, torch.tensor(c, dtype=torch.float64)).numpy() for c in cotangents]
    hess = _hessian(fn, x, m, n) if hessian else None
    return AutogradValues(
        value=value.detach().numpy().reshape(m),
        reverse=reverse.detach().numpy().reshape(m, n),
        forward=forward.detach().numpy().reshape(m, n),
        directional=along(directions),
        jvp=along(tangents),
        vjp=np.array(vjps, dtype=np.float64).reshape(len(cotangents), n),
        hessian=hess,
    )


def _hessian(fn: Compiled, x: torch.Tensor, m: int, n: int) -> np.ndarray:
    """``(m, n, n)`` second derivatives by double backward, one row at a time."""
    leaf = x.clone().requires_grad_(True)
    value = fn(leaf)
    out = np.zeros((m, n, n))
    for k in range(m):
        if not value[k].requires_grad:
            continue
        (g,) = torch.autograd.grad(value[k], leaf, retain_graph=True, create_graph=True)
        for i in range(n):
            if g[i].requires_grad:
                out[k, i] = torch.autograd.grad(g[i], leaf, retain_graph=True, allow_unused=True,
                                                materialize_grads=True)[0].detach().numpy()
    return out


def partials_at(fn: Compiled, point: np.ndarray, wrt: Sequence[Sequence[int]]) -> np.ndarray:
    """Derivatives of every output of ``fn`` by index sequences, by nested reverse mode.

    A sequence is in Leibniz order: ``(j, k)`` is d/dx_j (d/dx_k f), the last index applied first.
    Returns an ``(m, len(wrt))`` float64 array.

    Examples
    --------
    >>> x, y = sympy.symbols("x y", real=True)
    >>> fn = compile_torch([x, y], [x**3 * y])
    >>> partials_at(fn, np.array([2.0, 5.0]), [(0, 0, 1), (0,)]).tolist()
    [[12.0, 60.0]]
    """
    from torch.func import jacrev

    x = torch.tensor(point, dtype=torch.float64)
    m = len(fn.outputs)
    out = np.full((m, len(wrt)), np.nan)
    for order in sorted({len(seq) for seq in wrt}):
        g: Callable[[Tensor], Tensor] = fn
        for _ in range(order):
            g = jacrev(g)
        tensor = g(x).detach().numpy()  # [i, a1, ..., ak]: d/dx_ak ... d/dx_a1 f_i
        for d, seq in enumerate(wrt):
            if len(seq) == order:
                out[:, d] = tensor[(slice(None), *reversed(tuple(seq)))]
    return out
