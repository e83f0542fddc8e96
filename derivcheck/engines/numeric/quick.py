"""One central difference per direction: the cheap first estimate, refined only where needed.

A correct derivative is the common case. One central difference ``(f(x + h v) - f(x - h v)) / 2h``
at a moderate step agrees with it to about 1e-10 (relative) for a function that is smooth on the
scale of its inputs, at two evaluations per direction (what ``torch.autograd.gradcheck`` pays).
The caller compares it with the derivatives under test and sends only the directions where they
disagree to the step ladder (``derivatives.directional``), whose error estimates decide a
mismatch. So the error estimate here is the rounding bound alone: a truncation error larger than
assumed makes a correct derivative disagree and costs a refinement, never a verdict.
"""

from __future__ import annotations

import numpy as np

from derivcheck.engines.numeric.noise import _sample_error
from derivcheck.engines.numeric.sampling import (
    BatchedFunction,
    NumericDerivative,
    _as_directions,
    _as_point,
    _direction_scales,
    _along,
    _Evaluator,
)

#: the step is s * 2**-QUICK_EXPONENT for a direction of scale s: near the cube root of eps (a
#: central difference's best step), inside any domain or branch a few per mille of s away
QUICK_EXPONENT = 17
#: ... and for a function that rounds in float32 (its rounding error eps32 * |f| / h dominates)
QUICK_EXPONENT_FLOAT32 = 9
QUICK_LABEL = "central-one-step"


def central_once(f: BatchedFunction, x: np.ndarray, directions: np.ndarray, *, typical: np.ndarray | None = None,
                 exponent: int = QUICK_EXPONENT) -> NumericDerivative:
    """One central difference along each row of ``directions``, with its rounding bound.

    ``typical`` (n,) is each input's typical magnitude (default 1): the step of an entry equal
    to 0 scales with it. A point where f is not finite gives nan (value) and inf (error).

    Examples
    --------
    >>> import numpy as np
    >>> d = central_once(lambda p: np.sin(p), np.array([0.5]), np.array([[1.0]]))
    >>> bool(abs(d.value[0, 0] - np.cos(0.5)) < 1e-9), d.evaluations
    (True, 2)
    """
    point = _as_point(x)
    vectors = _as_directions(directions, point.size)
    scales = _direction_scales(point, vectors, typical)
    t = np.ldexp(scales, -exponent)
    call = _Evaluator(f)
    plus, minus = point + t[:, None] * vectors, point - t[:, None] * vectors
    out = call(np.concatenate([plus, minus]))
    count = len(vectors)
    fp, fm = out[:count], out[count:]
    # The representable steps (see sampling._along): exact along an axis.
    sides = _along(np.stack([plus, minus], axis=1), point, vectors, np.stack([t, -t], axis=1))
    width = (sides[:, 0] - sides[:, 1])[:, None]
    with np.errstate(all="ignore"):
        value = (fp - fm) / width
        sigma = np.zeros(fp.shape[1])
        error = (_sample_error(fp, sigma) + _sample_error(fm, sigma)) / width
    ok = np.isfinite(value) & np.isfinite(error)
    method = np.where(ok, QUICK_LABEL, "none").astype(object)
    step = np.broadcast_to(t[:, None], value.shape)
    return NumericDerivative(np.where(ok, value, np.nan).T, np.where(ok, error, np.inf).T, method.T,
                             call.evaluations, np.array(step.T))
