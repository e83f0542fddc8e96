"""Case files: discovery, TOML loading and validation into ``Case`` values.

Validation happens once, here: every later layer trusts the types. A bad case becomes one
``CaseError`` naming the file, the case and the field; the other cases of the file still load.
"""

from __future__ import annotations

import difflib
import fnmatch
import math
import re
import tomllib
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sympy

from .errors import CaseError, ExpressionError
from .expr import LIMITS, RESERVED, Budget, is_array, parse, shape_of, to_number
from .model import Case, ClaimEntry, Descent, Expect, Quantity, Variable

MAX_FILE_BYTES = 1_000_000
MAX_INPUTS = 400
MAX_OUTPUTS = 400
MAX_POINTS = 100
MAX_DESCENT_STEPS = 200
DEFAULT_DOMAIN = (-2.0, 2.0)

CASE_KEYS = (
    "id", "title", "vars", "let", "data", "f", "at", "sample", "domain", "directions",
    "tangents", "cotangents", "order", "expect", "claims", "descent",
)
CLAIM_KINDS = ("grad", "jacobian", "hessian", "directional", "jvp", "vjp", "d/<var>", "d2/<var><var>")
MAX_ID_LENGTH = 80
ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
VAR_RE = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_]*)\s*(?:\[\s*(\d+(?:\s*,\s*\d+)*)\s*\])?\s*$")


@dataclass(frozen=True)
class LoadResult:
    """The cases that loaded, and one error per case or file that did not."""

    cases: tuple[Case, ...]
    errors: tuple[CaseError, ...]


def discover(paths: Iterable[Path | str]) -> list[tuple[Path, bool]]:
    """TOML files under ``paths`` (folders searched recursively), sorted; True if named directly."""
    found: list[tuple[Path, bool]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend((p, False) for p in sorted(path.rglob("*.toml")) if p.is_file())
        else:
            found.append((path, True))
    return found


def load_paths(paths: Iterable[Path | str]) -> LoadResult:
    """Load every case under ``paths``; duplicate ids and bad cases become errors.

    Examples
    --------
    >>> result = load_paths(["cases/tutorials"])  # doctest: +SKIP
    >>> [c.id for c in result.cases][:2]  # doctest: +SKIP
    ['square', 'linear-wxb']
    """
    cases: list[Case] = []
    errors: list[CaseError] = []
    seen: dict[str, Path] = {}
    for path, explicit in discover(paths):
        file_cases, file_errors = load_file(path, explicit=explicit)
        errors.extend(file_errors)
        for case in file_cases:
            if case.id in seen:
                errors.append(CaseError(
                    f"id is already used in {seen[case.id]}", path=path, case_id=case.id, field="id",
                ))
                continue
            seen[case.id] = path
            cases.append(case)
    return LoadResult(tuple(cases), tuple(errors))


def load_file(path: Path, *, explicit: bool = True) -> tuple[list[Case], list[CaseError]]:
    """Load one file. A file without ``[[case]]`` tables is skipped unless named explicitly."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        return [], [CaseError(f"cannot read file: {exc.strerror}", path=path)]
    if len(raw) > MAX_FILE_BYTES:
        return [], [CaseError(f"file is larger than the limit of {MAX_FILE_BYTES} bytes", path=path)]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return [], [CaseError(f"file is not UTF-8 text (byte {exc.start})", path=path)]
    return loads(text, path=path, explicit=explicit)


def loads(text: str, *, path: Path | str = "<text>", explicit: bool = True) -> tuple[list[Case], list[CaseError]]:
    """Load the cases of one TOML document; each bad case is one error, the others still load.

    Examples
    --------
    >>> cases, errors = loads('[[case]]\\nid = "sq"\\nvars = ["x"]\\nf = "x^2"\\nat = { x = 3 }')
    >>> [c.id for c in cases], errors
    (['sq'], [])
    >>> _, errors = loads('[[case]]\\nid = "sq"\\nvars = ["x"]\\nf = "x^2"\\nat = { x = "3" }')
    >>> print(errors[0])
    <text>: case 'sq': field 'at.x': expected a number, got '3'
    """
    path = Path(path)
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return [], [CaseError(_toml_message(str(exc)), path=path)]
    except ValueError as exc:  # tomllib lets Python's own refusals through (a 5000-digit integer)
        return [], [CaseError(f"invalid TOML: {_short(str(exc))}", path=path)]
    except RecursionError:
        return [], [CaseError("invalid TOML: tables or arrays nest too deeply", path=path)]
    tables = document.get("case")
    errors: list[CaseError] = []
    others = [key for key in document if key != "case"]
    if tables is None:
        near = [key for key in others if nearest(key, ["case"])]
        if near:
            return [], [CaseError(f"unknown key {_q(near[0])}{nearest(near[0], ['case'])}", path=path)]
        if explicit:
            return [], [CaseError("no [[case]] tables in this file", path=path)]
        return [], []
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        return [], [CaseError("'case' must be an array of tables ([[case]])", path=path)]
    if others:
        errors.append(CaseError(
            f"unknown top-level key {_q(others[0])}; a case file holds only [[case]] tables", path=path,
        ))
    cases: list[Case] = []
    for position, table in enumerate(tables, start=1):
        raw_id = table.get("id")
        valid = isinstance(raw_id, str) and ID_RE.match(raw_id) is not None and len(raw_id) <= MAX_ID_LENGTH
        case_id = raw_id if valid else f"#{position}"
        try:
            cases.append(_CaseBuilder(path, case_id, table).build())
        except CaseError as exc:
            errors.append(exc)
        except Exception as exc:  # noqa: BLE001 - one bad case must not stop the others
            errors.append(CaseError(
                f"could not be loaded ({type(exc).__name__}: {_short(str(exc))}); this is a derivcheck bug",
                path=path, case_id=case_id,
            ))
    return cases, errors


_TOML_WHERE = re.compile(r"^(?P<what>.*) \((?:at line (?P<line>\d+), column (?P<col>\d+)|at end of document)\)$")


def _toml_message(message: str) -> str:
    """tomllib's message, with the place first: 'invalid TOML at line 3, column 5: ...'."""
    match = _TOML_WHERE.match(message)
    if match is None:
        return f"invalid TOML: {message}"
    if match.group("line") is None:
        return f"invalid TOML at the end of the file: {match.group('what')}"
    return f"invalid TOML at line {match.group('line')}, column {match.group('col')}: {match.group('what')}"


def _short(text: str, width: int = 80) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _q(value: object, width: int = 80) -> str:
    """A value from the file, quoted with ``repr`` and cut to ``width`` characters."""
    return _short(repr(value), width)


def matches(case_id: str, pattern: str) -> bool:
    """``-k`` selection: a glob when the pattern has wildcards, else a substring."""
    if any(ch in pattern for ch in "*?["):
        return fnmatch.fnmatchcase(case_id, pattern)
    return pattern in case_id


def select(cases: Iterable[Case], pattern: str | None) -> list[Case]:
    """The cases whose id ``matches`` the pattern (all when it is None)."""
    return [c for c in cases if pattern is None or matches(c.id, pattern)]


def nearest(word: str, options: Sequence[str]) -> str:
    """' (did you mean X?)' for the closest option, or ''."""
    hint = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f" (did you mean {hint[0]!r}?)" if hint else ""


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
        t = self.table
        for key in t:
            if key not in CASE_KEYS:
                raise self.error(key, f"unknown key{nearest(key, CASE_KEYS)}")
        self._check_id()
        title = t.get("title")
        if title is not None and not isinstance(title, str):
            raise self.error("title", f"must be text, got {_q(title)}")
        variables = self._variables()
        names: dict[str, object] = {}
        for var in variables:
            names[var.name] = var.value()
        self._data(names)
        lets = self._lets(names)
        f_text, outputs, scalar = self._function(names)
        n = sum(v.size for v in variables)
        points, sampled = self._points(variables)
        directions = self._vectors("directions", n, normalise=True)
        tangents = self._vectors("tangents", n, normalise=False)
        cotangents = self._vectors("cotangents", len(outputs), normalise=False)
        order = t.get("order", 1)
        if order not in (1, 2) or isinstance(order, bool):
            raise self.error("order", f"must be 1 or 2, got {_q(order)}")
        expect_text = t.get("expect", "pass")
        try:
            expect = Expect(expect_text)
        except ValueError:
            choices = [e.value for e in Expect]
            raise self.error(
                "expect", f"must be one of {choices}, got {_q(expect_text)}{nearest(str(expect_text), choices)}"
            ) from None
        case_shape = _CaseShape(variables, len(outputs), scalar, len(directions), len(tangents), len(cotangents), order)
        claims = self._claims(names, case_shape, single_point=len(points) == 1)
        if expect is Expect.MISMATCH and not claims:
            raise self.error("expect", "'mismatch' needs at least one claim to be wrong")
        descent = self._descent(names, n, scalar)
        return Case(
            id=self.case_id, path=self.path, title=title, variables=variables, lets=lets,
            data={k: v for k, v in names.items() if k in t.get("data", {})},
            f_text=f_text, outputs=outputs, scalar=scalar, points=points, sampled=sampled,
            directions=directions, tangents=tangents, cotangents=cotangents, order=order,
            expect=expect, claims=claims, descent=descent, names=names,
        )

    def _check_id(self) -> None:
        case_id = self.table.get("id")
        if case_id is None:
            raise self.error("id", "is required")
        if not isinstance(case_id, str) or not ID_RE.match(case_id) or len(case_id) > 80:
            raise self.error(
                "id", f"must be lowercase letters, digits and single '-' (at most 80), got {_q(case_id)}"
            )

    def _name(self, field: str, name: object, taken: Mapping[str, object]) -> str:
        if not isinstance(name, str) or not NAME_RE.match(name) or "__" in name:
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
        points = [self._point(i if len(tables) > 1 else None, p, variables) for i, p in enumerate(tables)]
        sample = t.get("sample", 0)
        if isinstance(sample, bool) or not isinstance(sample, int) or not 0 <= sample <= MAX_POINTS:
            raise self.error("sample", f"must be a whole number from 0 to {MAX_POINTS}, got {_q(sample)}")
        points.extend(self._sample(sample, variables))
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
                    coords.append(to_number(item))
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
            ok = (
                isinstance(interval, list) and len(interval) == 2
                and all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in interval)
                and float(interval[0]) < float(interval[1])
                and all(np.isfinite(interval))
            )
            if not ok:
                raise self.error(f"domain.{key}", f"must be [low, high] with low < high, got {_q(interval)}")
            bounds[key] = (float(interval[0]), float(interval[1]))
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
                exact = [to_number(x) for x in vector]
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
            start = tuple(to_number(x) for x in start_list)
        except ExpressionError as exc:
            raise self.error("descent.start", str(exc)) from None
        steps = raw.get("steps")
        if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_DESCENT_STEPS:
            raise self.error("descent.steps", f"must be a whole number from 1 to {MAX_DESCENT_STEPS}, got {_q(steps)}")
        return Descent(rate, start, steps)  # type: ignore[arg-type]

    # claims ------------------------------------------------------------------------------
    def _claims(self, names: Mapping[str, object], shape: _CaseShape, *, single_point: bool) -> tuple[ClaimEntry, ...]:
        raw = self.table.get("claims", {})
        if not isinstance(raw, dict):
            raise self.error("claims", f"must be a table of claims, got {_q(raw)}")
        entries: list[ClaimEntry] = []
        for key, value in raw.items():
            field = f"claims.{key}"
            if not single_point and _has_bare_number(value):
                raise self.error(field, "a number claim needs a case with exactly one point; use an expression")
            entries.extend(_ClaimReader(self, field, key, value, names, shape).read())
        return tuple(entries)


@dataclass(frozen=True)
class _CaseShape:
    variables: tuple[Variable, ...]
    m: int
    scalar: bool
    n_directions: int
    n_tangents: int
    n_cotangents: int
    order: int

    @property
    def n(self) -> int:
        return sum(v.size for v in self.variables)

    def offset(self, name: str) -> int:
        total = 0
        for var in self.variables:
            if var.name == name:
                return total
            total += var.size
        raise KeyError(name)


class _ClaimReader:
    """Turns one ``[case.claims]`` entry into ``ClaimEntry`` values with checked shapes."""

    def __init__(self, builder: _CaseBuilder, field: str, key: str, value: object,
                 names: Mapping[str, object], shape: _CaseShape) -> None:
        self.builder, self.field, self.key, self.value = builder, field, key, value
        self.names, self.shape = names, shape

    def error(self, message: str) -> CaseError:
        return self.builder.error(self.field, message)

    def read(self) -> list[ClaimEntry]:
        key, shape = self.key, self.shape
        var_names = [v.name for v in shape.variables]
        if key == "grad":
            if not shape.scalar:
                raise self.error("'grad' is for a scalar function; use 'jacobian'")
            return self._gradient()
        if key == "jacobian":
            array = self._array(self.value, (shape.m, shape.n))
            return self._entries(Quantity.JACOBIAN, array)
        if key == "hessian":
            want = (shape.n, shape.n) if shape.scalar else (shape.m, shape.n, shape.n)
            array = self._array(self.value, want)
            return self._entries(Quantity.HESSIAN, array.reshape(shape.m, shape.n, shape.n))
        if key in ("directional", "jvp", "vjp"):
            return self._per_vector(key)
        if key.startswith("d2/"):
            a, b = self._second_partial_names(key[3:], var_names)
            expr = self._array(self.value, ())
            i, j = shape.offset(a), shape.offset(b)
            return [ClaimEntry(key, Quantity.HESSIAN, (0, i, j), expr.item(), _text(self.value))]
        if key.startswith("d/d"):
            name = key[3:]
            if name not in var_names:
                raise self.error(f"'{name}' is not a variable of this case{nearest(name, var_names)}")
            var = shape.variables[var_names.index(name)]
            want = var.shape if shape.scalar else (shape.m, *var.shape)
            array = self._array(self.value, want).reshape(shape.m, var.size)
            start = shape.offset(name)
            return [
                ClaimEntry(key, Quantity.JACOBIAN, (i, start + j), array[i, j], _text(self.value))
                for i in range(shape.m) for j in range(var.size)
            ]
        raise self.error(f"unknown claim; claims are {', '.join(CLAIM_KINDS)}{nearest(key, ['grad', 'jacobian', 'hessian', 'directional', 'jvp', 'vjp'])}")

    def _second_partial_names(self, rest: str, var_names: list[str]) -> tuple[str, str]:
        if self.shape.m != 1:
            raise self.error("second partials are for a scalar function")
        for name in var_names:
            if rest.startswith("d" + name) and rest[len(name) + 1:].startswith("d"):
                other = rest[len(name) + 2:]
                if other in var_names:
                    a, b = name, other
                    if any(self.shape.variables[var_names.index(v)].shape for v in (a, b)):
                        raise self.error("second partials name scalar variables; use 'hessian' for arrays")
                    return a, b
        raise self.error(f"expected 'd2/d<var>d<var>' with variables of this case {var_names}")

    def _gradient(self) -> list[ClaimEntry]:
        shape, value = self.shape, self.value
        if isinstance(value, str) or (len(shape.variables) == 1 and not isinstance(value, list)):
            array = self._array(value, (shape.n,) if len(shape.variables) > 1 else shape.variables[0].shape)
            return self._entries(Quantity.JACOBIAN, array.reshape(1, shape.n))
        if not isinstance(value, list) or len(value) != len(shape.variables):
            if len(shape.variables) == 1:
                array = self._array(value, shape.variables[0].shape)
                return self._entries(Quantity.JACOBIAN, array.reshape(1, shape.n))
            raise self.error(f"must list one entry per variable ({len(shape.variables)}), got {_q(value)}")
        flat: list[sympy.Expr] = []
        for var, item in zip(shape.variables, value):
            flat.extend(self._array(item, var.shape).flat)
        return self._entries(Quantity.JACOBIAN, np.array(flat, dtype=object).reshape(1, shape.n))

    def _per_vector(self, key: str) -> list[ClaimEntry]:
        shape = self.shape
        count = {"directional": shape.n_directions, "jvp": shape.n_tangents, "vjp": shape.n_cotangents}[key]
        source = {"directional": "directions", "jvp": "tangents", "vjp": "cotangents"}[key]
        width = shape.n if key == "vjp" else shape.m
        if not isinstance(self.value, list) or len(self.value) != count:
            raise self.error(f"must list one entry per item of '{source}' ({count}), got {_q(self.value)}")
        rows = []
        for item in self.value:
            one = width == 1 and not isinstance(item, list)
            array = self._array(item, () if one else (width,))
            rows.append(array.reshape(width))
        quantity = {"directional": Quantity.DIRECTIONAL, "jvp": Quantity.JVP, "vjp": Quantity.VJP}[key]
        return self._entries(quantity, np.array(rows, dtype=object).reshape(count, width))

    def _entries(self, quantity: Quantity, array: np.ndarray) -> list[ClaimEntry]:
        # a claim given as one text shows that text; a list shows each entry as SymPy reads it
        whole = self.value if isinstance(self.value, str) else None
        return [
            ClaimEntry(self.key, quantity, tuple(int(i) for i in index), array[index],
                       whole if whole is not None else str(array[index]))
            for index in np.ndindex(array.shape)
        ]

    def _array(self, value: object, want: tuple[int, ...]) -> np.ndarray:
        """A claim value (text, number, or nested list of them) as an object array of shape want."""
        if isinstance(value, list):
            got = _nested_shape(value)
            if got is None:
                raise self.error(f"nested lists are ragged: {_q(value)}")
            items = [self._scalar(v) for v in np.asarray(value, dtype=object).flat]
            array = np.empty(len(items), dtype=object)
            array[:] = items
            array = array.reshape(got)
        else:
            parsed = self.builder.parse(self.field, value, self.names)
            array = np.asarray(parsed, dtype=object) if is_array(parsed) else _scalar_array(parsed)
        if array.shape != want:
            if array.size == int(np.prod(want)) and array.ndim <= 1 and len(want) <= 1:
                array = array.reshape(want)
            else:
                raise self.error(f"has shape {array.shape}, expected {want}: {_q(value)}")
        return array

    def _scalar(self, value: object) -> sympy.Expr:
        parsed = self.builder.parse(self.field, value, self.names)
        if is_array(parsed):
            raise self.error(f"expected a scalar entry, {_q(value)} is an array")
        return parsed  # type: ignore[return-value]


def _scalar_array(value: object) -> np.ndarray:
    array = np.empty((), dtype=object)
    array[()] = value
    return array


def _text(value: object) -> str:
    return value if isinstance(value, str) else repr(value)


def _has_bare_number(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    if isinstance(value, list):
        return any(_has_bare_number(v) for v in value)
    return False


def _nested_shape(value: object) -> tuple[int, ...] | None:
    """Shape of nested lists, or None when ragged."""
    if not isinstance(value, list):
        return ()
    if not value:
        return None
    shapes = {_nested_shape(v) for v in value}
    if len(shapes) != 1 or None in shapes:
        return None
    return (len(value), *shapes.pop())  # type: ignore[misc]


def _constant(value: object) -> object:
    if isinstance(value, list):
        shape = _nested_shape(value)
        if shape is None:
            raise ExpressionError(f"nested lists are ragged: {_q(value)}")
        if math.prod(shape) > LIMITS.max_array_size:
            raise ExpressionError(f"an array of shape {shape} is larger than the limit of {LIMITS.max_array_size} entries")
        items = [to_number(v) for v in np.asarray(value, dtype=object).flat]
        array = np.empty(len(items), dtype=object)
        array[:] = items
        return array.reshape(shape)
    return to_number(value)


def _symbols_of(value: object) -> list[sympy.Symbol]:
    if isinstance(value, np.ndarray):
        return [s for s in value.flat if isinstance(s, sympy.Symbol)]
    return [value] if isinstance(value, sympy.Symbol) else []
