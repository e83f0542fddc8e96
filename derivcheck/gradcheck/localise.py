"""Finding the wrong entries of a long vector from a few directional checks, by bisection.

A directional check ``a . u`` against ``d/dt f(x + t u)`` says *that* a computed gradient ``a``
is wrong, not *where*. Restricting ``u`` to a block of entries (``u`` times the block's
indicator) asks the same question of that block alone, so splitting the failing blocks level by
level, and keeping the worst few, narrows a 100,000-entry vector to its wrong entries in
``log(n)`` levels of one batched probe each. No probe loops over entries: each level hands every
block's mask to the caller's probe at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from derivcheck.verdict import Row, Verdict

#: children per failing block at each level (4: fewer levels than halving, as few probes)
SPLIT = 4
#: failing blocks kept per level; more than this and the search keeps the worst
BEAM = 8

#: masks ``(b, size)`` of booleans to one judged row per mask
Probe = Callable[[np.ndarray], list[Row]]


@dataclass(frozen=True)
class Block:
    """A contiguous range of entries whose restricted check failed."""

    start: int
    stop: int
    row: Row

    @property
    def single(self) -> bool:
        return self.stop - self.start == 1


@dataclass(frozen=True)
class Localised:
    """The failing blocks found (single entries unless the search stopped early)."""

    blocks: tuple[Block, ...]
    complete: bool  # no level had more failing blocks than the beam keeps

    @property
    def entries(self) -> tuple[int, ...]:
        return tuple(b.start for b in self.blocks if b.single)


def bisect(size: int, probe: Probe, *, split: int = SPLIT, beam: int = BEAM) -> Localised:
    """Narrow the failing entries of ``range(size)`` by splitting failing blocks.

    ``probe`` judges the check restricted to each mask; a block is split further when its row
    is a mismatch. Returns the failing single entries (or, if a level finds no failing child,
    the blocks above it), worst first.

    Examples
    --------
    >>> from derivcheck.model import Quantity
    >>> from derivcheck.verdict import Entry, judge
    >>> truth, computed = np.ones(1000), np.ones(1000)
    >>> computed[637] = 1.01
    >>> def probe(masks):
    ...     return [judge(Entry(Quantity.VJP, 0, (0,), "block", reverse=float(computed @ m),
    ...                         numeric=float(truth @ m), numeric_error=1e-12)) for m in masks]
    >>> bisect(1000, probe).entries
    (637,)
    """
    if size < 1:
        raise ValueError(f"size must be at least 1, got {size!r}")
    if split < 2 or beam < 1:
        raise ValueError(f"split must be at least 2 and beam at least 1, got {split!r} and {beam!r}")
    active: list[tuple[int, int, Row | None]] = [(0, size, None)]
    complete = True
    while any(stop - start > 1 for start, stop, _ in active):
        leaves = [(a, b, r) for a, b, r in active if b - a == 1]
        children = [c for a, b, _ in active if b - a > 1 for c in _split(a, b, split)]
        masks = np.zeros((len(children), size), dtype=bool)
        for k, (a, b) in enumerate(children):
            masks[k, a:b] = True
        rows = probe(masks)
        failing = [(a, b, r) for (a, b), r in zip(children, rows) if r.verdict is Verdict.MISMATCH]
        if not failing:
            complete = False
            break
        if not leaves and ((len(children) >= split and len(failing) == len(children)) or len(failing) > beam):
            # every block fails, or more than the beam keeps: the error is spread (a detached
            # normalisation, a wrong scale), not confined to a few entries; narrowing it further
            # would only cost evaluations (levels of probes) to name a few arbitrary ones
            complete = False
            active = sorted(failing, key=lambda item: _badness(item[2]), reverse=True)[:max(beam, split)]
            break
        candidates = sorted(leaves + failing, key=lambda item: _badness(item[2]), reverse=True)
        if len(candidates) > beam:
            complete = False
        active = candidates[:beam]
    blocks = tuple(Block(a, b, r) for a, b, r in active if r is not None)
    return Localised(tuple(sorted(blocks, key=lambda blk: _badness(blk.row), reverse=True)), complete)


def _split(start: int, stop: int, parts: int) -> list[tuple[int, int]]:
    edges = np.linspace(start, stop, min(parts, stop - start) + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def _badness(row: Row | None) -> float:
    return float("inf") if row is None else row.badness
