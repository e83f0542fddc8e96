"""Claim keys in the books' notation: ``"d/dx"``, ``"d2/dx2"``, ``"d3/dx2dy"``, ``"dJ/du"``.

A key is ``d[order][numerator]/d<name>[power]d<name>[power]...``. The order of differentiation is
Leibniz's, as the key reads: ``"d2/dxdy"`` is d/dx (df/dy), the rightmost variable first
(Stewart's f_yx). The numerator is the case's function (its ``name``, ``f`` by default, or left
out), a ``let`` intermediate, or the dependent variable of an implicit case; each name of the
denominator is a variable or a ``let`` intermediate.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from derivcheck.cases.quoting import _q, nearest

#: the highest order a claim or ``order`` may ask for
MAX_ORDER = 4

_KEY = re.compile(r"^d(?P<order>[0-9]*)(?P<numerator>[^/]*)/(?P<denominator>.+)$")
_POWER = re.compile(r"[0-9]+")


class KeyError_(ValueError):
    """A key that looks like Leibniz notation but does not read over this case's names."""


@dataclass(frozen=True)
class LeibnizKey:
    """A parsed key: the numerator's name ('' for the function) and the names differentiated by,
    in the order written (the leftmost is applied last)."""

    key: str
    numerator: str
    denominator: tuple[str, ...]

    @property
    def order(self) -> int:
        return len(self.denominator)


def looks_like_leibniz(key: str) -> bool:
    """Whether ``key`` has the shape ``d.../d...`` (so that errors can speak of the notation)."""
    return _KEY.match(key) is not None


def parse_key(key: str, names: Sequence[str]) -> LeibnizKey:
    """Read ``key`` over the case's differentiable ``names`` (variables and intermediates).

    Raises ``KeyError_`` with a one-line reason when it does not read.

    Examples
    --------
    >>> parse_key("d3/dx2dy", ["x", "y"]).denominator
    ('x', 'x', 'y')
    >>> parse_key("dJ/du", ["a", "u"])
    LeibnizKey(key='dJ/du', numerator='J', denominator=('u',))
    """
    match = _KEY.match(key)
    if match is None:
        raise KeyError_(f"{_q(key)} is not in Leibniz notation 'd/dx', 'd2/dxdy', 'dJ/du'")
    order_text, numerator = match.group("order"), match.group("numerator")
    order = int(order_text) if order_text else 1
    if not 1 <= order <= MAX_ORDER:
        raise KeyError_(f"order {order} in {_q(key)} is not supported (1 to {MAX_ORDER})")
    readings = {tuple(r) for r in _readings(match.group("denominator"), tuple(names))}
    fitting = [r for r in readings if len(r) == order]
    if len(fitting) == 1:
        return LeibnizKey(key, numerator, fitting[0])
    if len(fitting) > 1:
        shown = " or ".join("".join(f"d{n}" for n in r) for r in sorted(fitting))
        raise KeyError_(f"{_q(key)} is ambiguous: it reads as {shown}")
    if readings:
        got = min(len(r) for r in readings)
        raise KeyError_(f"{_q(key)} says order {order}, but its denominator has order {got}")
    single = match.group("denominator")[1:] if match.group("denominator").startswith("d") else ""
    if order == 1 and single and "d" not in single[1:]:
        raise KeyError_(f"{_q(single)} is not a variable of this case{nearest(single, list(names))}")
    raise KeyError_(
        f"cannot read {_q(key)} over this case's names {list(names)}: expected d<order><name>/d<name><power>..."
    )


def _readings(text: str, names: tuple[str, ...]) -> list[list[str]]:
    """Every way to read ``text`` as ``d<name>[power]`` repeated (names longest first)."""
    if not text:
        return [[]]
    if not text.startswith("d"):
        return []
    out: list[list[str]] = []
    rest = text[1:]
    for name in sorted(names, key=len, reverse=True):
        if not rest.startswith(name):
            continue
        after = rest[len(name):]
        for tail in _readings(after, names):  # no power
            out.append([name, *tail])
        power = _POWER.match(after)
        if power is not None:
            count = int(power.group(0))
            if 2 <= count <= MAX_ORDER:
                for tail in _readings(after[power.end():], names):
                    out.append([name] * count + tail)
        if len(out) > 64:  # a hostile key cannot make this explode
            break
    return out


def leibniz_label(numerator: str, denominator: Sequence[str]) -> str:
    """``d3f/dx2dy``: the derivative's name as the books write it, powers collapsed."""
    parts: list[str] = []
    for name in denominator:
        if parts and parts[-1][0] == name:
            parts[-1] = (name, parts[-1][1] + 1)  # type: ignore[assignment]
        else:
            parts.append((name, 1))  # type: ignore[arg-type]
    den = "".join(f"d{n}{p if p > 1 else ''}" for n, p in parts)  # type: ignore[misc]
    order = len(denominator)
    return f"d{order if order > 1 else ''}{numerator}/{den}"
