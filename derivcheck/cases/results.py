"""What a run learned about a case: typed, picklable results with no engine behind them.

Kept apart from the runner so that the CLI, the JSON writer and the report can hold results
without importing torch.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from derivcheck.errors import CaseError
from derivcheck.mistakes.diagnosis import Diagnosis, Unexplained
from derivcheck.model import Expect
from derivcheck.verdict import Row, Verdict


class Status(enum.Enum):
    """Whether a case came out as its author expected."""

    OK = "ok"
    FAILED = "failed"
    ERROR = "error"
    TIMEOUT = "timeout"


@dataclass(frozen=True)
class Steepest:
    """The gradient's promise at one point: D_u f = grad f . u, maximal along the gradient."""

    point: int
    gradient_norm: float
    along_gradient: float  # numeric directional derivative along grad f / |grad f|
    along_gradient_error: float
    best_sampled: float  # the largest numeric D_u f over sampled unit directions
    best_angle_deg: float  # angle between that direction and the gradient
    samples: int
    ok: bool
    note: str = ""


@dataclass(frozen=True)
class CaseResult:
    """Everything a run learned about one case."""

    case_id: str
    path: str
    title: str | None
    expect: Expect
    status: Status
    verdict: Verdict | None
    rows: tuple[Row, ...]
    steepest: tuple[Steepest, ...]
    points: tuple[tuple[float, ...], ...]
    seconds: float
    message: str = ""  # the error, or what went wrong, in one line
    diagnoses: tuple[Diagnosis, ...] = ()  # the misapplied rule behind each wrong claim, when one explains it
    unexplained: tuple[Unexplained, ...] = ()  # wrong claims no misapplied rule explains, said so

    @property
    def ok(self) -> bool:
        return self.status is Status.OK

    @property
    def worst(self) -> Row | None:
        """The row furthest outside its tolerance (or closest to it when all pass)."""
        if not self.rows:
            return None
        order = {Verdict.MISMATCH: 3, Verdict.INCONCLUSIVE: 2, Verdict.NOT_DIFFERENTIABLE: 1, Verdict.PASS: 0}
        return max(self.rows, key=lambda r: (order[r.verdict], r.badness))


def error_result(error: CaseError, seconds: float = 0.0) -> CaseResult:
    """A result for a case that could not be loaded or evaluated."""
    return CaseResult(
        case_id=error.case_id or "", path=error.path or "", title=getattr(error, "title", None), expect=Expect.PASS,
        status=Status.ERROR, verdict=None, rows=(), steepest=(), points=(), seconds=seconds,
        message=str(error),
    )
