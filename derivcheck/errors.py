"""The exception family.

Errors a user causes through a case file are ``CaseError`` subclasses whose ``str`` is one line
naming the file, the case and the field. Failures of a derivative under ``check_grad`` are
``AssertionError`` subclasses, so pytest reports them as test failures.
"""

from __future__ import annotations

from pathlib import Path


class DerivcheckError(Exception):
    """Base class of every error derivcheck raises on purpose."""


class ExpressionError(DerivcheckError, ValueError):
    """Text in the case language that cannot be parsed, or breaks a rule or a limit."""


class EvaluationError(DerivcheckError, ValueError):
    """An expression has no finite value at a point (outside the function's domain)."""


class CaseError(DerivcheckError, ValueError):
    """A case file, or one case in it, that cannot be loaded.

    The message reads ``FILE: case 'ID': field 'FIELD': what is wrong``, leaving out the parts
    that are unknown (a TOML syntax error has no case).
    """

    def __init__(
        self,
        message: str,
        *,
        path: Path | str | None = None,
        case_id: str | None = None,
        field: str | None = None,
    ) -> None:
        self.path = None if path is None else str(path)
        self.case_id = case_id
        self.field = field
        self.reason = message
        super().__init__(self._format())

    def _format(self) -> str:
        parts = []
        if self.path is not None:
            parts.append(self.path)
        if self.case_id is not None:
            parts.append(f"case {self.case_id!r}")
        if self.field is not None:
            parts.append(f"field {self.field!r}")
        return ": ".join(parts + [self.reason])


class DerivativeMismatch(DerivcheckError, AssertionError):
    """A derivative disagrees with its reference by more than the tolerance allows."""

    def __init__(self, message: str, result: object = None) -> None:
        super().__init__(message)
        self.result = result


class Inconclusive(DerivcheckError, AssertionError):
    """No verdict could be reached (for example the point is not differentiable)."""

    def __init__(self, message: str, result: object = None) -> None:
        super().__init__(message)
        self.result = result
