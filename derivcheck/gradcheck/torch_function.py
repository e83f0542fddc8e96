"""A user's function (torch or NumPy) seen as a flat map R^n -> R^m, and its derivatives from torch.

``check_grad`` checks the inputs that require grad (the gradcheck convention). This module
copies them, in float64 where the function runs in float64, into one flat vector; evaluates
batches of points for finite differences (through ``torch.vmap`` when the function allows it,
else row by row); and asks torch for vector-Jacobian products (reverse mode), Jacobian-vector
products (forward mode) and second-order products. The user's tensors are never modified.
"""

from __future__ import annotations

import contextlib
import inspect
import time
import warnings
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.autograd.forward_ad as fwAD

from derivcheck.flat_index import Slot
from derivcheck.gradcheck.causes import MAX_TERM_VARIANTS
from derivcheck.gradcheck.flat_view import InputView, flatten_outputs, out_slots, output_parts
from derivcheck.gradcheck.torch_modes import Float64, HoldOne, Holomorphic
from derivcheck.verdict import DType

__all__ = ["ModeUnsupported", "TorchFunction", "flatten_outputs"]

Tensor = torch.Tensor

#: input floats per batched call: bounds the memory of one call for large inputs (32 MiB)
CHUNK_ELEMENTS = 1 << 22
#: vmap is trusted only when it reproduces a direct call to this relative accuracy
VMAP_AGREEMENT = 1e-12


class ModeUnsupported(Exception):
    """Torch cannot compute this kind of derivative of the function; the message says why."""


class TorchFunction:
    """``func(*inputs)`` as a function of the flattened inputs that require grad.

    Construction evaluates the function once (in float64 when it runs in float64) and raises
    ``ValueError`` for inputs or outputs that cannot be checked.
    """

    precision: str | None = None  # the lowest precision the function computes in, when lower than dtype's guess

    def __init__(self, func: Callable, inputs: object, *, device: str | torch.device | None = None,
                 names: Sequence[str] | None = None) -> None:
        if not callable(func):
            raise ValueError(f"func must be callable, got {func!r}")
        args = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
        checked = [i for i, a in enumerate(args) if isinstance(a, Tensor) and a.requires_grad]
        if not checked:
            raise ValueError(
                "no input requires grad: mark the tensors to check with requires_grad=True (the gradcheck "
                "convention), e.g. x = torch.randn(3, dtype=torch.float64, requires_grad=True)"
            )
        for i in checked:
            _refuse(i, args[i])
        if names is not None and len(names) != len(args):
            raise ValueError(f"names must give one name per input ({len(args)}), got {list(names)!r}")
        self.func = func
        self.device = torch.device(device) if device is not None else args[checked[0]].device
        self.positions = tuple(checked)
        fallback = ["x"] if len(args) == 1 else [f"inputs[{i}]" for i in range(len(args))]
        default = _parameter_names(func, len(args)) or fallback
        self.run_dtype, self.args, value, raw = self._choose_precision(args)
        self.view = InputView([self.args[i] for i in checked], [(names or default)[i] for i in checked])
        self.slots = self.view.slots
        self.n = self.view.n
        self.x = self.view.x
        self.notes = [f"held fixed, not checked (not finite): {held}" for held in self.view.held]
        self.complex = any(s.complex for s in self.slots)
        parts = output_parts(raw)
        self.out_dtype = parts[0].dtype
        self.value = value
        self.out_slots = out_slots(raw)
        self.complex = self.complex or any(s.complex for s in self.out_slots)
        self.m = int(value.shape[0])
        self._keep: list[int] | None = None  # the outputs compared, when some carry no gradient
        self._vmap: bool | None = None
        self._graph: tuple[list[Tensor], list[Tensor]] | None = None
        self._vmap_jvp: bool | None = None
        self.constant_gradient = False  # double backward found no graph (a detach in the backward?)
        self.upcast = False  # finite differences through _Float64 (the function forces float32)
        self._upcast_dtype: torch.dtype | None = None
        self._drop_outputs_without_gradient()
        self.reference_dtype = DType.FLOAT64 if self.run_dtype == self.out_dtype == torch.float64 else self._try_upcast()

    # evaluation ----------------------------------------------------------------------------
    @property
    def dtype(self) -> DType:
        """The tolerance key: float64 when the function computes in float64, else float32
        (complex128 and complex64 when an input or output is complex)."""
        if self.precision is not None:  # seen by gradcheck.precision: float16, bfloat16, autocast
            return DType.of(self.precision)
        wide = self.run_dtype == self.out_dtype == torch.float64
        if self.complex:
            return DType.COMPLEX128 if wide else DType.COMPLEX64
        return DType.FLOAT64 if wide else DType.FLOAT32

    def _choose_precision(self, args: tuple) -> tuple[torch.dtype, tuple, np.ndarray, object]:
        first = args[self.positions[0]]
        user = first.real.dtype if first.is_complex() else first.dtype
        tries = [torch.float64] + ([user] if user != torch.float64 else [])
        failure: Exception | None = None
        for dtype in tries:
            copies = tuple(_copy(a, self.device, _like(a, dtype)) for a in args)
            try:
                started = time.perf_counter()
                with torch.no_grad():
                    raw = self.func(*copies)
                self.call_seconds = time.perf_counter() - started  # sizes the check (context.directions)
                flat = flatten_outputs(raw)
            except ValueError:
                raise
            except Exception as exc:  # noqa: BLE001 - the user's function may raise anything
                failure = exc
                continue
            if dtype == torch.float64 and flat.dtype != torch.float64 and len(tries) > 1:
                continue  # it computes in lower precision anyway: check it as the user runs it
            return dtype, copies, flat.detach().cpu().double().numpy(), raw
        assert failure is not None
        if any(isinstance(a, Tensor) and a._base is not None for a in args) and _runs_as_given(self.func, args):
            raise ValueError(f"func runs on the inputs as given but not on copies of them ({one_line(failure)}): it "
                             f"reads memory outside its tensors (as_strided on a view?); check_grad evaluates "
                             f"copies, so pass the whole tensor the view is taken from")
        raise failure

    def _try_upcast(self) -> DType:
        """Can the forward pass be lifted to float64 (every float32 tensor it meets cast up)?
        Then finite differences use the lifted function: the derivative, not float32 rounding."""
        self.upcast = True
        try:
            again = self.evaluate(self.x[None])[0]
            raw = self._upcast_dtype
        except Exception:  # noqa: BLE001
            raw = None
        if raw == torch.float64 and np.all(np.isfinite(again)):
            return DType.FLOAT64
        self.upcast = False
        return DType.FLOAT32

    def _substitute(self, tensors: Sequence[Tensor], args: tuple | None = None) -> tuple:
        out = list(self.args if args is None else args)
        for position, tensor in zip(self.positions, tensors):
            out[position] = tensor
        return tuple(out)

    def _split(self, flat: Tensor, *, tangent: bool = False) -> list[Tensor]:
        return self.view.split(flat, tangent=tangent)

    def call(self, tensors: Sequence[Tensor], args: tuple | None = None, *, complex_step: bool = False) -> Tensor:
        """The flattened outputs for the checked inputs ``tensors`` (graph kept if they need grad)."""
        raw = self.func(*self._substitute(tensors, args))
        if self._keep is not None:
            raw = [r for r in raw if isinstance(r, Tensor) and (r.is_floating_point() or r.is_complex())]
            raw = [raw[k] for k in self._keep]
        return flatten_outputs(raw, complex_step=complex_step)

    def call_parts(self, tensors: Sequence[Tensor]) -> list[Tensor]:
        """Each floating-point output, flattened to real entries, for the checked inputs ``tensors``."""
        parts = output_parts(self.func(*self._substitute(tensors)))
        return parts if self._keep is None else [parts[k] for k in self._keep]

    def _drop_outputs_without_gradient(self) -> None:
        """Outputs that carry no gradient while others do (torch marks some outputs of an op
        non-differentiable: the mean and rstd of native_layer_norm) are named, not compared."""
        try:
            leaves, parts = self.graph()
        except Exception:  # noqa: BLE001 - the forward with grad fails: the checks will say so
            return
        live = [k for k, p in enumerate(parts) if p.requires_grad]
        if not live or len(live) == len(parts):
            return
        names = ", ".join(self.out_slots[k].name for k in range(len(parts)) if k not in live)
        self.notes.append(f"not checked: {names} carry no gradient (requires_grad=False) while the other outputs "
                          f"do; torch marks such outputs non-differentiable (a detach() if they should have one?)")
        slots, offset, pieces = [], 0, []
        for k in live:
            s = self.out_slots[k]
            pieces.append(self.value[s.offset:s.offset + s.size])
            slots.append(Slot(s.name, s.shape, offset, s.complex))
            offset += s.size
        self.out_slots, self.value, self.m = tuple(slots), np.concatenate(pieces), offset
        self._keep = live
        self._graph = (leaves, [parts[k] for k in live])

    def evaluate(self, points: np.ndarray) -> np.ndarray:
        """A batch ``(k, n)`` of float64 (or complex128) points to ``(k, m)`` values, without grad.

        Complex points go through a copy of the inputs cast to complex; a function that rejects
        them answers nan, so the complex step falls back to real differences.
        """
        points = np.asarray(points)
        complex_input = np.iscomplexobj(points)
        if complex_input and self.complex:
            return np.full((points.shape[0], self.m), np.nan + 0j)
        dtype = torch.complex128 if complex_input else self.run_dtype
        args = self.args
        if complex_input:
            args = tuple(_copy(a, self.device, torch.complex128) if isinstance(a, Tensor) and a.is_floating_point()
                         else a for a in self.args)
        if self.upcast and not complex_input:
            dtype = torch.float64
        rows = max(1, CHUNK_ELEMENTS // max(self.n, 1))
        chunks = []
        lifted = Float64() if self.upcast else contextlib.nullcontext()
        try:
            with torch.no_grad(), lifted:
                for start in range(0, points.shape[0], rows):
                    batch = torch.from_numpy(np.ascontiguousarray(points[start:start + rows])).to(self.device, dtype)
                    chunks.append(self._batch(batch, args))
        except Exception:
            if complex_input:
                return np.full((points.shape[0], self.m), np.nan + 0j)
            raise
        out = torch.cat(chunks).cpu()
        self._upcast_dtype = out.dtype
        if complex_input:
            return out.to(torch.complex128).numpy() if out.is_complex() else np.full(out.shape, np.nan + 0j)
        return out.double().numpy()

    def _batch(self, batch: Tensor, args: tuple) -> Tensor:
        cs = batch.is_complex()  # the complex step: outputs stay complex, it reads their imaginary parts
        if self._vmap is not False and batch.shape[0] > 1:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    out = torch.vmap(lambda flat: self.call(self._split(flat), args, complex_step=cs))(batch)
                if self._vmap is None:
                    direct = self.call(self._split(batch[0]), args, complex_step=cs)
                    scale = float(direct.abs().max()) if direct.numel() else 0.0
                    gap = float((out[0] - direct).abs().max()) if out.shape[1:] == direct.shape else np.inf
                    same = gap <= VMAP_AGREEMENT * max(scale, 1e-300)
                    self._vmap = bool(same)
                    if not same:
                        raise RuntimeError("vmap disagrees with a direct call")
                return out
            except Exception:  # noqa: BLE001 - vmap unsupported (custom Function, .item(), ...)
                self._vmap = False
        return torch.stack([self.call(self._split(row), args, complex_step=cs) for row in batch])

    def complex_safe(self, direction: np.ndarray, step: float = 1e-20) -> bool:
        """Whether the complex step is valid: one complex evaluation runs, returns complex values,
        and meets no operation that is not holomorphic (abs, real, conj, a cast to real, ...)."""
        if self.complex:
            return False  # complex entries already: the complex step has no room
        watch = Holomorphic()
        point = self.x + 1j * step * direction
        args = tuple(_copy(a, self.device, torch.complex128) if isinstance(a, Tensor) and a.is_floating_point()
                     else a for a in self.args)
        try:
            with torch.no_grad(), watch:
                flat = torch.from_numpy(np.ascontiguousarray(point)).to(self.device, torch.complex128)
                out = self.call(self._split(flat), args, complex_step=True)
        except Exception:  # noqa: BLE001
            return False
        return out.is_complex() and not watch.broken and bool(torch.isfinite(out).all())

    def call_gradient(self, grad: Callable) -> list[np.ndarray]:
        """The user's ``grad`` called like ``func`` (on copies), one float64 array per checked input."""
        raw = grad(*(_copy(a, self.device, None) for a in self.args))
        several = isinstance(raw, (tuple, list)) and all(isinstance(p, (Tensor, np.ndarray)) or p is None for p in raw)
        parts = list(raw) if several else [raw]
        if len(parts) == len(self.args) and len(self.args) != len(self.positions):
            parts = [parts[p] for p in self.positions]
        if len(parts) != len(self.positions):
            raise ValueError(f"grad must return one gradient per input that requires grad "
                             f"({len(self.positions)}), got {len(parts)}")
        return [as_array(p) for p in parts]

    # reverse mode ----------------------------------------------------------------------------
    def _leaves(self) -> list[Tensor]:
        flat = torch.from_numpy(self.x).to(self.device, self.run_dtype)
        return [t.clone().requires_grad_(True) for t in self._split(flat)]

    def graph(self) -> tuple[list[Tensor], list[Tensor]]:
        """Leaves and flattened outputs (one per output) of one forward pass, kept for many backward passes."""
        if self._graph is None:
            leaves = self._leaves()
            started = time.perf_counter()
            self._graph = (leaves, self.call_parts(leaves))
            # the quicker of two calls sizes the check: a first call can pay one-time set-up
            self.call_seconds = min(getattr(self, "call_seconds", np.inf), time.perf_counter() - started)
        return self._graph

    def vjp(self, cotangents: np.ndarray) -> np.ndarray:
        """Reverse mode: rows ``w`` of ``cotangents`` ``(c, m)`` to ``w^T J`` ``(c, n)``.

        Only the outputs a row touches get a gradient; the others get none (undefined), as when a
        user's loss uses one output of several: a backward that mishandles an undefined gradient
        (drops the defined ones with it) is caught by the rows that touch one output each.
        """
        leaves, parts = self.graph()
        cotangents = np.ascontiguousarray(np.atleast_2d(cotangents))
        result = np.zeros((len(cotangents), self.n))
        touched = [tuple(k for k, s in enumerate(self.out_slots) if np.any(row[s.offset:s.offset + s.size] != 0))
                   for row in cotangents]
        for key in dict.fromkeys(touched):
            live = [k for k in key if parts[k].requires_grad]
            if not live:
                continue
            rows = [r for r, t in enumerate(touched) if t == key]
            outs = [parts[k] for k in live]
            ws = [torch.from_numpy(np.ascontiguousarray(cotangents[rows][:, s.offset:s.offset + s.size]))
                  .to(self.device, parts[k].dtype) for k, s in ((k, self.out_slots[k]) for k in live)]
            result[rows] = self._vjp_rows(outs, leaves, ws)
        return result

    def _vjp_rows(self, outs: list[Tensor], leaves: list[Tensor], ws: list[Tensor]) -> np.ndarray:
        count = len(ws[0])
        if count > 1:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    grads = torch.autograd.grad(outs, leaves, ws, retain_graph=True, allow_unused=True,
                                                materialize_grads=True, is_grads_batched=True)
                # an input the outputs do not reach gets one unbatched zero: the same for every row
                grads = [g.expand(count, *g.shape) if g.shape == leaf.shape else g for g, leaf in zip(grads, leaves)]
                return self._join(grads, count)
            except Exception:  # noqa: BLE001 - the backward does not batch; one pass per row
                pass
        rows = []
        for r in range(count):
            # w . out as one scalar: torch's check of explicit output gradients imports SymPy (a
            # second on a first call); multiplying by w and summing back-propagates exactly w
            total = sum((o * w[r]).sum() for o, w in zip(outs, ws))
            grads = torch.autograd.grad(total, leaves, retain_graph=True, allow_unused=True, materialize_grads=True)
            rows.append(self._join(grads, 1)[0])
        return np.stack(rows)

    def _join(self, grads: Sequence[Tensor], count: int) -> np.ndarray:
        return self.view.join(grads, count).detach().cpu().double().numpy()

    @property
    def differentiable(self) -> bool:
        """Whether the outputs carry an autograd graph back to the checked inputs."""
        return any(p.requires_grad for p in self.graph()[1])

    # forward mode ----------------------------------------------------------------------------
    def jvp(self, tangents: np.ndarray) -> np.ndarray:
        """Forward mode: rows ``v`` of ``tangents`` ``(d, n)`` to ``J v`` ``(d, m)``.

        Raises ``ModeUnsupported`` when the function has no forward-mode derivative (a custom
        ``autograd.Function`` without ``jvp``).
        """
        primal = torch.from_numpy(self.x).to(self.device, self.run_dtype)
        tangents = np.atleast_2d(tangents)
        if len(tangents) > 1 and self._vmap_jvp is not False:
            try:
                batch = torch.from_numpy(np.ascontiguousarray(tangents)).to(self.device, self.run_dtype)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    def along(t: Tensor) -> Tensor:
                        return torch.func.jvp(lambda p: self.call(self._split(p)), (primal,), (t,))[1]

                    out = torch.func.vmap(along)(batch)
                self._vmap_jvp = True
                return out.detach().cpu().double().numpy()
            except Exception:  # noqa: BLE001 - no batching rule (a custom Function): one pass per tangent
                self._vmap_jvp = False
        rows = []
        try:
            for v in tangents:
                tangent = torch.from_numpy(np.ascontiguousarray(v)).to(self.device, self.run_dtype)
                with fwAD.dual_level():
                    duals = [fwAD.make_dual(p, t) for p, t in
                             zip(self._split(primal), self._split(tangent, tangent=True))]
                    # the fixed tensors as duals with zero tangent: an operation mixing dual and
                    # plain operands runs through a Python decomposition (3x the whole pass)
                    fixed = tuple(fwAD.make_dual(a, torch.zeros_like(a))
                                  if isinstance(a, Tensor) and a.is_floating_point() and a.layout == torch.strided
                                  else a for a in self.args)
                    out = self.call(duals, fixed)
                    t_out = fwAD.unpack_dual(out).tangent
                rows.append(np.zeros(self.m) if t_out is None else t_out.detach().cpu().double().numpy())
        except Exception as exc:  # noqa: BLE001
            raise ModeUnsupported(one_line(exc)) from None
        return np.stack(rows)

    # second order ----------------------------------------------------------------------------
    def hvp(self, cotangent: np.ndarray, vectors: np.ndarray) -> np.ndarray:
        """Double backward: ``d/dx (w^T J(x)) . v`` for each row ``v`` of ``vectors`` -> ``(k, n)``."""
        leaves = self._leaves()
        out = self.call(leaves)
        w = torch.from_numpy(np.ascontiguousarray(cotangent)).to(self.device, out.dtype)
        try:
            grads = torch.autograd.grad(out, leaves, w, create_graph=True, allow_unused=True, materialize_grads=True)
            g = self.view.join(grads, 1)[0]
            self.constant_gradient = not g.requires_grad
            if self.constant_gradient:  # torch sees the gradient as a constant: its derivative is zero
                return np.zeros((len(np.atleast_2d(vectors)), self.n))
            rows = []
            for v in np.atleast_2d(vectors):
                dot = g @ torch.from_numpy(np.ascontiguousarray(v)).to(self.device, g.dtype)
                second = torch.autograd.grad(dot, leaves, retain_graph=True, allow_unused=True, materialize_grads=True)
                rows.append(self._join(second, 1)[0])
        except ModeUnsupported:
            raise
        except Exception as exc:  # noqa: BLE001
            raise ModeUnsupported(one_line(exc)) from None
        return np.stack(rows)

    def gradient_at(self, cotangent: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        """The batched map ``x -> w^T J(x)``, ``(k, n) -> (k, n)``: reverse mode at many points."""
        w = torch.from_numpy(np.ascontiguousarray(cotangent))

        def gradients(points: np.ndarray) -> np.ndarray:
            rows = []
            for point in np.asarray(points, dtype=np.float64):
                flat = torch.from_numpy(np.ascontiguousarray(point)).to(self.device, self.run_dtype)
                leaves = [t.clone().requires_grad_(True) for t in self._split(flat)]
                out = self.call(leaves)
                if not out.requires_grad:
                    rows.append(np.zeros(self.n))
                    continue
                grads = torch.autograd.grad(out, leaves, w.to(self.device, out.dtype), allow_unused=True,
                                            materialize_grads=True)
                rows.append(self._join(grads, 1)[0])
            return np.stack(rows)

        return gradients

    # missing terms -----------------------------------------------------------------------------
    def term_variants(self, cotangent: np.ndarray) -> list[tuple[str, np.ndarray]]:
        """``w^T J`` with one operand of one forward operation held constant, for each such pair.

        A hand-written gradient that equals one of these is missing exactly that term (a
        product-rule term, or a coupling term such as softmax's normaliser). Works when the
        forward pass is made of torch operations; a custom ``autograd.Function`` is opaque.
        """
        recorder = HoldOne(None)
        leaves = self._leaves()
        with recorder:
            self.call(leaves)
        variants = []
        for target in range(min(recorder.count, MAX_TERM_VARIANTS)):
            mode = HoldOne(target)
            leaves = self._leaves()
            try:
                with mode:
                    out = self.call(leaves)
                if not out.requires_grad:
                    continue
                w = torch.from_numpy(np.ascontiguousarray(cotangent)).to(self.device, out.dtype)
                grads = torch.autograd.grad(out, leaves, w, allow_unused=True, materialize_grads=True)
            except Exception:  # noqa: BLE001 - a variant that breaks the function says nothing
                continue
            variants.append((mode.described or recorder.calls[target], self._join(grads, 1)[0]))
        return variants


def _runs_as_given(func: Callable, args: tuple) -> bool:
    """Whether func runs on the user's own tensors (read only, without grad)."""
    try:
        with torch.no_grad():
            func(*args)
    except Exception:  # noqa: BLE001
        return False
    return True


def _refuse(position: int, t: Tensor) -> None:
    """One clear line for a checked input that cannot be checked."""
    if t.is_meta or t.device.type == "meta":
        raise ValueError(f"input {position} is a meta tensor (shape {tuple(t.shape)}, no values): derivatives "
                         f"are checked at a point; pass a tensor with values")
    if t.layout != torch.strided:
        raise ValueError(f"input {position} is a sparse tensor ({t.layout}); check a function of its values "
                         f"instead, e.g. lambda v: f(torch.sparse_coo_tensor(indices, v, shape)) with "
                         f"v = t.coalesce().values() requiring grad")
    if not (t.is_floating_point() or t.is_complex()):
        raise ValueError(f"input {position} requires grad but has dtype {t.dtype}; only floating-point "
                         f"and complex inputs can be checked")


def _like(value: object, real: torch.dtype) -> torch.dtype | None:
    """The dtype a copy of ``value`` takes when the function runs in ``real`` (None: unchanged)."""
    if not isinstance(value, Tensor) or value.layout != torch.strided:
        return None
    if value.is_complex():
        return torch.complex128 if real == torch.float64 else torch.complex64 if real == torch.float32 else None
    return real if value.is_floating_point() else None


def _copy(value: object, device: torch.device, dtype: torch.dtype | None) -> object:
    if not isinstance(value, Tensor):
        return value
    return value.detach().to(device=device, dtype=dtype or value.dtype, copy=True)


def _parameter_names(func: Callable, count: int) -> list[str] | None:
    """The names of func's first ``count`` positional parameters, to name the inputs in messages."""
    try:
        parameters = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return None
    positional = [p.name for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return positional[:count] if len(positional) >= count else None


def as_array(value: object) -> np.ndarray:
    if isinstance(value, Tensor):
        value = (torch.view_as_real(value.detach().resolve_conj()) if value.is_complex() else value.detach())
        value = value.cpu().double().numpy()
    if np.iscomplexobj(value):  # (real, imaginary) pairs, the order of the flat vector
        value = np.stack([np.real(value), np.imag(value)], axis=-1)
    return np.asarray(value, dtype=np.float64)


def one_line(exc: BaseException) -> str:
    """``Type: first line of the message``, for reporting an exception from the user's code."""
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first}"[:200]
