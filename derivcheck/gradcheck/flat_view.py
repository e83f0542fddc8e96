"""The user's tensors as one flat real vector, and back: the view every comparison works in.

A real tensor contributes its entries; a complex tensor its (real, imaginary) pairs. In that real
view torch's complex autograd convention is a plain real Jacobian: for a cotangent ``v`` of a
complex output (``v = dL/dRe y + i dL/dIm y`` for a real loss ``L``), the gradient torch returns
for a complex input ``z`` is ``dL/dRe z + i dL/dIm z`` (the conjugate Wirtinger derivative, times
two), which is the real vector-Jacobian product read as pairs; a forward-mode tangent maps the
same way. So holomorphic and non-holomorphic functions (``|z|^2``, ``conj``, ``abs``, ``angle``)
are checked by one rule, and a gradient conjugated by mistake shows as wrong imaginary parts.

Entries that are not finite (a ``-inf`` mask) are held at their values and left out of the vector.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from derivcheck.flat_index import Slot

Tensor = torch.Tensor


def real_view(t: Tensor) -> Tensor:
    """A tensor's entries as a flat real tensor (complex: real, imaginary pairs)."""
    if t.is_complex():
        t = torch.view_as_real(t.resolve_conj())
    return t.reshape(-1)


class InputView:
    """The checked tensors' entries as one vector: building it, and rebuilding tensors from it."""

    def __init__(self, tensors: Sequence[Tensor], names: Sequence[str]) -> None:
        slots, offset, self._fixed = [], 0, []
        for name, t in zip(names, tensors):
            flat = real_view(t.detach()).cpu().double()
            finite = torch.isfinite(flat)
            kept = None if bool(finite.all()) else tuple(int(i) for i in torch.nonzero(finite).reshape(-1))
            slot = Slot(name, tuple(t.shape), offset, t.is_complex(), kept)
            slots.append(slot)
            offset += slot.size
            if kept is None:
                self._fixed.append(None)
            else:  # the held entries' values, where to gather the kept ones from, and the mask
                gather = torch.cumsum(finite.long(), 0) - 1
                self._fixed.append((real_view(t.detach()), finite, gather.clamp(min=0)))
        self.slots = tuple(slots)
        self.n = offset
        parts = [real_view(t.detach()).cpu().double().numpy() for t in tensors]
        self.x = np.concatenate([p if s.kept is None else p[list(s.kept)] for p, s in zip(parts, slots)]) \
            if parts else np.zeros(0)

    @property
    def held(self) -> list[str]:
        """``"x: 3 of 12 entries (-inf)"`` for each tensor with entries held fixed."""
        out = []
        for slot, fixed in zip(self.slots, self._fixed):
            if fixed is not None:
                values = fixed[0][~fixed[1]]
                kinds = ", ".join(sorted({str(float(v)) for v in values.cpu().double()}))
                out.append(f"{slot.name}: {slot.full_size - slot.size} of {slot.full_size} entries ({kinds})")
        return out

    def split(self, flat: Tensor, *, tangent: bool = False) -> list[Tensor]:
        """Tensors of the slots' shapes (batched over the leading dimensions of ``flat``)."""
        batch = flat.shape[:-1]
        out = []
        for slot, fixed in zip(self.slots, self._fixed):
            piece = flat[..., slot.offset:slot.offset + slot.size]
            if fixed is not None:
                values, mask, gather = fixed
                base = torch.zeros((), dtype=piece.dtype, device=piece.device) if tangent else \
                    values.to(piece.device, piece.dtype)
                piece = torch.where(mask.to(piece.device), torch.index_select(piece, -1, gather.to(piece.device)), base)
            if slot.complex:
                pairs = piece.reshape(*batch, *slot.shape, 2)
                out.append(torch.complex(pairs[..., 0], pairs[..., 1]))
            else:  # a copy: a function that reads its input's storage (as_strided) must not see the vector's
                out.append(piece.reshape(tuple(batch) + slot.shape).clone())
        return out

    def join(self, grads: Sequence[Tensor], count: int) -> Tensor:
        """Gradients of the slots' tensors (batched over ``count`` rows) as ``(count, n)`` real rows."""
        rows = []
        for slot, g in zip(self.slots, grads):
            if g.is_complex():
                g = torch.view_as_real(g.resolve_conj())
            if g.numel() != count * slot.full_size:
                raise ValueError(f"the gradient of {slot.name} has {g.numel() // max(count, 1)} entries, "
                                 f"its input {slot.full_size}")
            g = g.reshape(count, -1)
            if slot.kept is not None:
                g = g[:, list(slot.kept)]
            rows.append(g)
        return torch.cat(rows, dim=1) if rows else torch.zeros(count, 0)


def output_parts(raw: object, *, complex_step: bool = False) -> list[Tensor]:
    """The floating-point (and complex) outputs of a call, each as a flat real tensor (as a flat
    tensor of whatever dtype under the complex step, which reads the imaginary parts itself)."""
    if isinstance(raw, Tensor):
        parts = [raw]
    elif isinstance(raw, (tuple, list)):
        parts = [r for r in raw if isinstance(r, Tensor) and (r.is_floating_point() or r.is_complex())]
    else:
        raise ValueError(f"func must return a tensor or a tuple of tensors, got {type(raw).__name__}: {raw!r}"[:300])
    if not parts:
        raise ValueError("func returned no floating-point tensor to differentiate")
    for part in parts:
        if not (part.is_floating_point() or part.is_complex()):
            raise ValueError(f"func must return floating-point tensors, got dtype {part.dtype}")
    return [p.reshape(-1) if complex_step else real_view(p) for p in parts]


def flatten_outputs(raw: object, *, complex_step: bool = False) -> Tensor:
    """A tensor, or a tuple/list of tensors, as one flat real tensor of its floating-point entries."""
    parts = output_parts(raw, complex_step=complex_step)
    return torch.cat(parts) if len(parts) > 1 else parts[0]


def out_slots(raw: object) -> tuple[Slot, ...]:
    """One slot per floating-point output, named ``out`` or ``out[k]``."""
    if isinstance(raw, Tensor):
        return (Slot("out", tuple(raw.shape), 0, raw.is_complex()),)
    slots, offset = [], 0
    for k, r in enumerate(raw):  # type: ignore[union-attr]
        if isinstance(r, Tensor) and (r.is_floating_point() or r.is_complex()):
            slots.append(Slot(f"out[{k}]", tuple(r.shape), offset, r.is_complex()))
            offset += slots[-1].size
    return tuple(slots)
