"""One case through the three engines and the comparator, to a ``CaseResult``.

No printing and no files here: the CLI, the pytest plugin and the report all consume results.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence

import numpy as np
import sympy

from derivcheck.cases import derived
from derivcheck.cases.implicit_rows import ImplicitPlan
from derivcheck.cases.loader import stable_seed
from derivcheck.cases.partial_rows import partial_rows, plans
from derivcheck.cases.results import CaseResult, Status, Steepest, error_result
from derivcheck.cases.switching import by_definition
from derivcheck.engines import exact as symbolic
from derivcheck.engines import numeric as finite_diff
from derivcheck.engines.autograd import AutogradValues, autograd_at, compile_torch
from derivcheck.engines.definition import on_switching_set
from derivcheck.engines.numeric import NumericDerivative
from derivcheck.engines.rounding import term_size
from derivcheck.errors import CaseError, EvaluationError
from derivcheck.language.constants import to_float
from derivcheck.mistakes.search import diagnose_case
from derivcheck.model import Case, ClaimEntry, Expect, Quantity
from derivcheck.verdict import ROUNDING_FLOOR, ClaimValue, Entry, Row, Source, Verdict, judge, overall

__all__ = ["CaseResult", "Status", "Steepest", "error_result", "run_case"]

#: random unit directions sampled per point to check that none beats the gradient's own
STEEPEST_SAMPLES = 16
#: tolerance of the steepest-ascent checks, relative to |grad f|
STEEPEST_RTOL = 1e-9


def run_case(case: Case, *, explain: bool = True) -> CaseResult:
    """Check every derivative a case asks for at every point.

    With ``explain``, each claim found wrong is searched for the misapplied rule behind it
    (``derivcheck.mistakes``); the result's ``diagnoses`` say what was found.

    Examples
    --------
    >>> from derivcheck.cases.files import load_paths  # doctest: +SKIP
    >>> result = run_case(load_paths(["cases/tutorials"]).cases[0])  # doctest: +SKIP
    >>> result.status  # doctest: +SKIP
    <Status.OK: 'ok'>
    """
    start = time.perf_counter()
    try:
        rows, steepest = _Runner(case).run()
    except CaseError as exc:
        return error_result(exc, time.perf_counter() - start)
    verdict = overall([r.verdict for r in rows])
    status, message = _status(case, rows, verdict, steepest)
    wrong_claims = [c.key for r in rows if Source.CLAIM in r.wrong for c in r.claims]
    diagnoses, unexplained = diagnose_case(case, wrong_claims) if explain and wrong_claims else ((), ())
    return CaseResult(
        case_id=case.id, path=str(case.path), title=case.title, expect=case.expect, status=status,
        verdict=verdict, rows=tuple(rows), steepest=tuple(steepest),
        points=tuple(tuple(float(c) for c in p) for p in case.points),
        seconds=time.perf_counter() - start, message=message, diagnoses=diagnoses,
        unexplained=unexplained,
    )


def _status(case: Case, rows: Sequence[Row], verdict: Verdict, steepest: Sequence[Steepest]) -> tuple[Status, str]:
    engine_wrong = [r for r in rows if r.verdict is Verdict.MISMATCH and set(r.wrong) - {Source.CLAIM}]
    claim_wrong = [r for r in rows if Source.CLAIM in r.wrong]
    bad_steepest = [s for s in steepest if not s.ok]
    if engine_wrong:
        r = engine_wrong[0]
        return Status.FAILED, _joined(f"{r.label} at point {r.point}: {', '.join(s.value for s in r.wrong)} wrong", r.note)
    if bad_steepest:
        s = bad_steepest[0]
        return Status.FAILED, f"steepest-ascent check failed at point {s.point}: {s.note}"
    if case.expect is Expect.MISMATCH:
        if claim_wrong:
            return Status.OK, f"wrong claim caught: {claim_wrong[0].note}"
        return Status.FAILED, "expected a wrong claim, but every claim is right"
    if claim_wrong:
        r = claim_wrong[0]
        return Status.FAILED, f"wrong claim at point {r.point}: {r.note}"
    if case.expect is Expect.NOT_DIFFERENTIABLE:
        if verdict is Verdict.NOT_DIFFERENTIABLE:
            return Status.OK, "not differentiable at a point, as expected"
        return Status.FAILED, "expected a non-differentiable point, found none"
    if verdict is Verdict.PASS:
        return Status.OK, ""
    r = next(r for r in rows if r.verdict is verdict)
    return Status.FAILED, _joined(f"{r.label} at point {r.point}: {verdict.value}", r.note)


def _joined(*parts: str) -> str:
    """Parts of a message joined by '; ', the empty ones left out (no bare separator)."""
    return "; ".join(p for p in parts if p)


@dataclasses.dataclass(frozen=True)
class _AtPoint:
    """What the three sources said at one point, shared by the rows built there."""

    k: int
    subs: dict
    x: np.ndarray
    exact_j: np.ndarray
    ad: AutogradValues
    num_j: NumericDerivative
    kinked: list
    one_sided_j: tuple | None
    zero_scale: float
    unit: np.ndarray
    tangents: np.ndarray
    cotangents: np.ndarray


class _Runner:
    """Holds what one case shares across its points: derivatives, compiled code, claims."""

    def __init__(self, case: Case) -> None:
        self.case = case
        self.symbolic = symbolic.derive_case(case)
        try:
            self.compiled = compile_torch(case.symbols, case.outputs)
        except NotImplementedError as exc:
            raise CaseError(str(exc), path=case.path, case_id=case.id, field="f") from None
        self.claims: dict[tuple[Quantity, tuple[int, ...]], list[ClaimEntry]] = {}
        for claim in case.claims:
            self.claims.setdefault((claim.quantity, claim.index), []).append(claim)
        self.plans = plans(case) if case.partials else []
        self.implicit = ImplicitPlan(case) if case.implicit is not None else None
        self.derived = {q: derived.symbolic(q, self.symbolic.jacobian, self.symbolic.hessian)
                        for q in derived.wanted(case.claims)}
        self.in_labels = case.input_labels
        self.out_labels = (case.name,) if case.scalar else tuple(f"{case.name}{i}" for i in range(case.n_outputs))

    def run(self) -> tuple[list[Row], list[Steepest]]:
        rows: list[Row] = []
        steepest: list[Steepest] = []
        for k, point in enumerate(self.case.points):
            point_rows, point_steepest = self._point(k, point)
            rows.extend(point_rows)
            if point_steepest is not None:
                steepest.append(point_steepest)
        return rows, steepest

    def _field(self, k: int) -> str:
        case = self.case
        given = len(case.points) - case.sampled
        if k >= given:
            return f"sample[{k - given}]"
        return "at" if given == 1 else f"at[{k}]"

    def _point(self, k: int, point: tuple[sympy.Expr, ...]) -> tuple[list[Row], Steepest | None]:
        """Every row at one point: the Jacobian, the products along vectors, then what the case adds."""
        case = self.case
        subs = symbolic.substitution(case.symbols, point)
        self._check_defined(k, point, subs)
        at = self._sources(k, point, subs)
        rows = [*self._jacobian_rows(at), *self._product_rows(at), *self._vjp_rows(at)]
        if self.symbolic.hessian is not None:
            rows.extend(self._hessian_rows(k, subs, at.x, at.ad.hessian, at.zero_scale))
        if self.plans:
            rows.extend(partial_rows(self.plans, k, point, subs, self._judge))
        if self.derived:
            rows.extend(self._derived_rows(k, subs, at.x, at.ad, at.num_j, at.zero_scale))
        if self.implicit is not None:
            rows.extend(self.implicit.rows(k, at.x, subs, self._judge))
        if on_switching_set(at.kinked):
            rows = by_definition(case, point, rows)
        # at a kink there is no gradient to be steepest: D_u f is only piecewise linear in u
        steepest = self._steepest(k, at.x, at.exact_j, at.ad.forward[0]) if case.scalar and not at.kinked else None
        return rows, steepest

    def _check_defined(self, k: int, point: tuple[sympy.Expr, ...], subs: dict) -> None:
        """Each output has a real value at the point, else one error naming the sub-expression."""
        case = self.case
        for i, out in enumerate(case.outputs):
            try:
                symbolic.evaluate(out, subs)
            except EvaluationError as exc:
                raise CaseError(f"f{'' if case.scalar else f'[{i}]'} at {_show_point(case, point)}: {exc}",
                                path=case.path, case_id=case.id, field=self._field(k)) from None

    def _sources(self, k: int, point: tuple[sympy.Expr, ...], subs: dict) -> _AtPoint:
        """The three sources at one point: the exact Jacobian, autograd, numeric (one-sided at a kink)."""
        case = self.case
        x = np.array([to_float(c) for c in point], dtype=np.float64)
        self.float_point = dict(zip(case.symbols, x.tolist()))
        self.size_memo: dict = {}
        unit = _float_array(case.directions, case.n_inputs)
        tangents = _float_array(case.tangents, case.n_inputs)
        cotangents = _float_array(case.cotangents, case.n_outputs)
        ad = autograd_at(self.compiled, x, directions=unit, tangents=tangents, cotangents=cotangents,
                         hessian=self.symbolic.hessian is not None)
        num_j = finite_diff.jacobian(self.compiled.numpy, x, complex_step=self.compiled.analytic)
        kinked = symbolic.kinks(case.outputs, subs)
        one_sided_j = finite_diff.one_sided(self.compiled.numpy, x, np.eye(case.n_inputs)) if kinked else None
        # When a whole quantity is exactly zero, no entry gives a size to round against; the
        # function's own size per unit of input does (sin(acos(0)) leaves cos(pi/2) ~ 6e-17).
        zero_scale = float(np.max(np.abs(ad.value), initial=0.0)) / max(1.0, float(np.max(np.abs(x))))
        return _AtPoint(k, subs, x, self._exact_array(self.symbolic.jacobian, subs), ad, num_j, kinked,
                        one_sided_j, zero_scale, unit, tangents, cotangents)

    def _jacobian_rows(self, at: _AtPoint) -> list[Row]:
        """Every Jacobian entry (the gradient when there is one output)."""
        m, n = self.case.n_outputs, self.case.n_inputs
        scale = _scale(at.exact_j, at.num_j.value, at.zero_scale)
        return [self._judge(
            Quantity.JACOBIAN, at.k, (i, j), self._jac_label(i, j), at.exact_j[i, j], at.subs,
            reverse=at.ad.reverse[i, j], forward=at.ad.forward[i, j],
            numeric=(at.num_j.value[i, j], at.num_j.error[i, j], at.num_j.method[i, j]),
            one_sided=None if at.one_sided_j is None else tuple(a[i, j] for a in at.one_sided_j),
            scale=scale, expr=self.symbolic.jacobian[i, j],
        ) for i in range(m) for j in range(n)]

    def _product_rows(self, at: _AtPoint) -> list[Row]:
        """Directional derivatives and Jacobian-vector products: forward mode against numeric."""
        case, m, n = self.case, self.case.n_outputs, self.case.n_inputs
        f = self.compiled.numpy
        rows: list[Row] = []
        for quantity, vectors, exact_vectors, ad_values in (
            (Quantity.DIRECTIONAL, at.unit, case.directions, at.ad.directional),
            (Quantity.JVP, at.tangents, case.tangents, at.ad.jvp),
        ):
            if not len(vectors):
                continue
            num = finite_diff.directional(f, at.x, vectors, complex_step=self.compiled.analytic)
            sided = finite_diff.one_sided(f, at.x, vectors) if at.kinked else None
            exact = self._exact_products(at.exact_j, exact_vectors, transpose=False)
            scale = _product_scale(at.exact_j, at.num_j.value, vectors, transpose=False, fallback=at.zero_scale)
            for d in range(len(vectors)):
                for i in range(m):
                    rows.append(self._judge(
                        quantity, at.k, (d, i), self._vector_label(quantity, d, i), exact[d, i], at.subs,
                        forward=ad_values[d, i], numeric=(num.value[i, d], num.error[i, d], num.method[i, d]),
                        one_sided=None if sided is None else tuple(a[i, d] for a in sided), scale=scale,
                        expr=lambda i=i, v=exact_vectors[d]: sympy.Add(*(self.symbolic.jacobian[i, j] * v[j] for j in range(n))),
                    ))
        return rows

    def _vjp_rows(self, at: _AtPoint) -> list[Row]:
        """Vector-Jacobian products: reverse mode against the numeric Jacobian contracted."""
        case, m, n = self.case, self.case.n_outputs, self.case.n_inputs
        if not len(at.cotangents):
            return []
        exact = self._exact_products(at.exact_j, case.cotangents, transpose=True)
        num_v = at.cotangents @ at.num_j.value
        err_v = np.abs(at.cotangents) @ at.num_j.error
        scale = _product_scale(at.exact_j, at.num_j.value, at.cotangents, transpose=True, fallback=at.zero_scale)
        return [self._judge(
            Quantity.VJP, at.k, (c, j), self._vector_label(Quantity.VJP, c, j), exact[c, j], at.subs,
            reverse=at.ad.vjp[c, j], numeric=(num_v[c, j], err_v[c, j], "from numeric Jacobian"),
            one_sided=None, scale=scale,
            expr=lambda j=j, v=case.cotangents[c]: sympy.Add(*(v[i] * self.symbolic.jacobian[i, j] for i in range(m))),
        ) for c in range(len(at.cotangents)) for j in range(n)]

    def _hessian_rows(self, k: int, subs: dict, x: np.ndarray, ad_hessian: np.ndarray | None,
                      zero_scale: float) -> list[Row]:
        case = self.case
        n, m = case.n_inputs, case.n_outputs
        exact_h = self._exact_array(self.symbolic.hessian, subs)
        rows = []
        for i in range(m):
            def f_i(points: np.ndarray, i: int = i) -> np.ndarray:
                return self.compiled.numpy(points)[:, i:i + 1]
            num_h = finite_diff.hessian(f_i, x)
            scale = _scale(exact_h[i], num_h.value, zero_scale)
            for j in range(n):
                for l in range(n):
                    label = f"d2{self.out_labels[i]}/d{self.in_labels[j]}d{self.in_labels[l]}"
                    rows.append(self._judge(
                        Quantity.HESSIAN, k, (i, j, l), label, exact_h[i, j, l], subs,
                        forward=None if ad_hessian is None else ad_hessian[i, j, l],
                        numeric=(num_h.value[j, l], num_h.error[j, l], num_h.method[j, l]),
                        one_sided=None, scale=scale, expr=self.symbolic.hessian[i, j, l],
                    ))
        return rows

    def _derived_rows(self, k: int, subs: dict, x: np.ndarray, ad: AutogradValues, num_j: NumericDerivative,
                      zero_scale: float) -> list[Row]:
        rows = []
        for quantity, exprs in self.derived.items():
            exact = self._exact_array(np.array(exprs, dtype=object), subs)
            if quantity is Quantity.LAPLACIAN:
                num_h = finite_diff.hessian(lambda p: self.compiled.numpy(p)[:, :1], x)
                numeric = derived.numeric(quantity, num_h.value, num_h.error)
                reverse, forward = None, derived.autograd(quantity, None, ad.hessian)
                method = "from numeric Hessian"
            else:
                numeric = derived.numeric(quantity, num_j.value, num_j.error)
                reverse = derived.autograd(quantity, ad.reverse, None)
                forward = derived.autograd(quantity, ad.forward, None)
                method = "from numeric Jacobian"
            scale = _scale(exact, np.array([v for v, _ in numeric]), zero_scale)
            for j, expr in enumerate(exprs):
                rows.append(self._judge(
                    quantity, k, (j,), derived.label(quantity, j, self.case.name, self.in_labels), exact[j], subs,
                    reverse=None if reverse is None else reverse[j], forward=None if forward is None else forward[j],
                    numeric=(numeric[j][0], numeric[j][1], method), one_sided=None, scale=scale, expr=expr,
                ))
        return rows

    def _steepest(self, k: int, x: np.ndarray, exact_j: np.ndarray, forward: np.ndarray) -> Steepest | None:
        grad = np.array([float(v) if v is not None else math.nan for v in exact_j[0]], dtype=np.float64)
        norm = float(np.linalg.norm(grad))
        if not np.all(np.isfinite(grad)) or norm == 0.0:
            return None
        rng = np.random.default_rng(stable_seed(f"{self.case.id}/{k}"))
        samples = rng.standard_normal((STEEPEST_SAMPLES, len(x)))
        samples /= np.linalg.norm(samples, axis=1, keepdims=True)
        directions = np.vstack([grad / norm, samples])
        promised = directions @ grad  # D_u f = grad f . u, every u
        num = finite_diff.directional(self.compiled.numpy, x, directions, complex_step=self.compiled.analytic)
        values, errors = num.value[0], num.error[0]
        numeric_ok = np.abs(values - promised) <= 4 * errors + STEEPEST_RTOL * norm
        # forward mode is a second, independent witness: a numeric stencil that steps over a
        # nearby kink is a numeric problem, not a broken promise (as everywhere in the verdicts)
        autograd = directions @ forward
        autograd_ok = np.abs(autograd - promised) <= STEEPEST_RTOL * norm
        witnessed = np.where(numeric_ok, values, np.where(autograd_ok, autograd, np.nan))
        along, along_err = float(values[0]), float(errors[0])
        best = int(np.nanargmax(witnessed[1:])) + 1 if np.any(np.isfinite(witnessed[1:])) else 1
        best_value = float(witnessed[best])
        cosine = float(np.clip(directions[best] @ grad / norm, -1.0, 1.0))
        ok = bool(np.all(numeric_ok | autograd_ok) and best_value <= norm * (1 + STEEPEST_RTOL) + 4 * errors[best])
        if not ok and norm <= ROUNDING_FLOOR * sum(self.term_size(e) for e in self.symbolic.jacobian[0]):
            return None  # stationary within rounding: no direction is steepest
        note = "" if ok else (
            f"D_u f along the gradient is {along:.12g}, |grad f| is {norm:.12g}; "
            f"best sampled D_u f is {best_value:.12g}"
        )
        return Steepest(k, norm, along, along_err, best_value, math.degrees(math.acos(cosine)),
                        STEEPEST_SAMPLES, ok, note)

    # helpers -----------------------------------------------------------------------------
    def _exact_array(self, exprs: np.ndarray, subs: dict) -> np.ndarray:
        out = np.empty(exprs.shape, dtype=object)
        for index in np.ndindex(exprs.shape):
            try:
                out[index] = symbolic.evaluate(exprs[index], subs)
            except EvaluationError:
                out[index] = None  # e.g. DiracDelta at a kink: no exact value, numeric decides
        return out

    def _exact_products(self, exact_j: np.ndarray, vectors: Sequence[Sequence[sympy.Expr]], *, transpose: bool) -> np.ndarray:
        m, n = exact_j.shape
        width = n if transpose else m
        out = np.empty((len(vectors), width), dtype=object)
        for d, vector in enumerate(vectors):
            for a in range(width):
                pairs = [(exact_j[i, a], vector[i]) for i in range(m)] if transpose else \
                        [(exact_j[a, j], vector[j]) for j in range(n)]
                if any(v is None for v, _ in pairs):
                    out[d, a] = None
                else:
                    out[d, a] = sympy.Add(*(v * w for v, w in pairs)).evalf(symbolic.DIGITS)
        return out

    def _claim_values(self, quantity: Quantity, index: tuple[int, ...], subs: dict) -> tuple[ClaimValue, ...]:
        values = []
        for claim in self.claims.get((quantity, index), ()):
            try:
                values.append(ClaimValue(claim.key, claim.text, float(symbolic.evaluate(claim.expr, subs))))
            except EvaluationError as exc:
                values.append(ClaimValue(claim.key, claim.text, None, str(exc)))
        return tuple(values)

    def _judge(self, quantity: Quantity, k: int, index: tuple[int, ...], label: str, exact: object, subs: dict, *,
               reverse: float | None = None, forward: float | None = None,
               numeric: tuple[float, float, str], one_sided: tuple | None, scale: float,
               expr: sympy.Expr | Callable[[], sympy.Expr] | None = None,
               float_point: dict | None = None) -> Row:
        left = right = sided_err = None
        if one_sided is not None:
            left, right, sided_err = (float(v) for v in one_sided)
        entry = Entry(
            quantity=quantity, point=k, index=index, label=label,
            exact=None if exact is None else float(exact),
            exact_text=None if exact is None else _exact_text(exact),
            reverse=None if reverse is None else float(reverse),
            forward=None if forward is None else float(forward),
            numeric=float(numeric[0]), numeric_error=float(numeric[1]), method=str(numeric[2]),
            claims=self._claim_values(quantity, index, subs),
            left=left, right=right, one_sided_error=sided_err, scale=scale,
        )
        row = judge(entry)
        if expr is not None and _rounding_doubt(row):
            # only now is the size of the entry's terms worth a walk: they may cancel, and the
            # inputs torch received are the binary numbers nearest the case's exact ones
            expr = expr() if callable(expr) else expr
            size = term_size(expr, float_point) if float_point is not None else self.term_size(expr)
            if size > scale:
                row = judge(dataclasses.replace(entry, term_size=size))
        return row

    def term_size(self, expr: sympy.Expr) -> float:
        return term_size(expr, self.float_point, self.size_memo)

    def _jac_label(self, i: int, j: int) -> str:
        return f"d{self.out_labels[i]}/d{self.in_labels[j]}"

    def _vector_label(self, quantity: Quantity, d: int, i: int) -> str:
        if quantity is Quantity.DIRECTIONAL:
            return f"D_u{d + 1} {self.out_labels[i]}"
        if quantity is Quantity.JVP:
            return f"jvp{d + 1}[{self.out_labels[i]}]"
        return f"vjp{d + 1}[{self.in_labels[i]}]"


def _rounding_doubt(row: Row) -> bool:
    """Whether an engine's disagreement could be rounding that the quantity's scale misses."""
    engines = set(row.wrong) - {Source.CLAIM}
    return bool(engines) or "numeric is wrong" in row.note


def _exact_text(value: object) -> str:
    return sympy.Float(value, symbolic.DIGITS).__str__() if isinstance(value, sympy.Expr) else str(value)


def _float_array(vectors: Sequence[Sequence[sympy.Expr]], width: int) -> np.ndarray:
    return np.array([[to_float(c) for c in v] for v in vectors], dtype=np.float64).reshape(len(vectors), width)


def _scale(exact: np.ndarray, numeric: np.ndarray, fallback: float) -> float:
    """The largest |entry| of a quantity; ``fallback`` when every entry is exactly zero."""
    values = [abs(float(v)) for v in exact.flat if v is not None]
    if not values:
        values = [abs(float(v)) for v in np.asarray(numeric).flat if np.isfinite(v)]
    return max(values, default=0.0) or fallback


def _product_scale(exact_j: np.ndarray, numeric_j: np.ndarray, vectors: np.ndarray, *, transpose: bool,
                   fallback: float) -> float:
    """The largest sum of |J_ij v_j| (or |v_i J_ij|): the size of the terms a product adds up,
    which bounds its rounding even when the terms cancel to zero."""
    jac = np.array([[abs(float(v)) if v is not None else math.nan for v in row] for row in exact_j])
    jac = np.where(np.isfinite(jac), jac, np.abs(numeric_j))
    terms = np.abs(vectors) @ jac if transpose else np.abs(vectors) @ jac.T
    return (float(np.nanmax(terms)) if terms.size else 0.0) or fallback


def _show_point(case: Case, point: tuple[sympy.Expr, ...]) -> str:
    parts = [f"{label}={value}" for label, value in zip(case.input_labels, point)]
    text = ", ".join(parts)
    return text if len(text) < 80 else text[:77] + "..."
