"""``check_grad`` for a user's function: full Jacobians when small, seeded directions when large.

Small inputs compare every Jacobian entry: finite differences (float64, complex step where the
function is analytic in complex arithmetic) against reverse mode, forward mode and the user's
own gradient. Large inputs compare ``w . J u`` along a few seeded Gaussian directions ``u`` (and
cotangents ``w``): the numeric side costs O(directions) evaluations whatever the size, and its
error estimate is small enough that one wrong entry in 100,000 moves the product far outside
the tolerance. A failing direction is then localised by bisection (``localise``) so the message
still names entries. Every scalar is judged by ``verdict.judge``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence

import numpy as np

from derivcheck.engines.numeric import Method
from derivcheck.gradcheck.causes import (
    Layout,
    confinement_cause,
    conjugate_cause,
    coupling_cause,
    ratio_cause,
    transposed_cause,
    transposed_shape_cause,
)
from derivcheck.gradcheck.reference import Numeric, kink_possible
from derivcheck.gradcheck.result import Approach, CheckResult, Mode, ModeResult, Options, Strategy, mode_verdict
from derivcheck.gradcheck.suspects import localise, methods, missing_term, nanmax, unit_rows
from derivcheck.gradcheck.torch_function import ModeUnsupported, Slot, label, one_line
from derivcheck.model import Quantity
from derivcheck.verdict import FLOAT64_EPS, ClaimValue, Entry, Row, Source, Tolerances, Verdict, judge, overall

#: compare full Jacobians up to this many input entries ...
FULL_MAX_INPUTS = 64
#: ... and this many Jacobian entries (beyond, directional checks cost less and see as much; each
#: entry judged costs about as much as a small function's evaluation)
FULL_MAX_ENTRIES = 1024
#: random cotangents for a function with several outputs (one, w = 1, for a scalar)
COTANGENTS = 2
#: forward-mode directions checked first (a dual-number pass costs several evaluations' time)
FORWARD_PROBES = 1
#: a first numeric estimate settles an entry only when its error is below this fraction of the
#: Jacobian's size: a bug of 1e-6 (relative) or more is never waved through by a rough estimate
QUICK_MAX_REL = 1e-6


def check_function(fn, grad: Callable | None, options: Options, target: str) -> CheckResult:
    """Check a ``userfn`` function's derivatives; returns the result (the caller raises)."""
    return TorchCheck(fn, grad, options, target).run()


class TorchCheck:
    """One check of a user's function: the comparisons, the causes found, the notes."""

    def __init__(self, fn, grad: Callable | None, options: Options, target: str) -> None:
        self.fn, self.options, self.target = fn, options, target
        self.tol: Tolerances = options.tolerances or Tolerances.for_dtype(fn.dtype)
        self.numeric = Numeric(fn, self.tol.numeric_k, options.budget)
        self.notes: list[str] = []
        self.causes: list[str] = []
        self.inputs = _layout(fn.slots)
        self.outputs = _layout(fn.out_slots)
        self.start = time.perf_counter()
        self.grad = grad
        self.claim: np.ndarray | None = None
        self.reverse_on = fn.differentiable or grad is None
        self.forward_note = "" if fn.differentiable else "not checked: the function has no autograd graph"
        self.forward_on = fn.differentiable
        self.complete = True
        self.second_note = ""
        rng = np.random.default_rng(options.seed)  # a local generator: no global RNG state changes
        self.U = rng.standard_normal((options.directions, fn.n))
        self.W = np.ones((1, 1)) if fn.m == 1 else rng.standard_normal((COTANGENTS, fn.m))
        if len(fn.out_slots) > 1:  # each output on its own too: the others' gradients undefined (None)
            alone = [np.where(np.isin(np.arange(fn.m), np.arange(s.offset, s.offset + s.size)), self.W[0], 0.0)
                     for s in fn.out_slots if s.size]
            self.W = np.vstack([self.W, *alone])
        self.V = rng.standard_normal((options.directions, fn.n))  # second-order contractions

    # the flow ------------------------------------------------------------------------------------
    def run(self) -> CheckResult:
        if self.fn.n == 0 or self.fn.m == 0:
            what = "the checked inputs have no entries" if self.fn.n == 0 else "the outputs have no entries"
            return self._early(f"nothing to compare: {what} (an empty Jacobian is right)", Verdict.PASS)
        early = self._check_point()
        if early is not None:
            return early
        if self.grad is not None:
            problem = self._read_claim()
            if problem is not None:
                return problem
        if self.reverse_on and not self.fn.differentiable:
            self.notes.append("the output does not require grad: the function detaches its result from the inputs")
        full = self._full_strategy()
        try:
            rows, suspects = self._full() if full else self._directional()
            suspicious = [r for r in (*rows, *suspects) if r.verdict is Verdict.MISMATCH
                          and Method.COMPLEX_STEP in Method.within(r.method)]
            if suspicious and self.numeric.distrusts(self._direction_of(suspicious[0], full)):
                self.causes.clear()
                self.complete = True
                rows, suspects = self._full() if full else self._directional()
        except _ReverseFailed as failed:
            return self._reverse_failure(str(failed), Approach.FULL_JACOBIAN if full else Approach.DIRECTIONAL)
        first = overall([r.verdict for r in (*rows, *suspects)])
        second: list[Row] = []
        if self.options.order >= 2:
            if first is Verdict.PASS:
                second = self._second_order(full)
            else:
                self.notes.append("second order not checked: first derivatives are not right yet")
        return self._result(rows, suspects, second, Approach.FULL_JACOBIAN if full else Approach.DIRECTIONAL)

    def _direction_of(self, row: Row, full: bool) -> np.ndarray:
        if full or row.quantity is Quantity.JACOBIAN:
            return unit_rows(self.fn.n, [row.index[1]])[0]
        return self.U[row.index[1]]

    def _full_strategy(self) -> bool:
        if self.options.strategy is not Strategy.AUTO:
            return self.options.strategy is Strategy.FULL
        return self.fn.n <= FULL_MAX_INPUTS and self.fn.n * self.fn.m <= FULL_MAX_ENTRIES

    def _check_point(self) -> CheckResult | None:
        value = self.fn.value
        if not np.all(np.isfinite(value)):
            bad = int(np.sum(~np.isfinite(value)))
            return self._early(f"func is not finite at this point ({bad} of {value.size} outputs are nan or inf)")
        if getattr(self.fn, "upcast", False):  # the first value ran in float32: compare two lifted calls
            once, again = self.fn.evaluate(np.stack([self.fn.x, self.fn.x]))
            self.numeric.evaluations += 2
        else:  # one more plain call beside the first (a batch of two may run as one vmapped call)
            once, again = value, self.fn.evaluate(self.fn.x[None])[0]
            self.numeric.evaluations += 2  # with the first call, which found the output's shape
        if np.any(np.abs(again - once) > 64 * FLOAT64_EPS * max(float(np.max(np.abs(once))), 1e-300)):
            gap = float(np.max(np.abs(again - once)))
            return self._early(f"func is not deterministic: two calls at the same point differ by {gap:.3g} "
                               f"(dropout or random sampling inside? use eval mode or fix the randomness)")
        return None

    def _read_claim(self) -> CheckResult | None:
        if self.fn.m != 1:
            raise ValueError(f"grad= checks the gradient of a scalar function; func returns {self.fn.m} outputs")
        parts = self.fn.call_gradient(self.grad)
        for slot, part in zip(self.fn.slots, parts):
            same = (part.shape == slot.shape or (slot.complex and part.shape == slot.layout_shape)  # complex: pairs
                    or (part.size == slot.size and part.ndim <= 1 and len(slot.shape) <= 1))
            if not same:
                cause = (" (the transposed shape: a matrix transposed?)"
                         if tuple(reversed(part.shape)) == slot.shape else "")
                return self._early(f"grad returned shape {part.shape} for {slot.name!r} of shape {slot.shape}{cause}",
                                   Verdict.MISMATCH, Mode.GRAD)
        self.claim = np.concatenate([p.reshape(-1) for p in parts])
        if not np.all(np.isfinite(self.claim)):
            self.notes.append("grad returned entries that are not finite")
        return None

    # first order: full Jacobians -------------------------------------------------------------------
    def _full(self) -> tuple[list[Row], list[Row]]:
        fn = self.fn
        rev = self.reverse(np.eye(fn.m)) if self.reverse_on else None
        fwd = self._forward_jacobian()
        claim = None if self.claim is None else self.claim[None, :]
        units = np.eye(fn.n)
        num = self.numeric.settled(units, lambda q: self.agrees(q.value, q.error, (rev, fwd, claim)))
        probes: list[Row] = []
        if fwd is None and self.forward_on:
            probes = self._forward_probes(num, rev)
            if any(r.verdict is not Verdict.PASS for r in probes):  # look at every entry: which ones
                fwd = self.forward(units)
                fwd = None if fwd is None else fwd.T
                probes = []
                def forward_agrees(q) -> np.ndarray:
                    return self.agrees(q.value, q.error, (rev, fwd, claim))

                num = self.numeric.refine(num, units, forward_agrees(num), forward_agrees)
        scale = nanmax(np.abs(num.value))
        rows = []
        for i in range(fn.m):
            for j in range(fn.n):
                rows.append(self.judge(Quantity.JACOBIAN, (i, j), self.entry_label(i, j), scale,
                                        rev=None if rev is None else rev[i, j],
                                        fwd=None if fwd is None else fwd[i, j],
                                        claim=None if self.claim is None else self.claim[j],
                                        numeric=(num.value[i, j], num.error[i, j], num.method[i, j])))
        rows = _unconfirmed(self._kinks_full(rows, scale))
        self._diagnose_full(rows, num.value, rev, fwd)
        return rows + probes, []

    def agrees(self, value: np.ndarray, error: np.ndarray, computed: Sequence[np.ndarray | None],
               scale: np.ndarray | float = 0.0) -> np.ndarray:
        """Per column of ``value`` (m, d): whether a first estimate settles it, every computed
        value (m, d) within the tolerance of judge (with a ``scale`` no larger than the final
        judgement's: stricter or equal) and the estimate's error far below a bug worth finding."""
        tol = self.tol
        with np.errstate(all="ignore"):
            size = np.abs(value)
            limit = tol.numeric_k * error + tol.autograd_rtol * size + tol.rounding_floor * np.fmax(size, scale)
            ok = np.all(np.isfinite(value) & np.isfinite(error), axis=0)
            top = nanmax(size)  # an all-zero Jacobian: no bug hides in a rounding-size estimate
            ok &= np.all(tol.numeric_k * error <= QUICK_MAX_REL * np.fmax(size, top if top > 0 else np.inf), axis=0)
            for values in computed:
                if values is not None:
                    ok &= np.all(np.abs(np.asarray(values) - value) <= limit, axis=0)
        return ok

    def _forward_jacobian(self) -> np.ndarray | None:
        """Forward mode's whole Jacobian (m, n) for the smallest inputs, else ``None``: forward
        mode is checked along a few directions first (n forward passes, or vmap's overhead, cost
        more than the whole check of a correct function), entry by entry only if one fails."""
        if not self.forward_on or self.fn.n > FORWARD_PROBES:
            return None
        fwd = self.forward(np.eye(self.fn.n))
        return None if fwd is None else fwd.T

    def _forward_probes(self, num, rev: np.ndarray | None) -> list[Row]:
        """``J u`` from forward mode along a few seeded directions (one pass each) against the
        numeric Jacobian times ``u``: a function that does not batch pays FORWARD_PROBES forward
        passes, not n."""
        U = self.U[:FORWARD_PROBES]
        F = [self.forward(u[None]) for u in U]  # one dual-number pass each: cheaper than vmap's set-up
        if any(f is None for f in F):
            return []
        F = np.concatenate(F)  # (k, m)
        value, error = num.value @ U.T, np.abs(num.error) @ np.abs(U).T  # (m, k)
        terms = np.abs(num.value) @ np.abs(U).T
        rows = []
        for d in range(len(U)):
            for i in range(self.fn.m):
                label = f"(J u{d + 1})[{self.outputs.label(i)}]" if self.fn.m > 1 else f"J u{d + 1}"
                rows.append(self.judge(Quantity.JVP, (d, i), label, float(terms[i, d]), fwd=F[d, i],
                                       numeric=(value[i, d], error[i, d], methods(num.method[i]))))
        return rows

    def _kinks_full(self, rows: list[Row], scale: float) -> list[Row]:
        columns = sorted({r.index[1] for r in rows if kink_possible(r)})
        columns = [j for j in columns if not self.numeric.smooth_at_x(unit_rows(self.fn.n, [j])[0])]
        if not columns:
            return rows
        left, right, error = self.numeric.one_sided(unit_rows(self.fn.n, columns))
        where = {j: k for k, j in enumerate(columns)}
        out = []
        for r in rows:
            k = where.get(r.index[1])
            if k is None or r.verdict is Verdict.PASS:
                out.append(r)
                continue
            i = r.index[0]
            out.append(self.rejudge(r, scale, left[i, k], right[i, k], error[i, k]))
        return out

    def _diagnose_full(self, rows: list[Row], ref: np.ndarray, rev: np.ndarray | None, fwd: np.ndarray | None) -> None:
        claim = None if self.claim is None else self.claim[None, :]
        for source, computed in ((Source.REVERSE, rev), (Source.CLAIM, claim), (Source.FORWARD, fwd)):
            wrong = [r for r in rows if source in r.wrong]
            if computed is None or not wrong:
                continue
            i_s = np.array([r.index[0] for r in wrong])
            j_s = np.array([r.index[1] for r in wrong])
            shape = (conjugate_cause(self.inputs, self.outputs, ref, computed)
                     or transposed_cause(self.inputs, ref, computed) or coupling_cause(ref, computed))
            self.add_cause(shape or ratio_cause(ref[i_s, j_s], computed[i_s, j_s]))
            self.add_cause(confinement_cause(self.inputs, list(j_s), outputs=self.outputs, wrong_outputs=list(i_s)))
            if source is Source.CLAIM:
                missing_term(self, ref[0], rev)

    # first order: directional checks ---------------------------------------------------------------
    def _directional(self) -> tuple[list[Row], list[Row]]:
        U, W = self.U, self.W
        A = self.reverse(W) if self.reverse_on else None
        F = self.forward(U)
        s_rev = None if A is None else A @ U.T
        s_fwd = None if F is None else W @ F.T
        s_claim = None if self.claim is None else (U @ self.claim)[None, :]

        # the size of the products' terms as reverse mode sees them: part of the final scale below
        seen = 0.0 if A is None else np.abs(A) @ np.abs(U).T

        def agrees(q) -> np.ndarray:
            return self.agrees(W @ q.value, np.abs(W) @ q.error, (s_rev, s_fwd, s_claim), seen)

        num = self.numeric.settled(U, agrees)  # (m, d)
        s_num, e_num = W @ num.value, np.abs(W) @ num.error
        terms = np.abs(W) @ np.abs(num.value)
        if A is not None:
            terms = np.maximum(terms, np.abs(A) @ np.abs(U).T)
        rows = []
        for c in range(len(W)):
            for d in range(len(U)):
                rows.append(self.judge(
                    Quantity.VJP, (c, d), self.direction_label(c, d), float(terms[c, d]),
                    rev=None if s_rev is None else s_rev[c, d], fwd=None if s_fwd is None else s_fwd[c, d],
                    claim=None if s_claim is None or c else s_claim[0, d],
                    numeric=(s_num[c, d], e_num[c, d], methods(num.method[:, d])),
                ))
        bad = [d for d in sorted({r.index[1] for r in rows if kink_possible(r)}) if not self.numeric.smooth_at_x(U[d])]
        if bad:
            left, right, error = self.numeric.one_sided(U[bad])
            where = {d: k for k, d in enumerate(bad)}
            rows = [r if r.index[1] not in where or r.verdict is Verdict.PASS else
                    self.rejudge(r, float(terms[r.index]), float(W[r.index[0]] @ left[:, where[r.index[1]]]),
                                  float(W[r.index[0]] @ right[:, where[r.index[1]]]),
                                  float(np.abs(W[r.index[0]]) @ error[:, where[r.index[1]]]))
                    for r in rows]
        rows = _unconfirmed(rows)
        suspects = localise(self, rows, A, num)
        return rows, suspects

    # second order ----------------------------------------------------------------------------------
    def _second_order(self, full: bool) -> list[Row]:
        rows = self._second_rows(full)
        if self.fn.constant_gradient and any(r.verdict is Verdict.MISMATCH for r in rows):
            self.add_cause("double backward sees the gradient as a constant: the backward pass is not "
                           "differentiable (a detach(), .data, NumPy or @once_differentiable in it?)")
        return rows

    def _second_rows(self, full: bool) -> list[Row]:
        fn, w = self.fn, self.W[0]
        if not fn.differentiable:
            self.notes.append("second order not checked: the function has no autograd graph")
            return []
        gradient = fn.gradient_at(w)
        try:
            if full:
                H = fn.hvp(w, np.eye(fn.n))
                num = self.numeric.jacobian(gradient)
                scale = nanmax(np.abs(num.value))
                return [self.judge(Quantity.HESSIAN, (0, j, k), self._hessian_label(j, k), scale, rev=H[j, k],
                                    numeric=(num.value[j, k], num.error[j, k], num.method[j, k]))
                        for j in range(fn.n) for k in range(fn.n)]
            HU = fn.hvp(w, self.U)
        except ModeUnsupported as exc:
            self.second_note = f"double backward failed: {exc}"
            return []
        num = self.numeric.directional(self.U, gradient)  # (n, d): H u along each direction
        rows = []
        for d in range(len(self.U)):
            v = self.V[d]
            rows.append(self.judge(
                Quantity.HESSIAN, (0, d), f"v{d + 1} . H u{d + 1}", float(np.abs(v) @ np.abs(num.value[:, d])),
                rev=float(v @ HU[d]), numeric=(float(v @ num.value[:, d]), float(np.abs(v) @ num.error[:, d]),
                                               methods(num.method[:, d]))))
        return rows

    # torch calls -----------------------------------------------------------------------------------
    def reverse(self, cotangents: np.ndarray) -> np.ndarray:
        try:
            return self.fn.vjp(cotangents)
        except Exception as exc:
            raise _ReverseFailed(one_line(exc)) from exc

    def forward(self, tangents: np.ndarray) -> np.ndarray | None:
        if not self.forward_on:
            return None
        try:
            return self.fn.jvp(tangents)
        except ModeUnsupported as exc:
            self.forward_on = False
            self.forward_note = f"not supported: {exc}"
            return None

    # judging and labels ----------------------------------------------------------------------------
    def judge(self, quantity: Quantity, index: tuple[int, ...], label: str, scale: float, *,
               numeric: tuple, rev: float | None = None, fwd: float | None = None,
               claim: float | None = None) -> Row:
        claims = () if claim is None else (ClaimValue("grad", "grad(...)", float(claim)),)
        return judge(Entry(
            quantity=quantity, point=0, index=index, label=label,
            reverse=None if rev is None else float(rev), forward=None if fwd is None else float(fwd),
            numeric=float(numeric[0]), numeric_error=float(numeric[1]), method=str(numeric[2]),
            claims=claims, scale=float(scale), dtype=self.fn.dtype,
            function_scale=self._function_scale(quantity, index),
        ), self.tol)

    def _function_scale(self, quantity: Quantity, index: tuple[int, ...]) -> float:
        """The size of the values a compared quantity differentiates (w . f for a VJP row)."""
        size = float(np.max(np.abs(self.fn.value))) if self.fn.value.size else 0.0
        if quantity is Quantity.VJP and index[0] < len(self.W):
            return size * float(np.sum(np.abs(self.W[index[0]])))
        return size if quantity in (Quantity.JACOBIAN, Quantity.JVP) else 0.0

    def rejudge(self, row: Row, scale: float, left: float, right: float, error: float) -> Row:
        claims = row.claims
        return judge(Entry(
            quantity=row.quantity, point=0, index=row.index, label=row.label, reverse=row.reverse,
            forward=row.forward, numeric=row.numeric, numeric_error=row.numeric_error, method=row.method,
            claims=claims, left=float(left), right=float(right), one_sided_error=float(error),
            scale=float(scale), dtype=self.fn.dtype,
        ), self.tol)

    def entry_label(self, i: int, j: int) -> str:
        out = self.outputs.label(i) if self.fn.m > 1 else self.outputs.names[0]
        return f"d{out}/d{self.inputs.label(j)}"

    def _hessian_label(self, j: int, k: int) -> str:
        out = "(w . out)" if self.fn.m > 1 else self.outputs.names[0]
        return f"d2{out}/d{self.inputs.label(j)}d{self.inputs.label(k)}"

    def direction_label(self, c: int, d: int) -> str:
        return f"grad . u{d + 1}" if self.fn.m == 1 else f"w{c + 1} . J u{d + 1}"

    def add_cause(self, cause: str | None) -> None:
        if cause and cause not in self.causes:
            self.causes.append(cause)

    # results -----------------------------------------------------------------------------------
    def _modes(self, first: list[Row], second: list[Row]) -> list[ModeResult]:
        modes = []
        if self.reverse_on:
            modes.append(ModeResult(Mode.REVERSE, mode_verdict(first, Source.REVERSE)))
        if self.fn.differentiable or self.grad is None:
            note = self.forward_note
            verdict = mode_verdict(first, Source.FORWARD) if self.forward_on else None
            modes.append(ModeResult(Mode.FORWARD, verdict, note))
        if self.claim is not None:
            modes.append(ModeResult(Mode.GRAD, mode_verdict(first, Source.CLAIM)))
        if self.options.order >= 2:
            note = self.second_note
            modes.append(ModeResult(Mode.SECOND, mode_verdict(second, Source.REVERSE) if second else None, note))
        return modes

    def _result(self, rows: list[Row], suspects: list[Row], second: list[Row], strategy: Approach) -> CheckResult:
        if self.numeric.note:
            self.notes.append(self.numeric.note)
        self.notes.extend(n for n in (self.numeric.outside_note(), self.numeric.smoothness, *self.numeric.notes) if n)
        self.notes.extend(getattr(self.fn, "notes", ()))
        if self.fn.dtype not in ("float64", "complex128"):
            self.notes.append(f"the function computes in {self.fn.dtype}: tolerances are {self.fn.dtype}'s")
        modes = self._modes([*rows, *suspects], second)
        verdicts = [r.verdict for r in (*rows, *suspects, *second)]
        verdict = overall(verdicts)
        if verdict is Verdict.PASS and any(m.verdict is None and m.mode is Mode.SECOND for m in modes):
            verdict = Verdict.INCONCLUSIVE
        result = CheckResult(
            target=self.target, verdict=verdict, modes=tuple(modes), rows=tuple([*rows, *second]),
            suspects=tuple(suspects), causes=tuple(self.causes), strategy=strategy, n_inputs=self.fn.n,
            n_outputs=self.fn.m, directions=len(self.U), evaluations=self.numeric.evaluations, dtype=self.fn.dtype,
            reference=f"numeric ({self.numeric.method})", seconds=time.perf_counter() - self.start,
            notes=tuple(self.notes), localised_completely=self.complete,
        )
        return result

    def _early(self, note: str, verdict: Verdict = Verdict.INCONCLUSIVE, mode: Mode | None = None) -> CheckResult:
        modes = (ModeResult(mode, verdict, note),) if mode is not None else ()
        result = CheckResult(
            target=self.target, verdict=verdict, modes=modes, rows=(), suspects=(), causes=(),
            strategy=Approach.NONE, n_inputs=self.fn.n, n_outputs=self.fn.m, directions=0,
            evaluations=self.numeric.evaluations, dtype=self.fn.dtype, reference="none",
            seconds=time.perf_counter() - self.start, notes=(note,),
        )
        return result

    def _reverse_failure(self, message: str, strategy: Approach) -> CheckResult:
        cause = transposed_shape_cause(message)
        result = CheckResult(
            target=self.target, verdict=Verdict.MISMATCH,
            modes=(ModeResult(Mode.REVERSE, Verdict.MISMATCH, f"the backward pass raised {message}"),),
            rows=(), suspects=(), causes=(cause,) if cause else (), strategy=strategy, n_inputs=self.fn.n,
            n_outputs=self.fn.m, directions=len(self.U), evaluations=self.numeric.evaluations,
            dtype=self.fn.dtype, reference="none", seconds=time.perf_counter() - self.start,
            notes=(f"the backward pass raised {message}",),
        )
        return result


class _ReverseFailed(Exception):
    """The user's backward pass raised; the message is its one-line description."""


def _unconfirmed(rows: list[Row]) -> list[Row]:
    """Rows whose first estimate the budget left unrefined say so (their numeric has no error bound)."""
    return [dataclasses.replace(r, note="unconfirmed: the evaluation budget stopped its refinement")
            if r.method == Method.UNREFINED and r.verdict is Verdict.INCONCLUSIVE else r for r in rows]


def _layout(slots: Sequence[Slot]) -> Layout:
    return Layout(tuple(s.name for s in slots), tuple(s.layout_shape for s in slots),
                  tuple(s.offset for s in slots), namer=lambda flat: label(slots, flat),
                  complex=tuple(getattr(s, "complex", False) and s.kept is None for s in slots))
