"""Tolerances, comparisons and verdicts, decided in one place.

Each compared scalar (one entry of one quantity at one point) gets a ``Row``: the value from
every source, the error, the tolerance it was held to and a verdict. Tolerances come from error
budgets, not fixed floors:

* an exact (SymPy) value is the reference when present; it is correct to 34 digits;
* autograd values may differ from it by float rounding: ``AUTOGRAD_RTOL`` relative to the entry,
  plus ``ROUNDING_FLOOR`` relative to the largest entry of the same quantity at the same point
  (so a 50% error in an entry of size 1e-9 is caught while its neighbours are of size 1), or to
  the size of the entry's own terms where that is larger: terms that cancel, and the rounding of
  inputs such as 0.6666666666666666 that torch receives as the nearest binary number
  (``Entry.term_size``);
* a numeric value may differ by ``NUMERIC_K`` times its own error estimate, plus rounding;
* a claim (an exact expression) may differ only by ``CLAIM_RTOL``: a truncated constant such as
  1.128 for 2/sqrt(pi) is wrong.

No tolerance grows with the number of entries.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from derivcheck.model import Quantity
from derivcheck.numformat import fmt_number

FLOAT64_EPS = float(np.finfo(np.float64).eps)
FLOAT32_EPS = float(np.finfo(np.float32).eps)
FLOAT16_EPS = float(np.finfo(np.float16).eps)
BFLOAT16_EPS = 2.0 ** -7  # 8 significant bits (NumPy has no bfloat16)

#: autograd vs exact, float64: rounding in a compiled expression stays far below this.
AUTOGRAD_RTOL = 1e-9
#: rounding allowance relative to the largest entry of the quantity (float64).
ROUNDING_FLOOR = 1e-12
#: a numeric value agrees when within this many of its error estimates.
NUMERIC_K = 4.0
#: claims are exact text; this allows only the last digits of a 34-digit evaluation.
CLAIM_RTOL = 1e-9
#: claims near zero: allowance relative to the quantity's scale (34-digit products leave ~1e-34)
CLAIM_FLOOR = 1e-15
#: a numeric reference looser than this (relative) cannot decide a verdict on its own.
DECIDABLE_RTOL = 1e-3
#: a numeric error of at most this fraction of the function's size is the rounding of its values:
#: a derivative every source gives to within it is decided (zero, or a slope far below the
#: function's size), not left without a verdict
ZERO_ROUNDING = 1e-6


@dataclass(frozen=True)
class DtypeRule:
    """How far autograd values computed in one dtype may stray from a float64 reference.

    ``autograd_rtol`` is relative to the entry, ``rounding_floor`` relative to the largest entry
    of the quantity (cancellation leaves rounding of that size in small entries). Half precision
    gets 8 units of rounding (``eps`` is the spacing of numbers at 1): a correct float16 or
    bfloat16 backward rounds its inputs, intermediates and every sum. check_grad checks such a
    function's formulas in float64 (lifted) with float64's rules, so a 1% error is caught
    whatever the dtype; these rules hold the half-precision run to the lifted code.
    """

    eps: float
    autograd_rtol: float
    rounding_floor: float


class DType(enum.StrEnum):
    """The precision a function computes in, as torch names it (a member *is* its name: results,
    messages and JSON read ``"float16"``), typed where a decision depends on it."""

    FLOAT64 = "float64"
    COMPLEX128 = "complex128"
    FLOAT32 = "float32"
    COMPLEX64 = "complex64"
    FLOAT16 = "float16"
    BFLOAT16 = "bfloat16"

    @classmethod
    def of(cls, dtype: object) -> DType:
        """``"float16"``, ``"torch.bfloat16"`` or ``torch.float32`` as a member; ValueError when unknown."""
        try:
            return cls(str(dtype).removeprefix("torch."))
        except ValueError:
            raise ValueError(f"no tolerances for dtype {dtype!r}; known: {sorted(m.value for m in cls)}") from None

    @property
    def double(self) -> bool:
        """float64 or complex128: what finite differences in float64 resolve to their full accuracy."""
        return self in (DType.FLOAT64, DType.COMPLEX128)


#: one tolerance authority, keyed by the dtype the function computes in
DTYPE_RULES: dict[DType, DtypeRule] = {
    DType.FLOAT64: DtypeRule(FLOAT64_EPS, AUTOGRAD_RTOL, ROUNDING_FLOOR),
    DType.COMPLEX128: DtypeRule(FLOAT64_EPS, AUTOGRAD_RTOL, ROUNDING_FLOOR),
    # float32: a float32 backward against a float64 reference, over reductions of thousands of terms
    DType.FLOAT32: DtypeRule(FLOAT32_EPS, 2e-3, 2e-5),
    DType.COMPLEX64: DtypeRule(FLOAT32_EPS, 2e-3, 2e-5),
    DType.FLOAT16: DtypeRule(FLOAT16_EPS, 8 * FLOAT16_EPS, 8 * FLOAT16_EPS),
    DType.BFLOAT16: DtypeRule(BFLOAT16_EPS, 8 * BFLOAT16_EPS, 8 * BFLOAT16_EPS),
}


def dtype_rule(dtype: object) -> DtypeRule:
    """The rule for ``dtype`` (``"float16"``, ``"torch.bfloat16"``, ...); ValueError when unknown."""
    return DTYPE_RULES[DType.of(dtype)]


@dataclass(frozen=True)
class Tolerances:
    """The rules a comparison is held to; ``for_dtype`` gives the defaults per dtype."""

    autograd_rtol: float = AUTOGRAD_RTOL
    rounding_floor: float = ROUNDING_FLOOR
    numeric_k: float = NUMERIC_K
    claim_rtol: float = CLAIM_RTOL
    decidable_rtol: float = DECIDABLE_RTOL

    @classmethod
    def for_dtype(cls, dtype: str = "float64") -> Tolerances:
        """The defaults for autograd values computed in ``dtype`` (a key of ``DTYPE_RULES``).

        Examples
        --------
        >>> Tolerances.for_dtype("float16").autograd_rtol == 8 * FLOAT16_EPS
        True
        """
        rule = dtype_rule(dtype)
        return cls(autograd_rtol=rule.autograd_rtol, rounding_floor=rule.rounding_floor)

    def autograd_limit(self, value, scale):
        """How far an autograd value may be from an exact ``value``: relative to the value, and to
        ``scale`` (the quantity's size) for the rounding cancellation leaves in small entries.
        Floats or arrays alike."""
        size = np.abs(value)
        return self.autograd_rtol * size + self.rounding_floor * np.fmax(size, scale)

    def limit(self, value, error, scale):
        """``autograd_limit`` beside a numeric estimate ``value`` whose error is ``error``."""
        return self.numeric_k * error + self.autograd_limit(value, scale)


class Verdict(enum.Enum):
    """The outcome of one comparison, or of a whole case."""

    PASS = "pass"
    MISMATCH = "mismatch"
    INCONCLUSIVE = "inconclusive"
    NOT_DIFFERENTIABLE = "not differentiable"


class Source(enum.Enum):
    """Where a value came from."""

    EXACT = "exact"
    REVERSE = "autograd reverse"
    FORWARD = "autograd forward"
    NUMERIC = "numeric"
    CLAIM = "claim"


@dataclass(frozen=True)
class ClaimValue:
    """An author's claim for one entry, evaluated exactly."""

    key: str
    text: str
    value: float | None  # None when it cannot be evaluated at this point
    problem: str | None = None


@dataclass(frozen=True)
class Row:
    """One entry of one quantity at one point, every source side by side, and the verdict."""

    quantity: Quantity
    point: int
    index: tuple[int, ...]
    label: str
    exact: float | None
    exact_text: str | None
    reverse: float | None
    forward: float | None
    numeric: float | None
    numeric_error: float | None
    method: str | None
    claims: tuple[ClaimValue, ...]
    left: float | None  # one-sided numeric derivatives, at a kink
    right: float | None
    verdict: Verdict
    wrong: tuple[Source, ...]
    error: float  # the largest |value - reference| over the sources judged
    tolerance: float
    note: str = ""

    @property
    def reference(self) -> float | None:
        return self.exact if self.exact is not None else self.numeric

    @property
    def badness(self) -> float:
        """How far outside its tolerance the row is: error / tolerance (inf without a tolerance,
        unless the error is exactly 0). The one ordering of rows, worst first, everywhere."""
        if self.tolerance > 0 and math.isfinite(self.tolerance):
            return self.error / self.tolerance if math.isfinite(self.error) else math.inf
        return 0.0 if self.error == 0 else math.inf


@dataclass(frozen=True)
class Entry:
    """What the runner or check_grad knows about one entry before judging it."""

    quantity: Quantity
    point: int
    index: tuple[int, ...]
    label: str
    exact: float | None = None
    exact_text: str | None = None
    reverse: float | None = None
    forward: float | None = None
    numeric: float | None = None
    numeric_error: float | None = None
    method: str | None = None
    claims: tuple[ClaimValue, ...] = ()
    left: float | None = None
    right: float | None = None
    one_sided_error: float | None = None
    scale: float = 0.0  # the size of this quantity's terms at this point (see the runner)
    #: the size of the terms that add up to this entry, the rounding of the inputs included
    #: (``engines/rounding.py``); 0 when not computed
    term_size: float = 0.0
    dtype: str = "float64"
    function_scale: float = 0.0  # the size of the function values the quantity differentiates (0: unknown)
    #: the size of the terms those values are computed from, as their measured rounding shows (0: unknown):
    #: a loss at its minimum is 0 by cancellation of terms of size 1
    function_terms: float = 0.0


def judge(entry: Entry, tol: Tolerances | None = None) -> Row:
    """Decide one entry: which sources agree, which one is wrong, and why.

    With an exact value, it is the reference unless every engine agrees against it. Without
    one (a user's torch function), the numeric value is the reference, and a disagreement its
    error estimate cannot resolve is inconclusive rather than a false alarm.

    Examples
    --------
    >>> e = Entry(Quantity.JACOBIAN, 0, (0, 0), "df/dx", exact=2.0, reverse=2.0, forward=2.0,
    ...           numeric=2.0000000001, numeric_error=1e-9, scale=2.0)
    >>> judge(e).verdict
    <Verdict.PASS: 'pass'>
    """
    tol = tol or Tolerances.for_dtype(entry.dtype)
    if entry.left is not None and entry.right is not None:
        kink = _judge_kink(entry, tol)
        if kink is not None:
            return kink
    if entry.exact is None:
        return _judge_without_exact(entry, tol)
    return _judge_with_exact(entry, entry.exact, tol)


def _judge_with_exact(entry: Entry, ref: float, tol: Tolerances) -> Row:
    """The exact value is the reference: the engines, then the claims, are measured against it."""
    ad_tol = float(tol.autograd_limit(ref, max(entry.scale, entry.term_size)))
    wrong, notes, errors, num_ok = _engines_against_exact(entry, ref, ad_tol, tol)
    claims_wrong, claim_notes, claim_errors = _claims_against_exact(entry, ref, tol)
    wrong += claims_wrong
    notes += claim_notes
    errors += claim_errors
    if Source.NUMERIC not in wrong and num_ok is None and entry.numeric is not None:
        notes.append("numeric estimate unavailable here")
    verdict = Verdict.MISMATCH if wrong else Verdict.PASS
    return _row(entry, verdict, tuple(dict.fromkeys(wrong)), max(errors, default=0.0), ad_tol, "; ".join(notes))


def _engines_against_exact(entry: Entry, ref: float, ad_tol: float, tol: Tolerances
                           ) -> tuple[list[Source], list[str], list[float], bool | None]:
    """Which engines are wrong (or SymPy, when every engine agrees against it), with notes, errors,
    and whether the numeric value agrees (None: no usable numeric value)."""
    present = {s: v for s, v in ((Source.REVERSE, entry.reverse), (Source.FORWARD, entry.forward)) if v is not None}
    wrong: list[Source] = []
    notes: list[str] = []
    agree = {s: _finite(v) and abs(v - ref) <= ad_tol for s, v in present.items()}
    num_ok = None
    if entry.numeric is not None and _finite(entry.numeric) and _finite(entry.numeric_error):
        num_ok = abs(entry.numeric - ref) <= _numeric_tolerance(entry, ref, tol)
    supporters = sum(agree.values()) + (1 if num_ok else 0)
    if supporters == 0 and (present or num_ok is not None) and _engines_agree(entry, tol):
        # every engine agrees with each other against SymPy: the exact value is the odd one out
        wrong.append(Source.EXACT)
        notes.append("all engines agree with each other, not with the exact value")
    else:
        wrong.extend(s for s, ok in agree.items() if not ok)
        if num_ok is False:
            notes.append(
                f"numeric estimate off by {fmt_number(abs(entry.numeric - ref), 6, 'none')} "
                f"(its error estimate {fmt_number(entry.numeric_error, 6, 'none')}): numeric is wrong here"
            )
    return wrong, notes, [abs(v - ref) for v in present.values() if _finite(v)], num_ok


def _claims_against_exact(entry: Entry, ref: float, tol: Tolerances) -> tuple[list[Source], list[str], list[float]]:
    """Each claim within ``claim_rtol`` of the exact value, or wrong with a note and a likely cause."""
    wrong: list[Source] = []
    notes: list[str] = []
    errors: list[float] = []
    claim_tol = tol.claim_rtol * abs(ref) + CLAIM_FLOOR * entry.scale
    for claim in entry.claims:
        if claim.value is None or not _finite(claim.value):
            wrong.append(Source.CLAIM)
            notes.append(f"claim {claim.key} = {claim.text!r}: {claim.problem or 'no value here'}")
            continue
        diff = abs(claim.value - ref)
        errors.append(diff)
        if diff > claim_tol:
            wrong.append(Source.CLAIM)
            notes.append(f"claim {claim.key} = {claim.text!r} gives {fmt_number(claim.value, 6, 'none')}, "
                         f"exact is {fmt_number(ref, 6, 'none')}" + _likely_cause(claim.value, ref))
    return wrong, notes, errors


def _judge_without_exact(entry: Entry, tol: Tolerances) -> Row:
    present = {s: v for s, v in ((Source.REVERSE, entry.reverse), (Source.FORWARD, entry.forward)) if v is not None}
    num, err = entry.numeric, entry.numeric_error
    if num is None or not _finite(num) or err is None or not _finite(err):
        return _row(entry, Verdict.INCONCLUSIVE, (), math.inf, math.inf,
                    "no finite numeric reference at this point (outside the domain?)")
    limit = float(tol.limit(num, err, max(entry.scale, entry.term_size)))
    wrong = [s for s, v in present.items() if not (_finite(v) and abs(v - num) <= limit)]
    errors = [abs(v - num) for v in present.values() if _finite(v)]
    for claim in entry.claims:
        if claim.value is None or abs(claim.value - num) > limit:
            wrong.append(Source.CLAIM)
            if claim.value is not None:
                errors.append(abs(claim.value - num))
    error = max(errors, default=0.0)
    if wrong:
        return _row(entry, Verdict.MISMATCH, tuple(wrong), error, limit, _cause_note(entry, num))
    if num == 0 and error == 0:
        # every source says exactly 0, and the function did not move at any step: a true zero,
        # whatever the (denormal) error estimate says
        return _row(entry, Verdict.PASS, (), 0.0, limit, "")
    if err > tol.decidable_rtol * max(abs(num), entry.scale):
        if err <= ZERO_ROUNDING * entry.function_scale:
            # the derivative is tiny beside the function's values (zero, or erfc's slope where it is
            # 2): float64 values resolve it only to their rounding, and every source agrees to that
            return _row(entry, Verdict.PASS, (), error, limit,
                        "zero within the rounding of the function's values" if abs(num) <= limit else
                        "agrees to the rounding of the function's values (the derivative is tiny beside them)")
        if err <= ZERO_ROUNDING * entry.function_terms:
            # a stationary point of a function whose values cancel (a loss at its minimum, 0 from
            # terms of size 1): every source gives the rounding of those terms, not a slope, and
            # agrees with the others to within it (a mismatch was ruled out above)
            return _row(entry, Verdict.PASS, (), error, limit,
                        "zero within the rounding of the function's terms" if abs(num) <= limit else
                        "agrees to the rounding of the function's terms (the derivative is tiny beside them)")
        return _row(entry, Verdict.INCONCLUSIVE, (), error, limit,
                    f"numeric error estimate {fmt_number(err, 6, 'none')} is too large to decide (value {fmt_number(num, 6, 'none')})")
    return _row(entry, Verdict.PASS, (), error, limit, "")


def _judge_kink(entry: Entry, tol: Tolerances) -> Row | None:
    """At a kink the one-sided derivatives differ: any value between them is a valid subgradient."""
    left, right = entry.left, entry.right
    assert left is not None and right is not None
    spread = abs(left - right)
    slack = tol.numeric_k * (entry.one_sided_error or 0.0) + tol.rounding_floor * max(entry.scale, abs(left), abs(right))
    if not (_finite(left) and _finite(right)) or spread <= slack:
        return None
    low, high = min(left, right) - slack, max(left, right) + slack
    values = {Source.EXACT: entry.exact, Source.REVERSE: entry.reverse, Source.FORWARD: entry.forward}
    wrong = [s for s, v in values.items() if v is not None and not (low <= v <= high)]
    notes = [f"one-sided derivatives differ: left {fmt_number(left, 6, 'none')}, right {fmt_number(right, 6, 'none')}"]
    for claim in entry.claims:
        if claim.value is None or not (low <= claim.value <= high):
            wrong.append(Source.CLAIM)
            notes.append(f"claim {claim.key} = {claim.text!r} lies outside [{fmt_number(min(left, right), 6, 'none')}, {fmt_number(max(left, right), 6, 'none')}]")
    if wrong:
        notes.append("a value outside the one-sided derivatives is wrong on both sides")
    verdict = Verdict.MISMATCH if wrong else Verdict.NOT_DIFFERENTIABLE
    return _row(entry, verdict, tuple(wrong), spread, slack, "; ".join(notes))


def _numeric_tolerance(entry: Entry, ref: float, tol: Tolerances) -> float:
    err = entry.numeric_error if entry.numeric_error is not None else math.inf
    return tol.numeric_k * err + 64 * FLOAT64_EPS * max(abs(ref), entry.scale, entry.term_size)


def _engines_agree(entry: Entry, tol: Tolerances) -> bool:
    values = [v for v in (entry.reverse, entry.forward) if v is not None and _finite(v)]
    num, err = entry.numeric, entry.numeric_error
    if num is None or not _finite(num) or err is None or not _finite(err) or not values:
        return False
    limit = tol.numeric_k * err + tol.autograd_rtol * abs(num) + tol.rounding_floor * max(entry.scale, entry.term_size)
    return all(abs(v - num) <= limit for v in values)


def _cause_note(entry: Entry, ref: float) -> str:
    values = [v for v in (entry.reverse, entry.forward) if v is not None and _finite(v)]
    causes = [_likely_cause(v, ref) for v in values]
    return "".join(c for c in causes if c)[:200]


def _likely_cause(value: float, ref: float) -> str:
    """A hint when the ratio of a wrong value to the reference is telling."""
    if ref == 0 or value == 0:
        return ""
    ratio = value / ref
    for target, text in ((-1.0, "sign flipped"), (2.0, "twice the reference"), (0.5, "half the reference")):
        if abs(ratio - target) < 1e-6:
            return f" ({text}: ratio {ratio:.6g})"
    if abs(ratio - 1) < 1e-2:
        return f" (relative error {abs(ratio - 1):.2g}: a truncated constant?)"
    return ""


def _row(entry: Entry, verdict: Verdict, wrong: tuple[Source, ...], error: float, tolerance: float, note: str) -> Row:
    return Row(
        quantity=entry.quantity, point=entry.point, index=entry.index, label=entry.label,
        exact=entry.exact, exact_text=entry.exact_text, reverse=entry.reverse, forward=entry.forward,
        numeric=entry.numeric, numeric_error=entry.numeric_error, method=entry.method,
        claims=entry.claims, left=entry.left, right=entry.right, verdict=verdict, wrong=wrong,
        error=error, tolerance=tolerance, note=note,
    )


def overall(verdicts: Sequence[Verdict]) -> Verdict:
    """A case's verdict from its rows: any mismatch wins, then inconclusive, then kinks."""
    for v in (Verdict.MISMATCH, Verdict.INCONCLUSIVE, Verdict.NOT_DIFFERENTIABLE):
        if v in verdicts:
            return v
    return Verdict.PASS


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)
