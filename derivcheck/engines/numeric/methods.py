"""How a numeric estimate was made: one typed value per method, its text the label users read.

``Method`` is a ``StrEnum``: a member *is* its label (``"complex-step"``), so tables, messages,
JSON and a result's ``method`` field read exactly as before, while code that decides something
from the method tests membership (``Method.COMPLEX_STEP in Method.within(row.method)``) instead
of searching text.
"""

from __future__ import annotations

import enum

import numpy as np


class Method(enum.StrEnum):
    """One way of estimating a derivative numerically."""

    COMPLEX_STEP = "complex-step"
    CENTRAL = "central-richardson"
    FORWARD = "forward-richardson"
    BACKWARD = "backward-richardson"
    QUICK = "central-one-step"  # check_grad's first estimate: one central difference
    PAIR = "central-two-steps"  # the first estimate and one at twice its step, Richardson-combined
    SHRINKING = "central-shrinking"  # the shrinking search for what the first estimate did not settle
    UNREFINED = "central-one-step (unrefined: budget)"  # a first estimate the budget left unrefined
    NONE = "none"  # no finite estimate

    @classmethod
    def within(cls, text: str | None) -> frozenset[Method]:
        """The methods a row's method text names (a contracted value joins several with ``", "``);
        text that names no numeric method (``"float64 autograd of the same code"``) gives none.

        Examples
        --------
        >>> sorted(Method.within("central-richardson, complex-step"))
        [<Method.CENTRAL: 'central-richardson'>, <Method.COMPLEX_STEP: 'complex-step'>]
        >>> Method.within(None)
        frozenset()
        """
        if not text:
            return frozenset()
        known = {m.value: m for m in cls}
        return frozenset(known[part] for part in text.split(", ") if part in known)


#: the methods of a first estimate that nothing refined yet
FIRST_ESTIMATES = frozenset({Method.QUICK, Method.NONE})


def labelled(ok: np.ndarray, method: Method) -> np.ndarray:
    """An object array of ``method`` where ``ok``, ``Method.NONE`` elsewhere (members, not NumPy strings)."""
    return np.where(ok, np.array(method, dtype=object), np.array(Method.NONE, dtype=object))
