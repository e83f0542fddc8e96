"""Case files: discovery, TOML reading, selection by id.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from derivcheck.cases.loader import MAX_ID_LENGTH, _CaseBuilder
from derivcheck.cases.quoting import _q, _short, nearest
from derivcheck.errors import CaseError
from derivcheck.model import Case

MAX_FILE_BYTES = 1_000_000


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
    >>> _, errors = loads('[[case]]\\nid = "sq"\\nvars = ["x"]\\nf = "x^2"\\nat = { x = "three" }')
    >>> print(errors[0])
    <text>: case 'sq': field 'at.x': expected a number or a constant expression, got 'three': undefined name 'three'
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
        # an id that breaks the rules still names its case in the errors (quoted), when it is text
        nameable = isinstance(raw_id, str) and 0 < len(raw_id) <= MAX_ID_LENGTH and raw_id.isprintable()
        case_id = raw_id if nameable else f"#{position}"
        try:
            cases.append(_CaseBuilder(path, case_id, table).build())
        except CaseError as exc:
            title = table.get("title")
            exc.title = title if isinstance(title, str) else None  # type: ignore[attr-defined]
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


def matches(case_id: str, pattern: str) -> bool:
    """``-k`` selection: a glob when the pattern has wildcards, else a substring."""
    if any(ch in pattern for ch in "*?["):
        return fnmatch.fnmatchcase(case_id, pattern)
    return pattern in case_id


def select(cases: Iterable[Case], pattern: str | None) -> list[Case]:
    """The cases whose id ``matches`` the pattern (all when it is None)."""
    return [c for c in cases if pattern is None or matches(c.id, pattern)]
