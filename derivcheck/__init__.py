"""derivcheck: is this derivative right? Exact SymPy, torch autograd and finite differences agree.

Public names are imported lazily, so ``import derivcheck`` (and ``derivcheck --help``) stays fast
and does not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from derivcheck.errors import CaseError, DerivativeMismatch, DerivcheckError, ExpressionError, Inconclusive

__version__ = "0.1.0"

__all__ = [
    "CaseError",
    "CheckResult",
    "DerivativeMismatch",
    "DerivcheckError",
    "ExpressionError",
    "Inconclusive",
    "Mode",
    "Tolerances",
    "Verdict",
    "check_grad",
    "load_paths",
    "run_case",
]

_LAZY = {
    "CheckResult": ("derivcheck.gradcheck.result", "CheckResult"),
    "check_grad": ("derivcheck.gradcheck.api", "check_grad"),
    "load_paths": ("derivcheck.cases.files", "load_paths"),
    "Mode": ("derivcheck.gradcheck.result", "Mode"),
    "Tolerances": ("derivcheck.verdict", "Tolerances"),
    "Verdict": ("derivcheck.verdict", "Verdict"),
    "run_case": ("derivcheck.cases.run", "run_case"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'derivcheck' has no attribute {name!r}")


if TYPE_CHECKING:  # pragma: no cover
    from derivcheck.cases.files import load_paths
    from derivcheck.cases.run import run_case
    from derivcheck.gradcheck.api import check_grad
    from derivcheck.gradcheck.result import CheckResult, Mode
    from derivcheck.verdict import Tolerances, Verdict
