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

import warnings

import numpy as np

from derivcheck.engines.numeric.methods import Method, labelled
from derivcheck.engines.numeric.noise import _sample_error
from derivcheck.engines.numeric.sampling import (
    HIDDEN_NOISE_GROWTH as HIDDEN_GROWTH,
)
from derivcheck.engines.numeric.sampling import (
    NOISE_SAFETY,
    BatchedFunction,
    NumericDerivative,
    _along,
    _as_directions,
    _as_point,
    _direction_scales,
    _Evaluator,
)

#: the step is s * 2**-QUICK_EXPONENT for a direction of scale s: near the cube root of eps (a
#: central difference's best step), inside any domain or branch a few per mille of s away
QUICK_EXPONENT = 17
#: ... and for a function that rounds in float32 (its rounding error eps32 * |f| / h dominates)
QUICK_EXPONENT_FLOAT32 = 9
QUICK_LABEL = Method.QUICK


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
    method = labelled(ok, QUICK_LABEL)
    step = np.broadcast_to(t[:, None], value.shape)
    return NumericDerivative(np.where(ok, value, np.nan).T, np.where(ok, error, np.inf).T, method.T,
                             call.evaluations, np.array(step.T))


#: a one-sided gap that grows by this much while the step shrinks through the search is a jump
JUMP_GROWTH = 64.0
#: levels of the shrinking search below the first step, each a step 4 times smaller
SHRINK_LEVELS = 7
SHRINK_LABEL = Method.SHRINKING


def _shrinking_points(point: np.ndarray, vectors: np.ndarray, t: np.ndarray) -> np.ndarray:
    """One batch, filled in place: the centre, then x + t v and x - t v (a million inputs: no copies)."""
    count, levels = t.shape
    points = np.empty((1 + 2 * t.size, point.size))
    points[0] = point
    plus = points[1:1 + t.size].reshape(count, levels, point.size)
    minus = points[1 + t.size:].reshape(count, levels, point.size)
    np.multiply(t[..., None], vectors[:, None, :], out=plus)
    np.subtract(point, plus, out=minus)
    plus += point
    return points


def _taken_steps(points: np.ndarray, point: np.ndarray, vectors: np.ndarray,
                 t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The forward and backward steps (D, L, 1) the batch took from x."""
    count, levels = t.shape
    if np.all(np.count_nonzero(vectors, axis=1) == 1):  # along axes the representable steps are exact
        sides = _along(points[1:].reshape(2, count, levels, point.size).transpose(1, 0, 2, 3)
                       .reshape(count, -1, point.size), point, vectors,
                       np.concatenate([t, -t], axis=1)).reshape(count, 2, levels)
        return sides[:, 0, :, None], -sides[:, 1, :, None]
    return t[..., None], t[..., None]  # along a general vector the nominal step is kept (see sampling._along)


def _hidden_rounding(diff: np.ndarray, clean: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Rounding the eps-model misses (samples quantised in steps of eps times an intermediate,
    as in GELU's far tail), per direction and output (D, m): it shows where consecutive quotients
    move apart again as the step shrinks, a truncation error only shrinks: a difference d at
    step t is a sample error d t."""
    earlier = np.minimum.accumulate(np.where(clean, diff, np.inf), axis=1)
    before = np.concatenate([np.full_like(earlier[:, :1], np.inf), earlier[:, :-1]], axis=1)
    grown = clean & np.isfinite(diff) & (diff > HIDDEN_GROWTH * before)
    return np.max(np.where(grown, diff * t[:, 1:, None], 0.0), axis=1)


def _middle_step_errors(f0: np.ndarray, fp: np.ndarray, fm: np.ndarray, tp: np.ndarray, tm: np.ndarray,
                        t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Central quotients (D, L, m), one-sided gaps F - B (D, L, m) and the error of each middle step
    of three consecutive ones (D, L-2, m), inf where a pair is not clean."""
    sigma = np.zeros(f0.shape[-1])
    with np.errstate(all="ignore"):
        ep, em, e0 = _sample_error(fp, sigma), _sample_error(fm, sigma), _sample_error(f0, sigma)
        central = (fp - fm) / (tp + tm)
        central_noise = (ep + em) / (tp + tm)
        gap = (fp - f0) / tp - (f0 - fm) / tm  # F - B: t f'' where smooth
        gap_noise = (ep + e0) / tp + (e0 + em) / tm
        # a pair (k, k+1) is clean where the one-sided gap shrinks with the step (halves at
        # least, a quarter for a smooth f) or is rounding at both steps
        small, large = np.abs(gap[:, 1:]), np.abs(gap[:, :-1])
        clean = (small <= 0.5 * large + gap_noise[:, 1:] + gap_noise[:, :-1]) | (
            (small <= gap_noise[:, 1:]) & (large <= gap_noise[:, :-1]))
        diff = np.abs(central[:, 1:] - central[:, :-1])  # (D, L-1, m)
        central_noise = central_noise + NOISE_SAFETY * _hidden_rounding(diff, clean, t)[:, None, :] / t[..., None]
        step_apart = diff + central_noise[:, 1:] + central_noise[:, :-1]
        # the estimate is the middle of three steps, its error both neighbours' distance: a pair
        # can agree by chance (samples quantised by rounding the eps-model does not see, as in
        # GELU's far tail); the third step shows that rounding
        error = step_apart[:, :-1] + step_apart[:, 1:]
        usable = clean[:, :-1] & clean[:, 1:] & np.isfinite(error) & np.isfinite(central[:, 1:-1])
        error = np.where(usable, error, np.inf)
    return central, gap, error


def shrinking(f: BatchedFunction, x: np.ndarray, directions: np.ndarray, *, typical: np.ndarray | None = None,
              exponent: int = QUICK_EXPONENT, levels: int = SHRINK_LEVELS) -> NumericDerivative:
    """Central differences at steps shrinking from the first estimate's, for a function that is
    not smooth on the scale of larger steps: a jump (a staircase: round, floor, quantisation) or
    a kink (abs, relu, max) a few steps from x.

    At each step t the one-sided quotients differ by ``F - B ~ t f''`` where f is smooth within
    t of x; a jump or kink within t leaves a difference that does not shrink with t. A pair of
    consecutive steps counts only where that difference shrinks (or is rounding), and the smaller
    step's central quotient is the estimate, its error the pair's disagreement plus rounding. The
    pair with the smallest error wins. Where no pair qualifies (a jump or a kink at x itself) the
    error is infinite and the value is the smallest step's quotient (finite, or nan).

    Examples
    --------
    >>> import numpy as np
    >>> stairs = lambda p: np.round(p * 1000) / 1000      # jumps every 1e-3, flat between
    >>> d = shrinking(stairs, np.array([0.5005 - 1e-6]), np.array([[1.0]]))
    >>> float(d.value[0, 0]), bool(d.error[0, 0] < 1e-6)
    (0.0, True)
    """
    point = _as_point(x)
    vectors = _as_directions(directions, point.size)
    scales = _direction_scales(point, vectors, typical)
    count = len(vectors)
    ladder = exponent + 2 * np.arange(levels + 1)  # (L,)
    t = np.ldexp(scales[:, None], -ladder[None, :])  # (D, L)
    points = _shrinking_points(point, vectors, t)
    call = _Evaluator(f)
    out = call(points)
    f0, rest = out[0], out[1:]
    fp = rest[: count * ladder.size].reshape(count, ladder.size, -1)
    fm = rest[count * ladder.size:].reshape(count, ladder.size, -1)
    tp, tm = _taken_steps(points, point, vectors, t)
    central, gap, error = _middle_step_errors(f0, fp, fm, tp, tm, t)
    best = np.argmin(error, axis=1)  # (D, m)
    rows = np.arange(count)[:, None]
    outs = np.arange(error.shape[2])[None, :]
    chosen_error = error[rows, best, outs]
    ok = np.isfinite(chosen_error)
    value = np.where(ok, central[:, 1:-1][rows, best, outs], central[:, -1])
    step = np.where(ok, t[:, 1:-1][rows, best], np.nan)
    method = labelled(ok, SHRINK_LABEL)
    with np.errstate(all="ignore"):
        # a kink, jump or spike at x: the one-sided gap does not shrink; half of it bounds how far
        # any central quotient may be from a slope of f there
        with warnings.catch_warnings():  # a direction with no finite gap at any step: nan, not a warning
            warnings.simplefilter("ignore", RuntimeWarning)
            rough = np.nanmin(np.abs(gap) * np.minimum(tp, tm) / (tp + tm), axis=1)
    rough = np.where(ok, 0.0, np.where(np.isfinite(rough), rough, np.inf))
    return NumericDerivative(value.T, np.where(ok, chosen_error, np.inf).T, method.T, call.evaluations, step.T,
                             rough.T, _jumps(gap, tp, tm, ok).T)


def _jumps(gap: np.ndarray, tp: np.ndarray, tm: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """(D, m): the size of a jump at x where no pair of steps qualified and the one-sided gap grew
    as the step shrank (by ``JUMP_GROWTH`` over the search; a kink's stays put); 0 elsewhere."""
    with np.errstate(all="ignore"):
        first, last = np.abs(gap[:, 0]), np.abs(gap[:, -1])
        grows = np.isfinite(last) & (last > JUMP_GROWTH * first)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            size = np.nanmedian(np.abs(gap) * (tp * tm) / (tp + tm) * 2, axis=1)
    return np.where(~ok & grows & np.isfinite(size), size, 0.0)
