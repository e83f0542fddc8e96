"""Where a forward pass cuts the path from an input to the output: ``.item()``, ``.tolist()``,
``float(t)``, ``.numpy()``, ``.detach()``, ``.data``, work under ``torch.no_grad()``.

Autograd cannot see through such a step: a value computed from an input comes back as a
constant, and that input's gradient lacks every term through it. ``find_cuts`` runs the function
once under a watching mode and names each cut with the checked inputs it cuts off (read from
the autograd graph of the tensor at the cut). It is asked only when a check already failed.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch.overrides import TorchFunctionMode

Tensor = torch.Tensor

#: calls that turn a tensor into a constant (Python numbers, NumPy, a detached tensor)
_CUTTING = {
    "item": ".item()", "tolist": ".tolist()", "numpy": ".numpy()", "detach": ".detach()",
    "detach_": ".detach_()", "__float__": "float(tensor)", "__int__": "int(tensor)", "__array__": "np.asarray(tensor)",
}
#: calls that only look at a tensor
_INSPECTING = frozenset({"__get__", "size", "dim", "shape", "numel", "is_floating_point", "is_complex"})
#: graph nodes visited per cut, at most, when finding which inputs a tensor depends on
MAX_NODES = 20_000


@dataclass(frozen=True)
class Cut:
    """One step that cuts the path: what it was and which checked inputs it cut off."""

    what: str
    inputs: tuple[str, ...]


class _Watch(TorchFunctionMode):
    def __init__(self, leaves: Sequence[Tensor], names: Sequence[str]) -> None:
        super().__init__()
        self.leaves = {id(t): n for t, n in zip(leaves, names)}
        self.cuts: list[Cut] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if name == "__get__" and getattr(func, "__self__", None) is not None:
            name = getattr(func.__self__, "__name__", "")  # a property: Tensor.data
        tensors = [a for a in args if isinstance(a, Tensor) and a.requires_grad]
        if tensors:
            what = _CUTTING.get(name) or (".data" if name == "data" else None)
            if what is None and not torch.is_grad_enabled() and name not in _INSPECTING and not _in_custom_forward():
                what = f"torch.no_grad() around {name}"
            if what is not None:
                self._add(what, tensors)
        return func(*args, **kwargs)

    def _add(self, what: str, tensors: Sequence[Tensor]) -> None:
        reached = tuple(n for n in self.leaves.values() if n in _inputs_of(tensors, self.leaves))
        cut = Cut(what, reached)
        if reached and cut not in self.cuts:
            self.cuts.append(cut)


def _in_custom_forward() -> bool:
    """Whether a custom ``autograd.Function``'s forward is running (torch disables grad there)."""
    frame = sys._getframe(2)
    while frame is not None:
        ctx = frame.f_locals.get("ctx") if frame.f_code.co_name == "forward" else None
        if ctx is not None and hasattr(ctx, "save_for_backward"):
            return True
        frame = frame.f_back
    return False


def _inputs_of(tensors: Sequence[Tensor], leaves: dict[int, str]) -> set[str]:
    """The checked inputs the tensors depend on, read off their autograd graphs."""
    found: set[str] = set()
    stack, seen = [], set()
    for t in tensors:
        if id(t) in leaves:
            found.add(leaves[id(t)])
        if t.grad_fn is not None:
            stack.append(t.grad_fn)
    while stack and len(seen) < MAX_NODES:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        variable = getattr(node, "variable", None)
        if isinstance(variable, Tensor) and id(variable) in leaves:
            found.add(leaves[id(variable)])
        stack.extend(n for n, _ in node.next_functions)
    return found


def find_cuts(fn) -> list[Cut]:
    """The cuts one forward pass of ``fn`` (a ``TorchFunction``) makes; [] when it raises."""
    leaves = fn._leaves()
    watch = _Watch(leaves, [s.name for s in fn.slots])
    try:
        with torch.enable_grad(), torch.random.fork_rng(devices=[]), watch:
            fn.call(leaves)
    except Exception:  # noqa: BLE001 - a diagnosis never raises
        return []
    return watch.cuts


def cut_causes(cuts: Sequence[Cut], wrong_inputs: Sequence[str]) -> list[str]:
    """One 'a path is cut' cause per cut that reaches an input whose gradient is wrong."""
    out = []
    for cut in cuts:
        hit = [n for n in cut.inputs if n in wrong_inputs] or ([] if wrong_inputs else list(cut.inputs))
        if hit:
            names = ", ".join(repr(n) for n in hit)
            out.append(f"a path is cut: {cut.what} on a value computed from {names}; autograd sees a constant "
                       f"there, so the gradient of {names} lacks every term through it")
    return out
