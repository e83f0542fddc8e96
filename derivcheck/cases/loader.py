"""One ``[[case]]`` table validated into a ``Case``; every later layer trusts the types.
"""

from __future__ import annotations

import itertools
import re
import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import sympy

from derivcheck.cases.claims import _CaseShape, _ClaimReader, _constant, _has_bare_number, _nested_shape, _symbols_of
from derivcheck.cases.implicit import read_implicit
from derivcheck.cases.leibniz import MAX_ORDER, LeibnizKey, leibniz_label
from derivcheck.cases.partials import build_partial
from derivcheck.cases.quoting import _q, _short, nearest
from derivcheck.errors import CaseError, ExpressionError
from derivcheck.language.constants import to_exact, to_float
from derivcheck.language.limits import Budget
from derivcheck.language.parser import RESERVED, is_array, is_name, parse, shape_of, to_number
from derivcheck.model import Case, ClaimEntry, Descent, Expect, Partial, Variable

MAX_INPUTS = 400
MAX_OUTPUTS = 400
MAX_POINTS = 100
MAX_DESCENT_STEPS = 200
DEFAULT_DOMAIN = (-2.0, 2.0)

CASE_KEYS = (
    "id", "title", "vars", "let", "data", "f", "at", "sample", "domain", "directions",
    "tangents", "cotangents", "order", "expect", "claims", "descent", "name", "implicit", "dependent",
)
#: orders 3 and 4 derive every partial: n**order of them at most
MAX_HIGHER_INPUTS = 6
MAX_ID_LENGTH = 80
ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
VAR_RE = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_]*)\s*(?:\[\s*(\d+(?:\s*,\s*\d+)*)\s*\])?\s*$")





class CaseErrors(CaseError):
    """Several errors of one case: its text is one line per error, each naming file, case and field."""

    def __init__(self, errors: list[CaseError]) -> None:
        first = errors[0]
        super().__init__(first.reason, path=first.path, case_id=first.case_id, field=first.field)
        self.errors = list(errors)

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)


def stable_seed(text: str) -> int:
    """A seed that depends only on ``text`` (``hash`` is salted per process)."""
    return zlib.crc32(text.encode("utf-8"))


class _CaseBuilder:
    """Validates one ``[[case]]`` table field by field, in dependency order."""

    def __init__(self, path: Path, case_id: str, table: dict) -> None:
        self.path = path
        self.case_id = case_id
        self.table = table
        self.budget = Budget()

    def error(self, field: str | None, message: str) -> CaseError:
        return CaseError(message, path=self.path, case_id=self.case_id, field=None if field is None else _short(field))

    def parse(self, field: str, text: object, names: Mapping[str, object]) -> object:
        if isinstance(text, (int, float)) and not isinstance(text, bool):
            try:
                return to_number(text)
            except ExpressionError as exc:
                raise self.error(field, str(exc)) from None
        if not isinstance(text, str):
            raise self.error(field, f"expected an expression (text) or a number, got {_q(text)}")
        try:
            return parse(text, names, budget=self.budget)
        except ExpressionError as exc:
            raise self.error(field, str(exc)) from None

    # ------------------------------------------------------------------------------------
    def build(self) -> Case:
        """The validated case; every independent field is checked, and all their errors raised
        together (``CaseErrors``), so a file's author fixes them in one pass."""
        t = self.table
        for key in t:
            if key not in CASE_KEYS:
                raise self.error(key, f"unknown key{nearest(key, CASE_KEYS)}")
        errors: list[CaseError] = []
        try:
            self._check_id()
        except CaseError as exc:
            errors.append(exc)
        title = t.get("title")
        if title is not None and not isinstance(title, str):
            errors.append(self.error("title", f"must be text, got {_q(title)}"))
        try:
            return self._build(title if isinstance(title, str) else None, errors)
        except CaseErrors as exc:
            raise exc.errors[0] if len(exc.errors) == 1 else exc from None
        except CaseError as exc:  # a field the others depend on: reported with those before it
            raise CaseErrors([*errors, exc]) if errors else exc from None

    def _build(self, title: str | None, errors: list[CaseError]) -> Case:
        t = self.table
        variables = self._variables()
        names: dict[str, object] = {}
        for var in variables:
            names[var.name] = var.value()
        self._data(names)
        self.fname = self._function_name(names)
        lets = self._lets(names)
        self.variables, self.names, self.lets = variables, names, lets
        self.implicit = read_implicit(self, names)
        f_text, outputs, scalar = self.implicit.function_triple if self.implicit else self._function(names)
        self.f_text, self.outputs = f_text, outputs
        self.partials: list[Partial] = []
        n = sum(v.size for v in variables)

        def attempt(read, default):
            try:
                return read()
            except CaseErrors as exc:
                errors.extend(exc.errors)
                return default
            except CaseError as exc:
                errors.append(exc)
                return default

        points, sampled = attempt(lambda: self._points(variables), (None, 0))
        directions = attempt(lambda: self._vectors("directions", n, normalise=True), ())
        tangents = attempt(lambda: self._vectors("tangents", n, normalise=False), ())
        cotangents = attempt(lambda: self._vectors("cotangents", len(outputs), normalise=False), ())
        order = t.get("order", 1)
        if order not in range(1, MAX_ORDER + 1) or isinstance(order, bool):
            errors.append(self.error("order", f"must be a whole number from 1 to {MAX_ORDER}, got {_q(order)}"))
            order = 1
        expect_text = t.get("expect", "pass")
        try:
            expect = Expect(expect_text)
        except ValueError:
            choices = [e.value for e in Expect]
            errors.append(self.error(
                "expect", f"must be one of {choices}, got {_q(expect_text)}{nearest(str(expect_text), choices)}"
            ))
            expect = Expect.PASS
        case_shape = _CaseShape(variables, len(outputs), scalar, len(directions), len(tangents), len(cotangents),
                                order, lets=tuple(name for name, _ in lets), name=self.fname,
                                dependent=self.implicit.dependent if self.implicit else None)
        # points that did not load say nothing about number claims: no second error for them
        claims = self._claims(names, case_shape, single_point=points is None or len(points) == 1, errors=errors)
        if expect is Expect.MISMATCH and not claims and not errors:
            errors.append(self.error("expect", "'mismatch' needs at least one claim to be wrong"))
        descent = attempt(lambda: self._descent(names, n, scalar), None)
        if order > 2:
            attempt(lambda: self._higher_orders(order, scalar), None)
        if self.implicit is not None and points:
            attempt(lambda: self.implicit.check_points(self, points), None)
        if errors:
            raise CaseErrors(errors)
        return Case(
            id=self.case_id, path=self.path, title=title, variables=variables, lets=lets,
            data={k: v for k, v in names.items() if k in t.get("data", {})},
            f_text=f_text, outputs=outputs, scalar=scalar, points=points, sampled=sampled,
            directions=directions, tangents=tangents, cotangents=cotangents, order=order,
            expect=expect, claims=claims, descent=descent, names=names,
            partials=tuple(self.partials), name=self.fname,
            implicit=self.implicit.model() if self.implicit else None,
        )

    def partial(self, field: str, key: LeibnizKey) -> tuple[int, Partial, tuple[int, ...]]:
        """The index of the ``Partial`` a Leibniz key names (made once), and its claim's shape."""
        partial, shape = build_partial(self, field, key)
        for index, known in enumerate(self.partials):
            if (known.outputs, known.nodes, known.wrt) == (partial.outputs, partial.nodes, partial.wrt):
                return index, known, shape
        self.partials.append(partial)
        return len(self.partials) - 1, partial, shape

    def _higher_orders(self, order: int, scalar: bool) -> None:
        """``order = 3`` or ``4``: every distinct partial of those orders (f smooth: any order of
        the variables gives the same value, so one per multiset)."""
        scalars = [s.name for s in (sym for v in self.variables for sym in v.symbols)]
        if not scalar:
            raise self.error("order", "orders above 2 need a scalar function")
        if len(scalars) > MAX_HIGHER_INPUTS:
            raise self.error("order", f"orders above 2 need at most {MAX_HIGHER_INPUTS} scalar inputs, got {len(scalars)}")
        claimed = {seq for p in self.partials if not p.nodes and p.outputs == self.outputs for seq in p.wrt}
        for k in range(3, order + 1):  # one Partial per order: torch derives each order's tensor once
            wrt = tuple(c for c in itertools.combinations_with_replacement(range(len(scalars)), k) if c not in claimed)
            if wrt:
                labels = (tuple(leibniz_label(self.fname, [scalars[j] for j in c]) for c in wrt),)
                self.partials.append(Partial(f"order {k}", self.outputs, (), (), wrt, labels))

    def _function_name(self, names: Mapping[str, object]) -> str:
        """What claim keys call the function ("dJ/da"); used only there, so "E" is fine."""
        name = self.table.get("name", "f")
        if not is_name(name):
            raise self.error("name", f"{_q(name)} must be letters, digits and '_' starting with a letter, no '__'")
        if name in names or name in dict(self.table.get("let", {}) if isinstance(self.table.get("let"), dict) else {}):
            raise self.error("name", f"{_q(name)} is already a variable, constant or intermediate of this case")
        return name

    def _check_id(self) -> None:
        case_id = self.table.get("id")
        if case_id is None:
            raise self.error("id", "is required")
        if not isinstance(case_id, str) or not ID_RE.match(case_id) or len(case_id) > 80:
            raise self.error(
                "id", f"must be lowercase letters, digits and single '-' (at most 80), got {_q(case_id)}"
            )

    def _name(self, field: str, name: object, taken: Mapping[str, object]) -> str:
        if not isinstance(name, str) or not is_name(name):
            raise self.error(
                field, f"name {_q(name)} must be letters, digits and '_' starting with a letter, no '__'"
            )
        if name in RESERVED:
            raise self.error(field, f"name {_q(name)} is reserved (a function or constant)")
        if name in taken:
            raise self.error(field, f"name {_q(name)} is already defined")
        return name

    def _variables(self) -> tuple[Variable, ...]:
        specs = self.table.get("vars")
        if specs is None:
            raise self.error("vars", "is required")
        if not isinstance(specs, list) or not specs:
            raise self.error("vars", f"must be a non-empty list of names like \"x\" or \"w[2,3]\", got {_q(specs)}")
        variables: list[Variable] = []
        taken: dict[str, object] = {}
        for spec in specs:
            match = VAR_RE.match(spec) if isinstance(spec, str) else None
            if match is None:
                raise self.error("vars", f"{_q(spec)} is not a variable like \"x\", \"x[3]\" or \"w[2,3]\"")
            name = self._name("vars", match.group(1), taken)
            shape = tuple(int(d) for d in match.group(2).split(",")) if match.group(2) else ()
            if any(d == 0 for d in shape) or len(shape) > 3:
                raise self.error("vars", f"{_q(spec)}: dimensions must be positive, at most 3 of them")
            size = int(np.prod(shape)) if shape else 1
            if sum(v.size for v in variables) + size > MAX_INPUTS:
                raise self.error("vars", f"more than {MAX_INPUTS} scalar inputs (the limit)")
            taken[name] = True
            variables.append(Variable.declare(name, shape))
        return tuple(variables)

    def _data(self, names: dict[str, object]) -> None:
        data = self.table.get("data", {})
        if not isinstance(data, dict):
            raise self.error("data", f"must be a table of named constants, got {_q(data)}")
        for key, value in data.items():
            name = self._name(f"data.{key}", key, names)
            try:
                names[name] = _constant(value)
            except ExpressionError as exc:
                raise self.error(f"data.{key}", str(exc)) from None

    def _lets(self, names: dict[str, object]) -> tuple[tuple[str, str], ...]:
        lets = self.table.get("let", {})
        if not isinstance(lets, dict):
            raise self.error("let", f"must be a table of named expressions, got {_q(lets)}")
        out = []
        for key, text in lets.items():
            name = self._name(f"let.{key}", key, names)
            if not isinstance(text, str):
                raise self.error(f"let.{key}", f"must be an expression (text), got {_q(text)}")
            names[name] = self.parse(f"let.{key}", text, names)
            out.append((name, text))
        return tuple(out)

    def _function(self, names: Mapping[str, object]) -> tuple[str | tuple[str, ...], tuple[sympy.Expr, ...], bool]:
        f = self.table.get("f")
        if f is None:
            raise self.error("f", "is required")
        if isinstance(f, str):
            value = self.parse("f", f, names)
            if is_array(value):
                outputs = tuple(value.flat)  # type: ignore[union-attr]
                scalar = False
            else:
                outputs, scalar = (value,), True
            text: str | tuple[str, ...] = f
        elif isinstance(f, list) and f and all(isinstance(item, str) for item in f):
            outputs_list = []
            for i, item in enumerate(f):
                value = self.parse(f"f[{i}]", item, names)
                if is_array(value):
                    raise self.error(f"f[{i}]", f"each output must be scalar, {_q(item)} has shape {shape_of(value)}")
                outputs_list.append(value)
            outputs, scalar, text = tuple(outputs_list), False, tuple(f)
        else:
            raise self.error("f", f"must be an expression or a list of expressions, got {_q(f)}")
        if len(outputs) > MAX_OUTPUTS:
            raise self.error("f", f"more than {MAX_OUTPUTS} outputs (the limit)")
        self.f_shape = () if scalar else shape_of(value) if isinstance(f, str) else (len(outputs),)
        symbols = {s for v in names.values() if isinstance(v, (sympy.Symbol, np.ndarray)) for s in _symbols_of(v)}
        for out in outputs:
            stray = {s for s in out.free_symbols if s not in symbols}
            if stray:
                raise self.error("f", f"uses unknown symbols {sorted(map(str, stray))}")
        return text, tuple(sympy.sympify(o) for o in outputs), scalar

    def _points(self, variables: tuple[Variable, ...]) -> tuple[tuple[tuple[sympy.Expr, ...], ...], int]:
        t = self.table
        at = t.get("at")
        tables: list[dict] = []
        if isinstance(at, dict):
            tables = [at]
        elif isinstance(at, list) and all(isinstance(p, dict) for p in at):
            tables = list(at)
        elif at is not None:
            raise self.error("at", f"must be a table of values or a list of them, got {_q(at)}")
        errors: list[CaseError] = []  # each point, and the sampling, reported on its own
        points = []
        for i, p in enumerate(tables):
            try:
                points.append(self._point(i if len(tables) > 1 else None, p, variables))
            except CaseError as exc:
                errors.append(exc)
        sample = t.get("sample", 0)
        try:
            if isinstance(sample, bool) or not isinstance(sample, int) or not 0 <= sample <= MAX_POINTS:
                raise self.error("sample", f"must be a whole number from 0 to {MAX_POINTS}, got {_q(sample)}")
            points.extend(self._sample(sample, variables))
        except CaseError as exc:
            errors.append(exc)
        if errors:
            raise errors[0] if len(errors) == 1 else CaseErrors(errors)
        if not points:
            raise self.error("at", "is required (or 'sample' with a 'domain')")
        if len(points) > MAX_POINTS:
            raise self.error("at", f"more than {MAX_POINTS} points (the limit)")
        return tuple(points), sample

    def _point(self, index: int | None, table: dict, variables: tuple[Variable, ...]) -> tuple[sympy.Expr, ...]:
        field = "at" if index is None else f"at[{index}]"
        known = [v.name for v in variables]
        for key in table:
            if key not in known:
                raise self.error(f"{field}.{key}", f"is not a variable of this case{nearest(key, known)}")
        coords: list[sympy.Expr] = []
        for var in variables:
            if var.name not in table:
                raise self.error(field, f"gives no value for {_q(var.name)}")
            value = table[var.name]
            got = _nested_shape(value)
            if got != var.shape:
                raise self.error(
                    f"{field}.{var.name}", f"has shape {got}, but the variable has shape {var.shape}: {_q(value)}"
                )
            items = list(np.asarray(value, dtype=object).flat) if got else [value]
            for item in items:
                try:
                    coords.append(to_exact(item, budget=self.budget))
                except ExpressionError as exc:
                    raise self.error(f"{field}.{var.name}", str(exc)) from None
        return tuple(coords)

    def _sample(self, count: int, variables: tuple[Variable, ...]) -> list[tuple[sympy.Expr, ...]]:
        domain = self.table.get("domain", {})
        if not isinstance(domain, dict):
            raise self.error("domain", f"must be a table of [low, high] per variable, got {_q(domain)}")
        known = [v.name for v in variables]
        bounds = {}
        for key, interval in domain.items():
            if key not in known:
                raise self.error(f"domain.{key}", f"is not a variable of this case{nearest(key, known)}")
            if not isinstance(interval, list) or len(interval) != 2:
                raise self.error(f"domain.{key}", f"must be [low, high] with low < high, got {_q(interval)}")
            ends = []
            for end in interval:
                try:
                    ends.append(to_float(to_exact(end, budget=self.budget)))
                except ExpressionError as exc:
                    raise self.error(f"domain.{key}", f"low and high must be numbers or constant text: {exc}") from None
            if not (np.all(np.isfinite(ends)) and ends[0] < ends[1]):
                raise self.error(f"domain.{key}", f"must be [low, high] with low < high, got {_q(interval)}")
            bounds[key] = (ends[0], ends[1])
        rng = np.random.default_rng(stable_seed(self.case_id))
        points = []
        for _ in range(count):
            coords: list[sympy.Expr] = []
            for var in variables:
                low, high = bounds.get(var.name, DEFAULT_DOMAIN)
                for value in rng.uniform(low, high, size=var.size):
                    # six significant digits: points a reader can retype, exact as rationals
                    coords.append(to_number(float(f"{value:.6g}")))
            points.append(tuple(coords))
        return points

    def _vectors(self, field: str, length: int, *, normalise: bool) -> tuple[tuple[sympy.Expr, ...], ...]:
        raw = self.table.get(field, [])
        if not isinstance(raw, list):
            raise self.error(field, f"must be a list of vectors, got {_q(raw)}")
        vectors = []
        for i, vector in enumerate(raw):
            if not isinstance(vector, list) or len(vector) != length:
                raise self.error(f"{field}[{i}]", f"must be a list of {length} numbers, got {_q(vector)}")
            try:
                exact = [to_exact(x, budget=self.budget) for x in vector]
            except ExpressionError as exc:
                raise self.error(f"{field}[{i}]", str(exc)) from None
            if normalise:
                norm = sympy.sqrt(sum(x**2 for x in exact))
                if norm == 0:
                    raise self.error(f"{field}[{i}]", "a zero vector has no direction")
                exact = [x / norm for x in exact]
            vectors.append(tuple(exact))
        return tuple(vectors)

    def _descent(self, names: Mapping[str, object], n: int, scalar: bool) -> Descent | None:
        raw = self.table.get("descent")
        if raw is None:
            return None
        if not isinstance(raw, dict):
            raise self.error("descent", f"must be a table {{ rate, start, steps }}, got {_q(raw)}")
        for key in raw:
            if key not in ("rate", "start", "steps"):
                raise self.error(f"descent.{key}", f"unknown key{nearest(key, ['rate', 'start', 'steps'])}")
        if not scalar:
            raise self.error("descent", "needs a scalar function (a gradient problem)")
        rate = self.parse("descent.rate", raw.get("rate"), {})
        if is_array(rate) or not rate.is_number or not rate > 0:  # type: ignore[union-attr]
            raise self.error("descent.rate", f"must be a positive constant, got {_q(raw.get('rate'))}")
        start_raw = raw.get("start")
        start_list = start_raw if isinstance(start_raw, list) else [start_raw]
        if len(start_list) != n:
            raise self.error("descent.start", f"must give {n} number(s), got {_q(start_raw)}")
        try:
            start = tuple(to_exact(x, budget=self.budget) for x in start_list)
        except ExpressionError as exc:
            raise self.error("descent.start", str(exc)) from None
        steps = raw.get("steps")
        if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_DESCENT_STEPS:
            raise self.error("descent.steps", f"must be a whole number from 1 to {MAX_DESCENT_STEPS}, got {_q(steps)}")
        return Descent(rate, start, steps)  # type: ignore[arg-type]

    # claims ------------------------------------------------------------------------------
    def _claims(self, names: Mapping[str, object], shape: _CaseShape, *, single_point: bool,
                errors: list[CaseError]) -> tuple[ClaimEntry, ...]:
        raw = self.table.get("claims", {})
        if not isinstance(raw, dict):
            errors.append(self.error("claims", f"must be a table of claims, got {_q(raw)}"))
            return ()
        entries: list[ClaimEntry] = []
        for key, value in raw.items():
            field = f"claims.{key}"
            try:
                if not single_point and _has_bare_number(value):
                    raise self.error(field, "a number claim needs a case with exactly one point; use an expression")
                entries.extend(_ClaimReader(self, field, key, value, names, shape).read())
            except CaseError as exc:
                errors.append(exc)
        return tuple(entries)
