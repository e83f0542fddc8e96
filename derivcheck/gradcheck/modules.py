"""``check_grad(model, inputs)`` for an ``nn.Module``, and the guard that leaves the user's objects
exactly as they were found.

A module is checked on a deep copy: every parameter with ``requires_grad`` (or those ``params=``
selects by name or glob) becomes an input of ``functional_call``, named ``fc1.weight``, so
entries read ``fc1.weight[3, 7]``. The user's module is never run: its parameter values,
buffers, training flag, hooks and attributes stay as they were.

A forward may write state (``self.pk = self.pk.to(x.dtype)``, ``self.h = ...``). check_grad
evaluates under ``vmap``, forward-mode duals and complex numbers; a wrapped tensor left in an
attribute crashes the next call (a segfault). ``StateGuard`` snapshots every submodule's
attributes, parameters and buffers and puts them back after each call, so nothing of
check_grad's outlives a call; a forward seen writing state is evaluated plainly (no ``vmap``),
and one whose writes change the next call's output is reported as not deterministic.

A forward may also convert its modules in place (``patch_descriptor.to(img)``, as kornia's
``get_laf_descriptors`` does): ``Module.to`` swaps each parameter's ``.data``, keeping its
identity. Under forward-mode ``vmap`` that crashes torch itself (a segfault), and with a complex
input it leaves complex parameters behind. ``conversions_seen`` watches the first call for such
conversions (the forward is then evaluated plainly), and ``after_call`` puts each tensor's data
back when its dtype or device changed.
"""

from __future__ import annotations

import contextlib
import copy
import fnmatch
import inspect
from collections.abc import Callable, Iterable, Iterator, Sequence

import torch

Tensor = torch.Tensor
Module = torch.nn.Module


class StateGuard:
    """Snapshots the state of ``modules`` (and their submodules); puts it back on demand.

    ``after_call`` restores reassigned attributes, parameters and buffers (identity) and
    records their names in ``written``; ``restore`` also puts back values changed in place and
    training flags (once, at the end of a check).
    """

    def __init__(self, modules: Iterable[Module], *, values: bool = True) -> None:
        modules = list(modules)
        self.modules = list(dict.fromkeys(m for top in modules for m in top.modules()))
        self.written: list[str] = []
        self._names = {id(m): n for top in modules for n, m in top.named_modules()}
        self._attributes = [(m, dict(m.__dict__)) for m in self.modules]
        self._tables = [(m, dict(m._parameters), dict(m._buffers)) for m in self.modules]
        # values to put back: the buffers (running statistics change in place in training mode);
        # a parameter is only watched (its version counter), not copied: a large model's copy costs
        # as much as a forward pass, and a forward that writes its own weights in place is rare
        self._values = [(t, t.detach().clone()) for m in self.modules for t in m._buffers.values()
                        if isinstance(t, Tensor)] if values else []
        self._versions = [(name, t, t._version) for name, t in _named_parameters(self.modules, self._names)]
        self.changed: list[str] = []  # parameters the forward changed in place (not put back)
        self._data = [(t, t.data) for m in self.modules for t in _tensors_of(m)]
        self.converted = False  # a call converted a module in place (``Module.to``, ``.double()``)
        self.carrying = False
        self._training = [(m, m.training) for m in self.modules]

    def after_call(self) -> None:
        """Undo reassignments made by one call, remembering what was written (unless ``carrying``:
        then state carries over to the next call, to see whether it changes that call's output)."""
        if self.carrying:
            self._record()
            return
        for module, attributes in self._attributes:
            current = module.__dict__
            for key in [k for k in current if k not in attributes]:
                self._note(module, key)
                del current[key]
            for key, value in attributes.items():
                if current.get(key, _MISSING) is not value and key not in ("_parameters", "_buffers"):
                    self._note(module, key)
                    current[key] = value
        for module, parameters, buffers in self._tables:
            for table, saved in ((module._parameters, parameters), (module._buffers, buffers)):
                if table.keys() != saved.keys() or any(table[k] is not v for k, v in saved.items()):
                    self._note(module, next(iter(k for k in {*table, *saved} if table.get(k) is not saved.get(k))))
                    table.clear()
                    table.update(saved)
        self._put_data_back()

    def _put_data_back(self) -> None:
        """Each tensor converted in place (``param.data`` swapped by ``Module.to``) gets its data back."""
        for tensor, data in self._data:
            if tensor.dtype != data.dtype or tensor.device != data.device or tensor.shape != data.shape:
                self.converted = True
                with torch.no_grad():
                    tensor.data = data

    def _record(self) -> None:
        for module, attributes in self._attributes:
            for key in {*attributes, *module.__dict__}:
                if module.__dict__.get(key, _MISSING) is not attributes.get(key, _MISSING):
                    self._note(module, key)

    def restore(self) -> None:
        """Everything back as found: attributes, tensors' values, training flags."""
        self.carrying = False
        self.after_call()
        with torch.no_grad():
            for tensor, value in self._values:
                if tensor.shape == value.shape and not torch.equal(tensor.detach(), value):
                    tensor.detach().copy_(value)
        self.changed = [name for name, tensor, version in self._versions if tensor._version != version]
        for module, training in self._training:
            module.training = training

    def _note(self, module: Module, key: str) -> None:
        prefix = self._names.get(id(module), "")
        name = f"self.{prefix + '.' if prefix else ''}{key}"
        if name not in self.written:
            self.written.append(name)


_MISSING = object()


@contextlib.contextmanager
def conversions_seen(guard: StateGuard | None) -> Iterator[None]:
    """Within the block, a call of ``Module._apply`` (``to``, ``double``, ``cuda``, ``apply``...) on
    one of ``guard``'s modules sets ``guard.converted``. The class attribute is swapped for the
    block only (the user's objects are never touched) and put back whatever happens."""
    if guard is None:
        yield
        return
    original = Module._apply
    watched = {id(m) for m in guard.modules}

    def recording(module: Module, *args, **kwargs):
        if id(module) in watched:
            guard.converted = True
        return original(module, *args, **kwargs)

    Module._apply = recording
    try:
        yield
    finally:
        Module._apply = original


def _named_parameters(modules: Sequence[Module], names: dict[int, str]) -> list[tuple[str, Tensor]]:
    found = []
    for module in modules:
        prefix = names.get(id(module), "")
        found += [(f"{prefix + '.' if prefix else ''}{k}", p) for k, p in module._parameters.items() if p is not None]
    return found


def _tensors_of(module: Module) -> list[Tensor]:
    found = [t for t in (*module._parameters.values(), *module._buffers.values()) if isinstance(t, Tensor)]
    found += [v for k, v in module.__dict__.items() if isinstance(v, Tensor) and not k.startswith("_")]
    return found


def modules_in(func: object) -> list[Module]:
    """The modules a callable runs: itself, the owner of a bound method, modules in its closure
    and the module-level names its code reads (``lambda x: model(x)``)."""
    found = []
    if isinstance(func, Module):
        found.append(func)
    owner = getattr(func, "__self__", None)
    if isinstance(owner, Module):
        found.append(owner)
    for cell in getattr(func, "__closure__", None) or ():
        try:
            value = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        if isinstance(value, Module):
            found.append(value)
    code, names = getattr(func, "__code__", None), getattr(func, "__globals__", None)
    if code is not None and isinstance(names, dict):
        found.extend(v for v in (names.get(n) for n in code.co_names) if isinstance(v, Module))
    return list(dict.fromkeys(found))


class Guarded:
    """``func`` with its modules' state put back after every call (for closures over modules)."""

    def __init__(self, func: Callable, guard: StateGuard) -> None:
        self.func, self.guard = func, guard
        self.__signature__ = _signature(func)

    def __call__(self, *args, **kwargs):
        try:
            return self.func(*args, **kwargs)
        finally:
            self.guard.after_call()


class ModuleCall:
    """``model(*inputs)`` as a function of (selected parameters..., inputs...), on a copy."""

    def __init__(self, model: Module, params: Sequence[str] | None, n_inputs: int,
                 keywords: Sequence[str] | None = None) -> None:
        try:
            self.model = copy.deepcopy(model)
            self.copied = True
        except Exception:  # noqa: BLE001 - an attribute that cannot be copied: guard the original
            self.model = model
            self.copied = False
        self.guard = StateGuard([self.model], values=not self.copied)
        trainable = [(n, p) for n, p in self.model.named_parameters() if p.requires_grad]
        self.names = select(trainable, params)
        self.values = [dict(trainable)[n] for n in self.names]
        self.n_inputs = n_inputs
        self.keywords = tuple(keywords) if keywords is not None else None

    def __call__(self, *tensors):
        params = dict(zip(self.names, tensors[:len(self.names)]))
        inputs = tensors[len(self.names):]
        try:
            if self.keywords is not None:
                kwargs = dict(zip(self.keywords, inputs))
                return torch.func.functional_call(self.model, params, (), kwargs, strict=False)
            return torch.func.functional_call(self.model, params, tuple(inputs))
        finally:
            self.guard.after_call()

    def parameter_inputs(self) -> list[Tensor]:
        """The selected parameters as checked inputs (detached copies that require grad)."""
        return [p.detach().clone().requires_grad_(True) for p in self.values]

    def input_names(self, count: int) -> list[str]:
        """Names for the module's own inputs: its forward's parameter names, else ``inputs[i]``."""
        if self.keywords is not None:
            return list(self.keywords)
        try:
            parameters = [p.name for p in inspect.signature(self.model.forward).parameters.values()
                          if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        except (TypeError, ValueError):
            parameters = []
        if len(parameters) >= count:
            return parameters[:count]
        return ["x"] if count == 1 else [f"inputs[{i}]" for i in range(count)]


def select(named: Sequence[tuple[str, Tensor]], patterns: Sequence[str] | None) -> list[str]:
    """The parameter names matched by ``patterns`` (names or globs, ``"fc2.*"``), in module order.

    Raises ``ValueError`` naming a pattern that matches no parameter that requires grad.
    """
    names = [n for n, _ in named]
    if patterns is None:
        return names
    chosen = set()
    for pattern in patterns:
        hits = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
        if not hits:
            raise ValueError(f"params: {pattern!r} matches no parameter that requires grad; they are {names}")
        chosen.update(hits)
    return [n for n in names if n in chosen]


def _signature(func: Callable) -> inspect.Signature | None:
    try:
        return inspect.signature(func)
    except (TypeError, ValueError):
        return None
