"""The shapes ``inputs`` may take, brought to one: positional arguments and their names.

* a tensor or a tuple/list: ``func(*inputs)``; ``names=`` names them in messages;
* a mapping ``{"w": w, "b": b}``: ``func(**inputs)``, entries named by key (``b[1]``);
* any other iterable (``model.parameters()``): its items, as a tuple.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Arguments:
    """Positional values; ``keywords`` when they are to be passed by name (a mapping was given)."""

    values: tuple[Any, ...]
    keywords: tuple[str, ...] | None
    names: tuple[str, ...] | None


def arrange(inputs: Any, names: Sequence[str] | None) -> Arguments:
    """Validate ``inputs`` and ``names`` (one line naming the bad value) and bring them to one form.

    Examples
    --------
    >>> arrange({"w": 1.0, "b": 2.0}, None)
    Arguments(values=(1.0, 2.0), keywords=('w', 'b'), names=('w', 'b'))
    """
    if isinstance(inputs, Mapping):
        keys = tuple(inputs)
        for key in keys:
            if not isinstance(key, str) or not key.isidentifier():
                raise ValueError(f"inputs: a mapping's keys are passed as keyword arguments and must be "
                                 f"identifiers, got {key!r}")
        if names is not None:
            raise ValueError("names= is for positional inputs; a mapping's keys already name them")
        return Arguments(tuple(inputs.values()), keys, keys)
    if isinstance(inputs, Iterator):
        inputs = tuple(inputs)
    values = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    if names is not None:
        if isinstance(names, str) or not isinstance(names, Sequence) or not all(isinstance(n, str) for n in names):
            raise ValueError(f"names must be a list of strings, one per input, got {names!r}")
        if len(names) != len(values):
            raise ValueError(f"names must give one name per input ({len(values)}), got {list(names)!r}")
        if len(set(names)) != len(names):
            raise ValueError(f"names must be distinct, got {list(names)!r}")
        names = tuple(names)
    return Arguments(values, None, names)


def by_keyword(func: Callable, keywords: Sequence[str]) -> Callable:
    """``func`` called with keyword arguments, as a function of positional ones."""
    keys = tuple(keywords)

    def call(*values):
        return func(**dict(zip(keys, values)))

    call.__qualname__ = getattr(func, "__qualname__", "func")
    return call
