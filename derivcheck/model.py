"""The typed values that cross module boundaries: a loaded case and what it asks for."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from derivcheck.flat_index import Layout, Slot

if TYPE_CHECKING:  # SymPy costs 1.5 s to import: check_grad on a torch function never needs it
    import sympy


class Expect(enum.Enum):
    """What a case's author expects the run to find."""

    PASS = "pass"
    MISMATCH = "mismatch"  # a claim is known to be wrong; the run passes when it is caught
    NOT_DIFFERENTIABLE = "not-differentiable"  # a point sits on a kink


class Quantity(enum.Enum):
    """The derivative quantities an engine can produce for one point.

    Index conventions (``m`` outputs, ``n`` scalar inputs): JACOBIAN ``(i, j)`` is d out_i / d in_j
    (for a scalar function, the gradient: ``(0, j)``); HESSIAN ``(i, j, k)``; DIRECTIONAL
    ``(d, i)`` along the d-th unit direction; JVP ``(t, i)`` for the t-th tangent; VJP ``(c, j)``
    for the c-th cotangent.
    """

    JACOBIAN = "jacobian"
    HESSIAN = "hessian"
    DIRECTIONAL = "directional"
    JVP = "jvp"
    VJP = "vjp"
    #: a derivative named in Leibniz notation that the Jacobian and Hessian do not hold (order 3
    #: or 4, or at a node of the graph): ``(p, i, d)`` is output i of ``Case.partials[p]`` by its
    #: d-th denominator entry
    PARTIAL = "partial"
    #: quantities built from the Jacobian or Hessian, index ``(0,)`` or ``(j,)`` for a vector:
    DET = "det"  # determinant of a square Jacobian
    MAX_RATE = "max_rate"  # |grad f|, the largest directional derivative
    MAX_DIRECTION = "max_direction"  # grad f / |grad f|, the direction of steepest ascent
    LAPLACIAN = "laplacian"  # the trace of the Hessian
    DIVERGENCE = "divergence"  # the trace of a square Jacobian
    CURL = "curl"  # of a 3-D vector field
    #: the dependent variable of an implicit case by its d-th sequence (``Implicit.sequences``): ``(d,)``
    IMPLICIT = "implicit"


@dataclass(frozen=True)
class Variable:
    """One declared variable: ``x`` (scalar), ``x[3]`` (vector) or ``w[2,3]`` (matrix)."""

    name: str
    shape: tuple[int, ...]
    symbols: tuple[sympy.Symbol, ...]  # flattened in C order

    @property
    def size(self) -> int:
        return len(self.symbols)

    @classmethod
    def declare(cls, name: str, shape: tuple[int, ...] = ()) -> "Variable":
        """A variable with real symbols; array entries are named like ``w[0,1]``."""
        return cls(name, shape, entry_symbols(name, shape))

    def value(self) -> object:
        """The variable as the parser sees it: its symbol, or an object array of them."""
        if not self.shape:
            return self.symbols[0]
        array = np.empty(len(self.symbols), dtype=object)
        array[:] = self.symbols
        return array.reshape(self.shape)


def entry_symbols(name: str, shape: tuple[int, ...]) -> tuple[sympy.Symbol, ...]:
    """Real symbols for a named scalar or for every entry of a named array, in C order."""
    import sympy

    return tuple(sympy.Symbol(label, real=True) for label in Slot(name, tuple(shape)).labels(sep=","))


@dataclass(frozen=True)
class ClaimEntry:
    """One scalar an author claims: the quantity, its index, and the claimed expression."""

    key: str  # the claim's key in the file, e.g. "grad", "d/da", "jvp"
    quantity: Quantity
    index: tuple[int, ...]
    expr: sympy.Expr
    text: str  # what the file said for this entry (or for the whole claim)


@dataclass(frozen=True, eq=False)
class Partial:
    """A derivative named in Leibniz notation beyond the Jacobian and Hessian: of order 3 or 4,
    or through the graph at a ``let`` intermediate ("dJ/du", "du/da").

    Its numerator's entries are functions of the case's symbols and of ``nodes``, symbols that
    stand for the denominator's intermediate (so everything downstream of it is recomputed from
    it, everything else held): the derivative is the sum over paths of products of local partials.
    """

    key: str  # as written in the file
    outputs: tuple[sympy.Expr, ...]  # the numerator, flattened
    nodes: tuple[sympy.Symbol, ...]  # the intermediate's entries as free symbols (may be empty)
    node_values: tuple[sympy.Expr, ...]  # what each node equals, in the case's symbols
    wrt: tuple[tuple[int, ...], ...]  # per denominator entry: indices into symbols + nodes, as written
    labels: tuple[tuple[str, ...], ...]  # [output][denominator entry]


@dataclass(frozen=True, eq=False)
class Implicit:
    """A curve or surface F = 0 that defines one variable (``dependent``) by the others.

    Its derivatives follow from the total derivative D_j g = g_j + g_y y_j with y_j = -F_j / F_y,
    applied in Leibniz order (the rightmost variable first).
    """

    text: str
    function: sympy.Expr  # F
    dependent: int  # index of the dependent variable among the case's symbols
    sequences: tuple[tuple[int, ...], ...]  # each derivative asked: independent indices, as written
    labels: tuple[str, ...]


@dataclass(frozen=True)
class Descent:
    """Gradient descent a teacher wants shown: w <- w - rate * grad f(w)."""

    rate: sympy.Expr
    start: tuple[sympy.Expr, ...]
    steps: int


@dataclass(frozen=True, eq=False)
class Case:
    """A validated case: every expression parsed, every point exact, every shape checked."""

    id: str
    path: Path
    title: str | None
    variables: tuple[Variable, ...]
    lets: tuple[tuple[str, str], ...]  # (name, text) in dependency order
    data: Mapping[str, object]  # name -> SymPy number or object array
    f_text: str | tuple[str, ...]
    outputs: tuple[sympy.Expr, ...]  # flattened, intermediates substituted
    scalar: bool  # a gradient problem (one output) rather than a Jacobian problem
    points: tuple[tuple[sympy.Expr, ...], ...]  # exact coordinates, flattened like the inputs
    sampled: int  # how many of the points (the last ones) were sampled
    directions: tuple[tuple[sympy.Expr, ...], ...]  # exact unit vectors
    tangents: tuple[tuple[sympy.Expr, ...], ...]
    cotangents: tuple[tuple[sympy.Expr, ...], ...]
    order: int
    expect: Expect
    claims: tuple[ClaimEntry, ...]
    descent: Descent | None
    names: Mapping[str, object] = field(repr=False)  # vars, data and lets, for later parsing
    partials: tuple[Partial, ...] = ()  # higher-order and node derivatives, claimed or asked by order
    name: str = "f"  # what the numerator of a claim key may call the function
    implicit: Implicit | None = None  # a case given by F = 0 rather than by f

    @property
    def symbols(self) -> tuple[sympy.Symbol, ...]:
        return tuple(s for v in self.variables for s in v.symbols)

    @property
    def input_labels(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.symbols)

    @property
    def n_inputs(self) -> int:
        return sum(v.size for v in self.variables)

    @property
    def layout(self) -> Layout:
        """The variables laid end to end, as the points and the Jacobian's columns flatten them."""
        return Layout.consecutive(tuple(v.name for v in self.variables), tuple(v.shape for v in self.variables))

    @property
    def n_outputs(self) -> int:
        return len(self.outputs)
