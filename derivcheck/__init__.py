"""derivcheck: is this derivative right? Exact SymPy, torch autograd and finite differences agree.

Public names are imported lazily, so ``import derivcheck`` (and ``derivcheck --help``) stays fast
and does not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import CaseError, DerivativeMismatch, DerivcheckError, ExpressionError, Inconclusive

__version__ = "0.1.0"

__all__ = [
    "CaseError",
    "CheckResult",
    "DerivativeMismatch",
    "DerivcheckError",
    "ExpressionError",
    "Inconclusive",
    "check_grad",
    "load_paths",
    "run_case",
]

_LAZY = {
    "CheckResult": ("derivcheck.checkresult", "CheckResult"),
    "check_grad": ("derivcheck.check", "check_grad"),
    "load_paths": ("derivcheck.cases", "load_paths"),
    "run_case": ("derivcheck.runner", "run_case"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'derivcheck' has no attribute {name!r}")


if TYPE_CHECKING:  # pragma: no cover
    from .cases import load_paths
    from .check import check_grad
    from .checkresult import CheckResult
    from .runner import run_case
