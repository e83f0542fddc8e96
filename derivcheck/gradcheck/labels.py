"""Labels of compared values: one per kind of comparison, and labels that stack.

A label names what a row compares in the user's own names (``dloss/dx[1]``, ``w1 . J u2``); a
narrower check of the same value stacks its own words on the label it narrows (``block 0:4 of
grad . u1``), so a row found by bisection still says which check it came from.
"""

from __future__ import annotations

from dataclasses import dataclass

from derivcheck.flat_index import Layout


@dataclass(frozen=True)
class Labels:
    """The labels of one function's rows: its inputs and outputs by name, ``m`` outputs in all."""

    inputs: Layout
    outputs: Layout
    m: int

    def entry(self, i: int, j: int) -> str:
        """A Jacobian entry: ``dout/dx[j]`` (``dout[i]/dx[j]`` for several outputs)."""
        out = self.outputs.label(i) if self.m > 1 else self.outputs.names[0]
        return f"d{out}/d{self.inputs.label(j)}"

    def hessian(self, j: int, k: int) -> str:
        """A second derivative of the output (of ``w . out`` for several outputs)."""
        out = "(w . out)" if self.m > 1 else self.outputs.names[0]
        return f"d2{out}/d{self.inputs.label(j)}d{self.inputs.label(k)}"

    def direction(self, c: int, d: int) -> str:
        """A directional check: ``grad . u{d}``, or ``w{c} . J u{d}`` for several outputs."""
        return f"grad . u{d + 1}" if self.m == 1 else f"w{c + 1} . J u{d + 1}"

    def jvp(self, d: int, i: int) -> str:
        """One output of a Jacobian-vector product: ``(J u{d})[out]`` (``J u{d}`` for one output)."""
        return f"(J u{d + 1})[{self.outputs.label(i)}]" if self.m > 1 else f"J u{d + 1}"

    def contracted(self, c: int, j: int) -> str:
        """One input entry of a cotangent's vector-Jacobian product: ``(w{c} . J)[x[j]]``."""
        return f"(w{c + 1} . J)[{self.inputs.label(j)}]"

    def outputs_of(self, j: int) -> str:
        """A block of outputs of one input entry (bisected over the outputs)."""
        return f"outputs block of input {self.inputs.label(j)}"


def hvp(d: int) -> str:
    """A second-order directional check ``v . H u`` along the ``d``-th pair of directions."""
    return f"v{d + 1} . H u{d + 1}"


def block(start: int, stop: int, of: str) -> str:
    """The check ``of`` restricted to the entries ``start:stop``: the label stacks on ``of``.

    Examples
    --------
    >>> block(0, 4, block(0, 16, "grad . u1"))
    'block 0:4 of block 0:16 of grad . u1'
    """
    return f"block {start}:{stop} of {of}"


#: the row that asks whether a matrix input's gradient is its reference transposed
TRANSPOSE_TEST = "transpose test"
