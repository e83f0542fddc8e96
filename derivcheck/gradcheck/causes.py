"""Likely causes of a wrong derivative, read off the wrong entries and their references.

Each test here looks for one pattern that engineers hit when they derive a gradient by hand:
a flipped sign or a constant factor (the ratio computed/reference is the same on every wrong
entry), a transposed matrix, a term missing (the computed value equals the derivative with
one operand held constant), and an error confined to one entry, one input or one batch row.
A cause is reported only when the evidence fits it closely; otherwise nothing is said.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Sequence

import numpy as np

from derivcheck.flat_index import Layout

#: two ratios, or a computed value and a candidate, "agree" within this (relative)
CAUSE_RTOL = 1e-6
#: below this relative error on every wrong entry, a truncated constant is the likely story
SMALL_RELATIVE = 1e-2
#: the largest whole factor named as "a mean where a sum belongs" (batch sizes and the like)
MAX_NAMED_FACTOR = 4096

#: the most variants tried when looking for a missing term (an operand of one operation, or a
#: sub-expression, held constant)
MAX_TERM_VARIANTS = 64


def says_nothing_if_inapplicable(rule: Callable[..., str | None]) -> Callable[..., str | None]:
    """A rule whose arithmetic does not apply to the evidence (a zero ratio, shapes that do not
    fit) says nothing rather than stopping the diagnosis."""

    @functools.wraps(rule)
    def guarded(*args: object, **kwargs: object) -> str | None:
        try:
            with np.errstate(all="ignore"):
                return rule(*args, **kwargs)
        except (ArithmeticError, IndexError, ValueError, TypeError):
            return None

    return guarded


@says_nothing_if_inapplicable
def ratio_cause(reference: np.ndarray, computed: np.ndarray, *, loose: bool = True) -> str | None:
    """A sign flip, a constant factor or (``loose``) small relative errors on every wrong entry.

    Examples
    --------
    >>> ratio_cause(np.array([2.0, -3.0]), np.array([-2.0, 3.0]))
    'sign flipped: computed = -1 x reference on every wrong entry'
    >>> ratio_cause(np.array([2.0, 4.0]), np.array([1.0, 2.0]))
    'a factor of 2 missing: computed = reference / 2 on every wrong entry'
    """
    reference, computed = np.asarray(reference, float), np.asarray(computed, float)
    keep = np.isfinite(reference) & np.isfinite(computed) & (reference != 0)
    if not keep.any():
        return None
    ratios = computed[keep] / reference[keep]
    if np.all(computed == 0):
        return "the computed derivative is zero where the reference is not: a term or a path is missing (a detach?)"
    r = float(np.median(ratios))
    if r == 0 or not math.isfinite(r):
        return None  # most wrong entries are zero: no ratio to name
    if np.all(np.abs(ratios - r) <= CAUSE_RTOL * max(1.0, abs(r))):
        return _named_ratio(r, " on every wrong entry" if ratios.size > 1 else "")
    relative = np.abs(ratios - 1)
    if loose and np.all(relative < SMALL_RELATIVE):
        return (f"small relative errors (up to {float(relative.max()):.2g}) on every wrong entry: "
                f"a truncated constant or an approximate formula?")
    return None


def _whole_factor(r: float) -> bool:
    if not _invertible(r):
        return False
    return any(2 < abs(k) <= MAX_NAMED_FACTOR and abs(v - k) <= CAUSE_RTOL * abs(v)
               for v, k in ((r, round(r)), (1 / r, round(1 / r))))


def _invertible(r: float) -> bool:
    """A ratio whose inverse is a finite number: the factor rules need both."""
    return r != 0 and math.isfinite(r) and math.isfinite(1 / r)


def _named_ratio(r: float, tail: str) -> str | None:
    if not _invertible(r):
        return None  # computed is zero (or ~1e-309) against the reference: no factor to name
    for target, text in ((-1.0, "sign flipped: computed = -1 x reference"),
                         (2.0, "a factor of 2 too many: computed = 2 x reference"),
                         (0.5, "a factor of 2 missing: computed = reference / 2"),
                         (-2.0, "sign flipped and a factor of 2 too many: computed = -2 x reference"),
                         (-0.5, "sign flipped and a factor of 2 missing: computed = -reference / 2")):
        if abs(r - target) <= CAUSE_RTOL * abs(target):
            return text + tail
    if not tail and abs(r - 1) >= SMALL_RELATIVE and not _whole_factor(r):
        return None  # one entry with an unremarkable ratio says nothing about a cause
    whole, inverse = round(r), round(1 / r)
    if 2 < abs(whole) <= MAX_NAMED_FACTOR and abs(r - whole) <= CAUSE_RTOL * abs(r):
        return f"constant factor: computed = {whole} x reference{tail} (a sum where a mean belongs?)"
    if 2 < abs(inverse) <= MAX_NAMED_FACTOR and abs(1 / r - inverse) <= CAUSE_RTOL * abs(1 / r):
        return f"constant factor: computed = reference / {inverse}{tail} (a mean where a sum belongs?)"
    if abs(r - 1) < SMALL_RELATIVE:
        return f"relative error {r - 1:+.3g}{tail}: a truncated constant?"
    return f"constant factor: computed = {r:.6g} x reference{tail}"


@says_nothing_if_inapplicable
def transposed_cause(layout: Layout, reference: np.ndarray, computed: np.ndarray) -> str | None:
    """A square matrix input whose computed gradient is the transpose of the reference.

    ``reference`` and ``computed`` are gradients ``(n,)`` over the flat inputs (one output, or
    the Jacobian contracted with a cotangent); with a full square Jacobian ``(m, m)`` the whole
    Jacobian is tested as well.
    """
    reference, computed = np.asarray(reference, float), np.asarray(computed, float)
    if reference.ndim == 2 and reference.shape[0] == reference.shape[1] > 1:
        if _close(computed, reference.T, reference) and not _close(computed, reference, reference):
            return "the Jacobian is transposed: computed = reference.T"
    rows = reference.reshape(-1, reference.shape[-1])
    cols = computed.reshape(-1, computed.shape[-1])
    for slot in layout.slots:
        name, shape, offset = slot.name, slot.layout_shape, slot.offset
        if len(shape) != 2 or shape[0] != shape[1] or shape[0] < 2:
            continue
        size = shape[0] * shape[1]
        ref = rows[:, offset:offset + size].reshape(-1, *shape)
        got = cols[:, offset:offset + size].reshape(-1, *shape)
        if _close(got, ref.transpose(0, 2, 1), ref) and not _close(got, ref, ref):
            return f"the gradient of {name!r} is transposed: it equals the transpose of the reference"
    return None


@says_nothing_if_inapplicable
def coupling_cause(reference: np.ndarray, computed: np.ndarray) -> str | None:
    """A square Jacobian computed as diagonal (elementwise) where the reference couples entries:
    the coupling terms (a softmax or normalisation's shared sum, mean or variance) are missing."""
    reference, computed = np.asarray(reference, float), np.asarray(computed, float)
    if reference.ndim != 2 or reference.shape[0] != reference.shape[1] or reference.shape[0] < 2:
        return None
    off = ~np.eye(reference.shape[0], dtype=bool)
    scale = float(np.nanmax(np.abs(reference))) or 1.0
    if np.all(np.abs(computed[off]) <= CAUSE_RTOL * scale) and np.any(np.abs(reference[off]) > CAUSE_RTOL * scale):
        return ("the computed Jacobian is diagonal but the reference couples the entries: the coupling terms "
                "are missing (a normaliser's sum, mean or variance treated as a constant?)")
    return None


@says_nothing_if_inapplicable
def conjugate_cause(inputs: Layout, outputs: Layout, reference: np.ndarray, computed: np.ndarray) -> str | None:
    """A complex derivative conjugated by mistake, read off full real-view Jacobians ``(m, n)``.

    Either the gradient of a complex input is the conjugate of the reference (its imaginary
    columns negated), or a complex output's derivative is conjugated (the off-diagonal terms of
    each 2x2 real block negated: ``f'`` used where torch's convention needs ``conj(f')``).
    """
    reference, computed = np.asarray(reference, float), np.asarray(computed, float)
    if reference.ndim != 2 or reference.shape != computed.shape or not any(s.paired for s in inputs.slots):
        return None
    imag_in = _imaginary(inputs, reference.shape[1])
    flipped = reference.copy()
    flipped[:, imag_in] *= -1
    if _close(computed, flipped, reference) and not _close(computed, reference, reference):
        return ("the gradient of a complex input is conjugated: its imaginary parts have the wrong sign "
                "(torch's convention: grad = dL/dRe z + i dL/dIm z; a conj() missing or extra?)")
    if not any(s.paired for s in outputs.slots):
        return None
    imag_out = _imaginary(outputs, reference.shape[0])
    block = reference.copy()
    cross = imag_out[:, None] ^ imag_in[None, :]
    block[cross] *= -1
    if _close(computed, block, reference) and not _close(computed, reference, reference):
        return ("the complex derivative is conjugated: computed with f'(z) where torch's convention needs "
                "conj(f'(z)) (grad_input = grad_output * conj(f'(z)) for a holomorphic f)")
    return None


def _imaginary(layout: Layout, size: int) -> np.ndarray:
    """A mask of the imaginary-part positions among ``size`` flat entries."""
    mask = np.zeros(size, dtype=bool)
    for slot in layout.slots:
        if slot.paired:
            mask[slot.offset + 1:slot.offset + slot.size:2] = True
    return mask


def transposed_shape_cause(message: str) -> str | None:
    """torch's 'got [a, b] but expected shape compatible with [b, a]' means a transposed gradient."""
    match = re.search(r"got \[(\d+), (\d+)\] but expected shape compatible with \[(\d+), (\d+)\]", message)
    if match and match.group(1) == match.group(4) and match.group(2) == match.group(3):
        return "the gradient has the transposed shape: a matrix transposed in the backward pass"
    return None


@says_nothing_if_inapplicable
def confinement_cause(inputs: Layout, wrong_inputs: Sequence[int], *, outputs: Layout | None = None,
                      wrong_outputs: Sequence[int] = (), complete: bool = True) -> str | None:
    """An error confined to one entry, one input tensor, or one batch row (leading index).

    ``complete`` says whether ``wrong_inputs`` lists every wrong entry (a full comparison, or a
    localisation that was not cut short); otherwise nothing about confinement can be said.
    """
    if not complete or not wrong_inputs:
        return None
    entries = sorted(set(wrong_inputs))
    if len(entries) == 1 and inputs.size > 1:
        where = inputs.label(entries[0])
        several_outputs = outputs is not None and outputs.size > 1
        if outputs is not None and several_outputs and len(set(wrong_outputs)) == 1:
            where += f" (output {outputs.label(next(iter(wrong_outputs)))})"
        return f"the error is confined to one entry: {where}"
    located = [inputs.locate(e) for e in entries]
    tensors = {k for k, _ in located}
    parts = []
    if len(tensors) == 1 and len(inputs.names) > 1:
        parts.append(f"only {inputs.names[next(iter(tensors))]!r} is wrong; the other inputs agree")
    row = _one_batch_row(inputs, located)
    if row:
        parts.append(row)
    if outputs is not None and wrong_outputs:
        located_out = [outputs.locate(o) for o in sorted(set(wrong_outputs))]
        out_row = _one_batch_row(outputs, located_out, what="output") or _all_rows_but_one(outputs, located_out)
        if out_row:
            parts.append(out_row)
    return "; ".join(parts) or None


def _all_rows_but_one(layout: Layout, located: list[tuple[int, tuple[int, ...]]]) -> str | None:
    """Every batch row of an output is wrong but one: a sum over the batch was left out."""
    tensors = {k for k, _ in located}
    if len(tensors) != 1:
        return None
    k = next(iter(tensors))
    shape = layout.slots[k].layout_shape
    if len(shape) < 2 or shape[0] < 3:
        return None
    right = set(range(shape[0])) - {index[0] for _, index in located}
    if len(right) == 1:
        return (f"only batch row {next(iter(right))} of {layout.names[k]!r} is right: a sum over the batch is "
                f"missing (a bias gradient taken from one row?)")
    return None


def _one_batch_row(layout: Layout, located: list[tuple[int, tuple[int, ...]]], what: str = "") -> str | None:
    tensors = {k for k, _ in located}
    if len(tensors) != 1 or len(located) < 2:
        return None
    k = next(iter(tensors))
    shape = layout.slots[k].layout_shape
    if len(shape) < 2 or shape[0] < 2:
        return None
    leading = {index[0] for _, index in located}
    if len(leading) == 1:
        name = layout.names[k] if not what else f"{what} {layout.names[k]!r}"
        where = name if what else repr(name)
        return f"the error is confined to batch row {next(iter(leading))} of {where} (shape {shape})"
    return None


@says_nothing_if_inapplicable
def term_cause(computed: np.ndarray, variants: Sequence[tuple[str, np.ndarray]], reference: np.ndarray) -> str | None:
    """The computed gradient equals the derivative with one operand held constant: a missing term."""
    computed, reference = np.asarray(computed, float), np.asarray(reference, float)
    scale = float(np.max(np.abs(reference))) if reference.size else 0.0
    if not scale or _close(computed, reference, reference):
        return None
    for description, variant in variants:
        variant = np.asarray(variant, float)
        matches = variant.shape == computed.shape and _close(computed, variant, reference)
        if matches and not _close(variant, reference, reference):
            return f"a term is missing: the computed value equals the derivative with {description} held constant"
    return None


def _close(a: np.ndarray, b: np.ndarray, reference: np.ndarray) -> bool:
    scale = float(np.nanmax(np.abs(reference))) if np.size(reference) else 0.0
    with np.errstate(invalid="ignore"):
        return bool(np.all(np.abs(np.asarray(a) - np.asarray(b)) <= CAUSE_RTOL * max(scale, 1e-300)))
