"""pytest collects derivcheck case files: ``pytest cases/`` or ``pytest file.toml``.

Each ``[[case]]`` of a ``*.toml`` file becomes a test item; TOML files without case tables (such
as ``pyproject.toml``) are ignored. Collection reads the file with ``tomllib`` only: SymPy, torch
and the engines are imported when the first case runs. A failing item shows the comparator's
table of the entries that did not pass; a case with ``expect = "mismatch"`` passes when the wrong
claim is caught. Registered through the ``pytest11`` entry point ``derivcheck``.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # pragma: no cover
    from derivcheck.cases.results import CaseResult
    from derivcheck.model import Case

_CASE_TABLE = re.compile(rb"^\s*\[\[\s*case\s*\]\]", re.MULTILINE)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """A ``CaseFile`` for every ``*.toml`` file that holds ``[[case]]`` tables."""
    if file_path.suffix != ".toml":
        return None
    try:
        head = file_path.read_bytes()
    except OSError:
        return None
    if not _CASE_TABLE.search(head):
        return None
    return CaseFile.from_parent(parent, path=file_path)


class CaseFile(pytest.File):
    """One case file; its items are its cases, named by id."""

    def collect(self):
        try:
            document = tomllib.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            yield BrokenFile.from_parent(self, name=self.path.name, reason=f"{self.path}: cannot read cases: {exc}")
            return
        tables = document.get("case")
        if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
            yield BrokenFile.from_parent(self, name=self.path.name,
                                         reason=f"{self.path}: 'case' must be an array of tables ([[case]])")
            return
        seen: set[str] = set()
        for position, table in enumerate(tables, start=1):
            case_id = table.get("id") if isinstance(table.get("id"), str) else f"#{position}"
            if case_id in seen:
                yield BrokenFile.from_parent(self, name=f"{case_id} (#{position})",
                                             reason=f"{self.path}: case {case_id!r}: field 'id': "
                                                    f"id is already used in this file")
                continue
            seen.add(case_id)
            yield CaseItem.from_parent(self, name=case_id, case_id=case_id)

    def loaded(self) -> tuple[dict[str, Case], dict[str, str]]:
        """The file's cases and load errors by case id, loaded once (on first use)."""
        cache = getattr(self, "_loaded", None)
        if cache is None:
            from derivcheck.cases.files import load_file

            cases, errors = load_file(self.path)
            cache = ({c.id: c for c in cases}, {e.case_id or "": str(e) for e in errors})
            self._loaded = cache
        return cache


class CaseFailure(AssertionError):
    """A case that did not come out as its author expected."""

    def __init__(self, result: CaseResult) -> None:
        super().__init__(result.message)
        self.result = result


class CaseLoadError(AssertionError):
    """A case or file that could not be loaded; the message is one line."""


class CaseItem(pytest.Item):
    """One ``[[case]]``: loads it, runs it through every engine and the comparator."""

    def __init__(self, *, case_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case_id = case_id

    def runtest(self) -> None:
        from derivcheck.cases.run import Status, run_case
        from derivcheck.gradcheck.targets import quiet_torch_imports

        quiet_torch_imports()  # torch's own import-time deprecation warnings, not the user's

        cases, errors = self.parent.loaded()  # type: ignore[union-attr]
        case = cases.get(self.case_id)
        if case is None:
            raise CaseLoadError(errors.get(self.case_id) or f"{self.path}: case {self.case_id!r} did not load")
        result = run_case(case)
        if result.status is not Status.OK:
            raise CaseFailure(result)

    def repr_failure(  # type: ignore[override]
        self, excinfo: pytest.ExceptionInfo[BaseException], style: str | None = None
    ) -> str:
        error = excinfo.value
        if isinstance(error, CaseLoadError):
            return str(error)
        if isinstance(error, CaseFailure):
            return _describe(error.result)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"case {self.case_id}"


class BrokenFile(pytest.Item):
    """Stands for a file or case that cannot be collected, so the run fails with its one-line error."""

    def __init__(self, *, reason: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.reason = reason

    def runtest(self) -> None:
        raise CaseLoadError(self.reason)

    def repr_failure(  # type: ignore[override]
        self, excinfo: pytest.ExceptionInfo[BaseException], style: str | None = None
    ) -> str:
        return str(excinfo.value)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, self.name


def _describe(result: CaseResult) -> str:
    from derivcheck.table import render_rows
    from derivcheck.verdict import Verdict

    head = f"case {result.case_id!r} ({result.path}): {result.status.value}"
    if result.expect.value != "pass":
        head += f", expected {result.expect.value}"
    lines = [head, result.message] if result.message else [head]
    rows = [r for r in result.rows if r.verdict is not Verdict.PASS]
    if rows:
        lines.append(render_rows(rows[:20]))
        if len(rows) > 20:
            lines.append(f"... and {len(rows) - 20} more rows that did not pass")
    return "\n".join(lines)
