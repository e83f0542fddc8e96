"""The numeric engine's public entry points: Jacobians, directional and one-sided derivatives, Hessians.
"""

from __future__ import annotations

import numpy as np

from derivcheck.engines.numeric.complex_step import _complex_step
from derivcheck.engines.numeric.ladder import _Choice, _run_ladder
from derivcheck.engines.numeric.sampling import (
    COMPLEX_LABEL,
    COMPLEX_STEP,
    NO_ESTIMATE,
    BatchedFunction,
    NumericDerivative,
    _as_directions,
    _as_point,
    _direction_scales,
    _Evaluator,
    _power_of_two_at_least,
)
from derivcheck.engines.numeric.stencils import _FirstDerivativeStencil, _HessianStencil


def _real_ladder(f: BatchedFunction, x: np.ndarray, vectors: np.ndarray, scales: np.ndarray,
                 check_steps: tuple[int, ...] = ()) -> tuple[_Choice, int]:
    call = _Evaluator(f)
    stencil = _FirstDerivativeStencil(x, vectors, scales)
    (choice,) = _run_ladder(stencil, call, x, (_FirstDerivativeStencil.kinds,), check_steps)
    return choice, call.evaluations


def _directional_core(f: BatchedFunction, x: np.ndarray, vectors: np.ndarray, complex_step: bool,
                      typical: np.ndarray | None = None, check_steps: tuple[int, ...] = ()) -> NumericDerivative:
    scales = _direction_scales(x, vectors, typical)
    if not complex_step:
        choice, evaluations = _real_ladder(f, x, vectors, scales, check_steps)
        return NumericDerivative(choice.value.T, choice.error.T, choice.method.T, evaluations, choice.step.T,
                                 noise=choice.noise.T)
    value, error, doubtful, noise, evaluations = _complex_step(f, x, vectors, scales)
    method = np.full(value.shape, np.array(COMPLEX_LABEL, dtype=object))
    step = np.broadcast_to((scales * COMPLEX_STEP)[:, None], value.shape).copy()
    redo = np.flatnonzero(np.any(doubtful, axis=1))
    if redo.size:
        choice, more = _real_ladder(f, x, vectors[redo], scales[redo], check_steps)
        evaluations += more
        better = choice.error < error[redo]
        value[redo] = np.where(better, choice.value, value[redo])
        error[redo] = np.where(better, choice.error, error[redo])
        method[redo] = np.where(better, choice.method, method[redo])
        step[redo] = np.where(better, choice.step, step[redo])
        noise[redo] = choice.noise  # f may not be analytic there: its values' noise as the real ladder sees it
    method = np.where(np.isfinite(value), method, np.array(NO_ESTIMATE, dtype=object))
    return NumericDerivative(value.T, error.T, method.T, evaluations, step.T, noise=noise.T)


def _as_typical(typical: object, n: int) -> np.ndarray | None:
    if typical is None:
        return None
    values = np.broadcast_to(np.asarray(typical, dtype=np.float64), (n,))
    if not np.all(np.isfinite(values) & (values > 0)):
        raise ValueError(f"typical magnitudes must be finite and > 0, got {typical!r}")
    return values


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def jacobian(f: BatchedFunction, x: np.ndarray, *, complex_step: bool = False,
             typical: np.ndarray | None = None) -> NumericDerivative:
    """Jacobian of a batched function at one point, with an error estimate per entry.

    Parameters
    ----------
    f : callable
        Batched function: a ``(k, n)`` array of points to a ``(k, m)`` array of values
        (float64 in, float64 out; complex128 in and out when ``complex_step``).  It may return
        nan/inf outside its domain.
    x : numpy.ndarray
        The point, shape ``(n,)``, finite.
    complex_step : bool, optional
        Use the complex step ``Im f(x + i t e_j) / t`` (exact to rounding); only for f that
        accepts complex input and is analytic near ``x``.  Entries where it fails fall back
        to finite differences.
    typical : numpy.ndarray, optional
        Each input's typical magnitude, shape ``(n,)`` (default 1): steps scale with
        ``max(|x_i|, typical_i)``, so an entry equal to 0 is not probed on the scale of 0.

    Returns
    -------
    NumericDerivative
        ``value``, ``error``, ``method`` and ``step`` of shape ``(m, n)``.

    Examples
    --------
    >>> import numpy as np
    >>> f = lambda p: np.stack([p[:, 0] * p[:, 1], np.sin(p[:, 0])], axis=1)
    >>> d = jacobian(f, np.array([2.0, 3.0]))
    >>> np.allclose(d.value, [[3.0, 2.0], [np.cos(2.0), 0.0]], rtol=1e-12, atol=1e-12)
    True
    >>> bool(np.all(d.error < 1e-12))
    True
    """
    point = _as_point(x)
    return _directional_core(f, point, np.eye(point.size), complex_step, _as_typical(typical, point.size))


def directional(
    f: BatchedFunction, x: np.ndarray, directions: np.ndarray, *, complex_step: bool = False,
    typical: np.ndarray | None = None, check_steps: tuple[int, ...] = (),
) -> NumericDerivative:
    """Directional derivatives ``d/dt f(x + t v)`` at ``t = 0`` for each row ``v`` of ``directions``.

    Costs O(d) batched evaluations whatever ``n`` is, so it suits quick checks of large inputs
    (compare with ``J @ v`` from another source).  The vector is used as given, not normalised.

    Parameters
    ----------
    f : callable
        Batched function ``(k, n) -> (k, m)``, see :func:`jacobian`.
    x : numpy.ndarray
        The point, shape ``(n,)``.
    directions : numpy.ndarray
        Shape ``(d, n)``, nonzero rows.
    complex_step, typical : optional
        As for :func:`jacobian`.
    check_steps : tuple of int, optional
        Exponents ``k`` of extra steps ``s * 2**-k`` sampled in the first round (check_grad
        passes its first estimate's): their quotients contradict a slope that large steps fake
        over a staircase or across a nearby kink, so smaller steps are tried before a verdict.

    Returns
    -------
    NumericDerivative
        Arrays of shape ``(m, d)``.

    Examples
    --------
    >>> import numpy as np
    >>> f = lambda p: (p[:, 0] ** 2 * p[:, 1])[:, None]
    >>> d = directional(f, np.array([1.0, 2.0]), np.array([[0.6, 0.8]]))
    >>> round(float(d.value[0, 0]), 12)   # grad = (4, 1); 0.6*4 + 0.8*1
    3.2
    """
    point = _as_point(x)
    vectors = _as_directions(directions, point.size)
    return _directional_core(f, point, vectors, complex_step, _as_typical(typical, point.size), check_steps)


def one_sided(f: BatchedFunction, x: np.ndarray, directions: np.ndarray, *,
              typical: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward and forward one-sided directional derivatives, for finding kinks.

    ``left`` is ``lim_{t->0+} (f(x) - f(x - t v)) / t`` and ``right`` is
    ``lim_{t->0+} (f(x + t v) - f(x)) / t``, each extrapolated over a ladder of steps using
    samples on its own side only.  Where f is differentiable they agree within
    ``2 * error``.

    Parameters
    ----------
    f : callable
        Batched function ``(k, n) -> (k, m)``.
    x : numpy.ndarray
        The point, shape ``(n,)``.
    directions : numpy.ndarray
        Shape ``(d, n)``, nonzero rows.
    typical : numpy.ndarray, optional
        As for :func:`jacobian`.

    Returns
    -------
    left, right, error : numpy.ndarray
        Each of shape ``(m, d)``; ``error`` is the larger of the two sides' estimated
        absolute errors (inf where a side has no finite estimate).

    Examples
    --------
    >>> import numpy as np
    >>> relu = lambda p: np.maximum(p, 0.0)
    >>> left, right, error = one_sided(relu, np.array([0.0]), np.array([[1.0]]))
    >>> float(left[0, 0]), float(right[0, 0])
    (0.0, 1.0)
    """
    point = _as_point(x)
    vectors = _as_directions(directions, point.size)
    call = _Evaluator(f)
    stencil = _FirstDerivativeStencil(point, vectors, _direction_scales(point, vectors, _as_typical(typical, point.size)))
    left, right = _run_ladder(stencil, call, point, (("backward",), ("forward",)))
    return left.value.T, right.value.T, np.maximum(left.error, right.error).T


def hessian(f: BatchedFunction, x: np.ndarray) -> NumericDerivative:
    """Hessian of a scalar batched function (``m == 1``) by extrapolated second differences.

    Diagonal entries use ``x +- t e_i`` and ``x``; off-diagonal entries the four corners
    ``x +- t_i e_i +- t_j e_j``; both are extrapolated in ``t**2``.  The result is symmetric.

    Parameters
    ----------
    f : callable
        Batched function ``(k, n) -> (k, 1)``.
    x : numpy.ndarray
        The point, shape ``(n,)``.

    Returns
    -------
    NumericDerivative
        Arrays of shape ``(n, n)``; ``method`` is ``"central-richardson"``.

    Examples
    --------
    >>> import numpy as np
    >>> rosen = lambda p: ((1 - p[:, 0]) ** 2 + 100 * (p[:, 1] - p[:, 0] ** 2) ** 2)[:, None]
    >>> h = hessian(rosen, np.array([1.0, 1.0]))
    >>> np.allclose(h.value, [[802.0, -400.0], [-400.0, 200.0]], rtol=1e-10)
    True
    """
    point = _as_point(x)
    call = _Evaluator(f, scalar=True)
    stencil = _HessianStencil(point, _power_of_two_at_least(np.maximum(np.abs(point), 1.0)))
    (choice,) = _run_ladder(stencil, call, point, (_HessianStencil.kinds,))
    n = point.size
    out = {}
    for name, fill in (("value", np.nan), ("error", np.inf), ("method", NO_ESTIMATE), ("step", np.nan)):
        flat = getattr(choice, name)[:, 0]
        full = np.full((n, n), fill, dtype=object if name == "method" else np.float64)
        full[stencil.rows, stencil.cols] = flat
        full[stencil.cols, stencil.rows] = flat
        out[name] = full
    return NumericDerivative(out["value"], out["error"], out["method"], call.evaluations, out["step"])
