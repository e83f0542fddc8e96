"""Named inputs laid end to end in one flat vector: a flat index <-> (input, entry) <-> its label.

The one mapping every part of derivcheck names entries with: ``check_grad``'s tensors
(``fc1.weight[3, 7]``, ``x[2]``, a complex tensor's ``z[1].imag``), a case's declared variables
(whose symbols are named ``w[0,1]``) and the likely causes that speak of rows and blocks.

A slot is one named input: its shape, where its entries start in the vector, whether it is complex
(two real entries per element, real then imaginary) and, when some entries are held out of the
vector, which of its real-view positions are kept. Entries run in C order.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

#: how a complex element's two real entries are named, in their order in the vector
PARTS = (".real", ".imag")


@dataclass(frozen=True)
class Slot:
    """One named input inside the flat vector: where it sits and how to name its entries.

    ``shape`` is the input's shape; a complex input holds two flat entries per element; ``kept``
    lists the real-view positions in the vector when some entries are held fixed (else ``None``).

    Examples
    --------
    >>> w = Slot("fc1.weight", (4, 8), offset=10)
    >>> w.label(10 + 3 * 8 + 7)
    'fc1.weight[3, 7]'
    >>> w.flat((3, 7))
    41
    >>> Slot("z", (2,), complex=True).label(3)
    'z[1].imag'
    """

    name: str
    shape: tuple[int, ...]
    offset: int = 0
    complex: bool = False
    kept: tuple[int, ...] | None = None

    @property
    def full_size(self) -> int:
        """Real entries of the whole input (held ones too)."""
        return math.prod(self.shape) * (2 if self.complex else 1)

    @property
    def size(self) -> int:
        """Entries the input holds in the vector."""
        return len(self.kept) if self.kept is not None else self.full_size

    @property
    def layout_shape(self) -> tuple[int, ...]:
        """The shape of the slot's entries in the vector (for index arithmetic)."""
        if self.kept is not None:
            return (self.size,)
        return (*self.shape, 2) if self.complex else self.shape

    @property
    def paired(self) -> bool:
        """The slot's entries are (real, imaginary) pairs along the last axis of ``layout_shape``."""
        return self.complex and self.kept is None

    def holds(self, flat: int) -> bool:
        return self.offset <= flat < self.offset + self.size

    def _inside(self, flat: int) -> int:
        if not self.holds(flat):
            raise IndexError(f"flat index {flat} is outside {self.name!r} "
                             f"(entries {self.offset} to {self.offset + self.size - 1})")
        return flat - self.offset

    def locate(self, flat: int) -> tuple[int, ...]:
        """The index in ``layout_shape`` of flat position ``flat``."""
        return _unravel(self._inside(flat), self.layout_shape)

    def entry(self, flat: int) -> tuple[tuple[int, ...], str]:
        """(index in ``shape``, part) of flat position ``flat``; the part is ``""`` for a real input."""
        k = self._inside(flat)
        if self.kept is not None:
            k = self.kept[k]
        part = ""
        if self.complex:
            k, imag = divmod(k, 2)
            part = PARTS[imag]
        return _unravel(k, self.shape), part

    def label(self, flat: int, sep: str = ", ") -> str:
        """``name[i, j]`` (``name[i, j].imag`` for a complex input; ``name`` for a 0-d one)."""
        return self.name_entry(*self.entry(flat), sep=sep)

    def name_entry(self, index: tuple[int, ...], part: str = "", sep: str = ", ") -> str:
        """The label of the entry at ``index`` (``part``: ``".real"`` or ``".imag"`` of a complex one)."""
        return (f"{self.name}[{sep.join(map(str, index))}]" if index else self.name) + part

    def flat(self, index: Sequence[int], part: str = "") -> int:
        """The flat position of the entry at ``index`` (and ``part``): the inverse of ``entry``."""
        index = tuple(int(i) for i in index)
        if len(index) != len(self.shape) or any(not 0 <= i < n for i, n in zip(index, self.shape)):
            raise IndexError(f"index {index} is outside {self.name!r} of shape {self.shape}")
        if part not in (PARTS if self.complex else ("",)):
            raise ValueError(f"{self.name!r} has no part {part!r}")
        k = int(np.ravel_multi_index(index, self.shape)) if self.shape else 0
        if self.complex:
            k = 2 * k + PARTS.index(part)
        if self.kept is not None:
            if k not in self.kept:
                raise KeyError(f"{self.name_entry(index, part)} is held fixed, not in the vector")
            k = self.kept.index(k)
        return self.offset + k

    def labels(self, sep: str = ", ") -> tuple[str, ...]:
        """Every entry's label, in the vector's order."""
        return tuple(self.label(self.offset + k, sep) for k in range(self.size))


class Layout:
    """Named inputs laid end to end in one flat vector: which one holds a flat index, and its label.

    Build it from slots (``Layout.from_slots``), from names and shapes laid end to end
    (``Layout.consecutive``), or in the vector's own terms: names, each block's shape in the
    vector, offsets, which blocks hold (real, imaginary) pairs on their last axis, and a
    ``namer`` for entries the shapes alone cannot name (held entries).

    Examples
    --------
    >>> layout = Layout.consecutive(("b", "W"), ((3,), (2, 3)))
    >>> layout.label(8), layout.locate(8), layout.flat("W[1, 2]")
    ('W[1, 2]', (1, (1, 2)), 8)
    """

    __slots__ = ("slots",)

    def __init__(self, names: Sequence[str], shapes: Sequence[tuple[int, ...]], offsets: Sequence[int],
                 complex: Sequence[bool] = ()) -> None:
        slots = []
        for k, (name, shape, offset) in enumerate(zip(names, shapes, offsets)):
            pairs = k < len(complex) and bool(complex[k]) and len(shape) > 0 and shape[-1] == 2
            slots.append(Slot(name, tuple(shape[:-1]) if pairs else tuple(shape), int(offset), pairs))
        self.slots: tuple[Slot, ...] = tuple(slots)

    @classmethod
    def from_slots(cls, slots: Iterable[Slot]) -> Layout:
        layout = cls.__new__(cls)
        layout.slots = tuple(slots)
        return layout

    @classmethod
    def consecutive(cls, names: Sequence[str], shapes: Sequence[tuple[int, ...]],
                    complex: Sequence[bool] = ()) -> Layout:
        """Inputs of these (element) shapes, the first at offset 0 and each after the last."""
        slots, offset = [], 0
        for k, (name, shape) in enumerate(zip(names, shapes)):
            slots.append(Slot(name, tuple(shape), offset, k < len(complex) and bool(complex[k])))
            offset += slots[-1].size
        return cls.from_slots(slots)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.slots)

    @property
    def offsets(self) -> tuple[int, ...]:
        return tuple(s.offset for s in self.slots)

    @property
    def size(self) -> int:
        """The vector's length (the end of the last slot)."""
        return max((s.offset + s.size for s in self.slots), default=0)

    def find(self, flat: int) -> tuple[int, Slot]:
        """(position among the slots, slot) of the slot holding flat position ``flat``."""
        for k, slot in enumerate(self.slots):
            if slot.holds(flat):
                return k, slot
        raise IndexError(flat)

    def locate(self, flat: int) -> tuple[int, tuple[int, ...]]:
        """(which input, index in its ``layout_shape``) of a flat position."""
        k, slot = self.find(flat)
        return k, slot.locate(flat)

    def label(self, flat: int) -> str:
        return self.find(flat)[1].label(flat)

    def flat(self, label: str) -> int:
        """The flat position an entry's label names: the inverse of ``label`` (either separator)."""
        part = next((p for p in PARTS if label.endswith(p)), "")
        base = label[:len(label) - len(part)]
        for slot in self.slots:
            if base == slot.name and not slot.shape:
                return slot.flat((), part)
            if base.startswith(slot.name + "[") and base.endswith("]"):
                inside = base[len(slot.name) + 1:-1].split(",")
                if len(inside) == len(slot.shape) and all(i.strip().isdigit() for i in inside):
                    return slot.flat(tuple(int(i) for i in inside), part)
        raise KeyError(f"no entry is named {label!r}")


def find_slot(slots: Sequence[Slot], flat: int) -> Slot:
    """The slot holding flat position ``flat``."""
    return Layout.from_slots(slots).find(flat)[1]


def label(slots: Sequence[Slot], flat: int) -> str:
    """The name of the entry at flat position ``flat``."""
    return find_slot(slots, flat).label(flat)


def _unravel(k: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(k, shape)) if shape else ()
