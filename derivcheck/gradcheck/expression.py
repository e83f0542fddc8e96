"""``check_grad`` for an expression: the exact SymPy derivative is the reference.

The expression and the point become a one-point ``Case`` and go through ``runner.run_case``,
so autograd (both modes), finite differences and a user's gradient function (as a claim) are
judged against the exact value exactly as they are for a case file.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import sympy

from derivcheck.cases.run import Status, run_case
from derivcheck.engines import exact as symbolic
from derivcheck.errors import EvaluationError, ExpressionError
from derivcheck.gradcheck.causes import MAX_TERM_VARIANTS, confinement_cause, ratio_cause, term_cause
from derivcheck.gradcheck.result import Approach, CheckResult, Mode, ModeResult, Options, build_result, mode_verdict
from derivcheck.language.parser import RESERVED, is_array, is_name, parse, to_number
from derivcheck.mistakes.search import diagnose
from derivcheck.model import Case, ClaimEntry, Expect, Quantity, Variable
from derivcheck.verdict import DType, Row, Source, Verdict

_PATH = Path("<check_grad>")


def check_expression(expr: object, at: Mapping[str, object], grad: Callable | None, options: Options) -> CheckResult:
    """Check the derivatives of ``expr`` (text or SymPy) at the point ``at``."""
    start = time.perf_counter()
    variables, names = _variables(at, expr)
    text, outputs, scalar = _outputs(expr, names, variables)
    point = tuple(c for var in variables for c in _coordinates(at[var.name], var))
    claims = _claims(grad, at, variables, scalar) if grad is not None else ()
    case = Case(
        id="check-grad", path=_PATH, title=None, variables=variables, lets=(), data={}, f_text=text,
        outputs=outputs, scalar=scalar, points=(point,), sampled=0, directions=(), tangents=(),
        cotangents=(), order=options.order, expect=Expect.PASS, claims=claims, descent=None, names=names,
    )
    target = repr(text) if isinstance(text, str) else repr(list(text))
    result = run_case(case, explain=False)  # the claim is float values here: searched below, at more points
    if result.status is Status.ERROR:
        note = result.message.split(": ", 1)[-1]
        return build_result(target, n_inputs=case.n_inputs, n_outputs=case.n_outputs, dtype=DType.FLOAT64, start=start,
                            verdict=Verdict.INCONCLUSIVE, strategy=Approach.EXACT, reference="exact (SymPy)",
                            notes=(note,))
    rows = result.rows
    first = [r for r in rows if r.quantity is not Quantity.HESSIAN]
    second = [r for r in rows if r.quantity is Quantity.HESSIAN]
    modes = [ModeResult(Mode.REVERSE, mode_verdict(first, Source.REVERSE)),
             ModeResult(Mode.FORWARD, mode_verdict(first, Source.FORWARD)),
             ModeResult(Mode.NUMERIC, mode_verdict(first, Source.NUMERIC))]
    if claims:
        modes.append(ModeResult(Mode.GRAD, mode_verdict(first, Source.CLAIM)))
    if options.order >= 2:
        modes.append(ModeResult(Mode.SECOND, mode_verdict(second, Source.FORWARD)))
    notes = [s.note for s in result.steepest if not s.ok]
    if options.tolerances is not None:
        notes.append("tolerance overrides do not apply to an exact reference")
    causes = _causes(case, first, point) if claims else []
    if claims and any(Source.CLAIM in r.wrong for r in first):
        explained, stopped = _misapplied_rule(case, grad, variables)
        causes.extend(explained)
        notes.extend(stopped)
    return build_result(target, n_inputs=case.n_inputs, n_outputs=case.n_outputs, dtype=DType.FLOAT64, start=start,
                        modes=modes, rows=rows, causes=causes, strategy=Approach.EXACT,
                        reference="exact (SymPy, 34 digits)", notes=notes)


def _misapplied_rule(case: Case, grad: Callable, variables: tuple[Variable, ...]) -> tuple[list[str], list[str]]:
    """The wrong rule behind the user's gradient, matched against it at several points, as causes;
    a note when the search stopped at its bound without one."""
    def oracle(point: tuple[sympy.Expr, ...]) -> list[float]:
        at, offset = {}, 0
        for var in variables:
            values = [float(c) for c in point[offset:offset + var.size]]
            at[var.name] = np.array(values).reshape(var.shape) if var.shape else values[0]
            offset += var.size
        return [float(c.expr) for c in _claims(grad, at, variables, True)]

    outcome = diagnose(case, "grad", oracle=oracle)
    if outcome.diagnoses:
        return [outcome.sentence], []
    return [], ([outcome.sentence] if outcome.note == "search stopped at its bound" else [])


def _variables(at: Mapping[str, object], expr: object) -> tuple[tuple[Variable, ...], dict[str, object]]:
    if not isinstance(at, Mapping) or not at:
        raise ValueError(f"at must be a non-empty mapping of variable names to values, got {at!r}")
    own = {s.name: s for s in expr.free_symbols} if isinstance(expr, sympy.Basic) else {}
    variables, names = [], {}
    for name, value in at.items():
        if not isinstance(name, str) or not is_name(name):
            raise ValueError(f"at: variable name {name!r} must be letters, digits and '_', starting with a letter")
        if name in RESERVED:
            raise ValueError(f"at: variable name {name!r} is reserved (a function or constant)")
        shape = _shape(name, value)
        if shape and isinstance(expr, sympy.Basic):
            raise ValueError(f"at: {name!r} is an array; array variables need the expression as text")
        var = Variable(name, (), (own[name],)) if name in own and not shape else Variable.declare(name, shape)
        names[name] = var.value()
        variables.append(var)
    return tuple(variables), names


def _shape(name: str, value: object) -> tuple[int, ...]:
    array = np.asarray(value, dtype=object)
    if array.dtype != object or any(isinstance(v, (list, tuple)) for v in array.flat):
        raise ValueError(f"at: {name!r} must be a number or nested lists of equal length, got {value!r}")
    if array.size == 0:
        raise ValueError(f"at: {name!r} is empty: {value!r}")
    return tuple(array.shape)


def _coordinates(value: object, var: Variable) -> list[sympy.Expr]:
    items = list(np.asarray(value, dtype=object).flat) if var.shape else [value]
    out = []
    for item in items:
        item = item.item() if isinstance(item, np.generic) else item
        if isinstance(item, sympy.Number):
            out.append(item)
            continue
        try:
            out.append(to_number(item))
        except ExpressionError as exc:
            raise ValueError(f"at: {var.name!r}: {exc}") from None
    return out


def _outputs(expr: object, names: dict[str, object], variables: tuple[Variable, ...]) -> tuple:
    if isinstance(expr, str):
        try:
            value = parse(expr, names)
        except ExpressionError as exc:
            raise ExpressionError(f"{expr!r}: {exc}") from None
        text: str | tuple[str, ...] = expr
    elif isinstance(expr, sympy.MatrixBase):
        value, text = np.array(expr.tolist(), dtype=object), str(expr)
    else:
        value, text = expr, str(expr)
    if is_array(value):
        outputs, scalar = tuple(sympy.sympify(v) for v in np.asarray(value).flat), False
    else:
        outputs, scalar = (sympy.sympify(value),), True
    known = {s for v in variables for s in v.symbols}
    stray = sorted(str(s) for out in outputs for s in out.free_symbols if s not in known)
    if stray:
        raise ValueError(f"the expression uses {stray} but at gives no value for them")
    return text, outputs, scalar


def _claims(grad: Callable, at: Mapping[str, object], variables: tuple[Variable, ...],
            scalar: bool) -> tuple[ClaimEntry, ...]:
    if not scalar:
        raise ValueError("grad= checks the gradient of a scalar expression; this one has several outputs")
    args = {v.name: (np.asarray(at[v.name], dtype=np.float64) if v.shape else float(at[v.name])) for v in variables}
    raw = grad(**args)
    if isinstance(raw, Mapping):
        parts = [raw[v.name] for v in variables]
    elif len(variables) == 1:
        parts = [raw]
    else:
        parts = list(raw)
    if len(parts) != len(variables):
        raise ValueError(f"grad must return one gradient per variable ({len(variables)}), got {raw!r}")
    claims, j = [], 0
    for var, part in zip(variables, parts):
        values = np.asarray(part.detach().cpu() if hasattr(part, "detach") else part, dtype=np.float64).reshape(-1)
        if values.size != var.size:
            raise ValueError(f"grad returned {values.size} entries for {var.name!r}, which has {var.size}")
        for k, v in enumerate(values):
            label = var.symbols[k].name
            claims.append(ClaimEntry("grad", Quantity.JACOBIAN, (0, j), sympy.Float(float(v), 17), f"grad[{label}]"))
            j += 1
    return tuple(claims)


def _causes(case: Case, rows: list[Row], point: tuple[sympy.Expr, ...]) -> list[str]:
    wrong = [r for r in rows if Source.CLAIM in r.wrong and r.quantity is Quantity.JACOBIAN and r.exact is not None]
    if not wrong:
        return []
    causes = []
    ratio = ratio_cause(np.array([r.exact for r in wrong]), np.array([r.claims[0].value for r in wrong]))
    if ratio:
        causes.append(ratio)
    confined = confinement_cause(case.layout, [r.index[1] for r in wrong])
    if confined:
        causes.append(confined)
    grad_rows = sorted((r for r in rows if r.quantity is Quantity.JACOBIAN and r.claims), key=lambda r: r.index[1])
    claimed = np.array([r.claims[0].value for r in grad_rows], dtype=float)
    exact = np.array([r.exact if r.exact is not None else np.nan for r in grad_rows], dtype=float)
    term = term_cause(claimed, _term_variants(case, point), exact)
    if term:
        causes.append(term)
    return causes


def _term_variants(case: Case, point: tuple[sympy.Expr, ...]) -> list[tuple[str, np.ndarray]]:
    """The gradient with one sub-expression held constant, for each sub-expression (up to a limit)."""
    f = case.outputs[0]
    subs = symbolic.substitution(case.symbols, point)
    symbols = set(case.symbols)
    nodes = []
    for node in sympy.preorder_traversal(f):
        if node is f or node.is_Atom or not (node.free_symbols & symbols) or node in nodes:
            continue
        nodes.append(node)
        if len(nodes) >= MAX_TERM_VARIANTS:
            break
    variants = []
    for node in nodes:
        held = sympy.Dummy("held")
        frozen = f.xreplace({node: held})
        try:
            values = [float(symbolic.evaluate(sympy.diff(frozen, s).xreplace({held: node}), subs))
                      for s in case.symbols]
        except EvaluationError:
            continue
        variants.append((f"`{node}`", np.array(values)))
    return variants
