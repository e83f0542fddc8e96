"""Torch function modes that watch or rewrite a forward pass while ``check_grad`` runs it.

* ``Float64`` lifts every float32 tensor and dtype a function meets to float64, so the numeric
  reference of a function that forces float32 inside is still computed in float64;
* ``Holomorphic`` flags operations through which the complex step is wrong (abs, real, conj,
  anything that turns complex values into real ones);
* ``HoldOne`` detaches one operand of one operation, to find which term a hand-written
  gradient is missing.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.overrides import TorchFunctionMode

Tensor = torch.Tensor

#: floating dtypes lifted to float64 when the numeric reference is computed
LOW_PRECISION = (torch.float32, torch.float16, torch.bfloat16)
#: complex dtypes lifted to complex128
LOW_COMPLEX = (torch.complex64, torch.complex32)
#: calls that inspect a tensor rather than compute with it; holding them constant means nothing
_INSPECTING = frozenset({
    "__get__", "size", "dim", "numel", "stride", "is_contiguous", "__len__", "__format__",
    "__repr__", "detach", "requires_grad_", "__bool__", "item", "tolist", "element_size",
    "is_floating_point", "is_complex", "type", "get_device", "data_ptr", "storage_offset", "untyped_storage",
    "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "eq", "ne", "lt", "le", "gt", "ge",
})


class Float64(TorchFunctionMode):
    """Runs every torch call in float64: float32 (and half) tensors and dtypes are lifted."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in (Tensor.float, Tensor.half, Tensor.bfloat16):
            func = Tensor.double
        elif func in (Tensor.cfloat, Tensor.chalf):
            func = Tensor.cdouble
        return func(*_lift(args), **{k: _lift(v) for k, v in (kwargs or {}).items()})


def _lift(value: object) -> object:
    if isinstance(value, Tensor):
        if value.dtype in LOW_COMPLEX:  # complex values keep their imaginary part
            return value.to(torch.complex128)
        return value.double() if value.dtype in LOW_PRECISION else value
    if isinstance(value, torch.dtype):
        return torch.complex128 if value in LOW_COMPLEX else torch.float64 if value in LOW_PRECISION else value
    if isinstance(value, (list, tuple)):
        return type(value)(_lift(v) for v in value)
    return value


#: operations that are not holomorphic: the complex step through them is wrong
_NOT_HOLOMORPHIC = frozenset({
    "abs", "absolute", "__abs__", "real", "imag", "conj", "conj_physical", "resolve_conj", "angle", "sgn",
    "norm", "vector_norm", "matrix_norm", "view_as_real", "__get__",
})


class Holomorphic(TorchFunctionMode):
    """Flags a non-holomorphic operation, or any that turns complex values into real ones."""

    def __init__(self) -> None:
        super().__init__()
        self.broken = False

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = getattr(func, "__name__", "")
        complex_in = any(isinstance(a, Tensor) and a.is_complex() for a in _tensors(args, kwargs))
        if complex_in and name in _NOT_HOLOMORPHIC and name != "__get__":
            self.broken = True
        elif complex_in and isinstance(out, Tensor) and out.is_floating_point():
            self.broken = True  # complex in, real out: the imaginary part (the derivative) is lost
        return out


def _tensors(args: Sequence, kwargs: dict | None) -> list:
    found = []
    for value in (*args, *(kwargs or {}).values()):
        if isinstance(value, Tensor):
            found.append(value)
        elif isinstance(value, (list, tuple)):
            found.extend(v for v in value if isinstance(v, Tensor))
    return found


class HoldOne(TorchFunctionMode):
    """Counts (operation, operand-that-requires-grad) pairs; detaches the ``target``-th one."""

    def __init__(self, target: int | None) -> None:
        super().__init__()
        self.target = target
        self.count = 0
        self.calls: list[str] = []
        self.described = ""
        self._ops = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", str(func))
        if name in _INSPECTING:
            return func(*args, **kwargs)
        self._ops += 1
        args = list(args)
        for position, arg in enumerate(args):
            if isinstance(arg, Tensor) and arg.requires_grad:
                text = f"operand {position + 1} of {_op_name(func)} (operation {self._ops} of the forward pass)"
                self.calls.append(text)
                if self.count == self.target:
                    args[position] = arg.detach()
                    self.described = text
                self.count += 1
        return func(*args, **kwargs)


def _op_name(func: object) -> str:
    qualname = getattr(func, "__qualname__", None) or getattr(func, "__name__", repr(func))
    module = getattr(func, "__module__", "") or ""
    if qualname.startswith("TensorBase.") or qualname.startswith("Tensor."):
        return "Tensor." + qualname.split(".", 1)[1]
    return f"{module}.{qualname}" if module.startswith("torch") else qualname
