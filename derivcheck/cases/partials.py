"""Derivatives named in Leibniz notation beyond the Jacobian and Hessian: ``Partial`` values.

Two kinds share one shape. A higher-order partial ("d3/dx2dy") differentiates the function
several times. A partial at a node of the graph ("dJ/du", "du/dv", "dv/db") differentiates a
``let`` intermediate or the function by a variable or by another intermediate. For an
intermediate in the denominator, the ``let`` chain is read again with that intermediate as a free
symbol (a *node*): whatever is computed from it is recomputed from the node, everything else is
held, and the derivative by the node is the sum over all paths of the products of the local
partials, as backpropagation computes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import numpy as np
import sympy

from derivcheck.cases.leibniz import LeibnizKey, leibniz_label
from derivcheck.cases.quoting import _q
from derivcheck.errors import CaseError
from derivcheck.flat_index import Slot
from derivcheck.language.parser import is_array, shape_of
from derivcheck.model import Partial, Variable, entry_symbols

#: a partial's numerator times its denominator, entries at most
MAX_PARTIAL_ENTRIES = 10_000


class _Builder(Protocol):
    variables: tuple[Variable, ...]
    names: dict[str, object]
    lets: tuple[tuple[str, str], ...]
    outputs: tuple[sympy.Expr, ...]
    fname: str
    f_shape: tuple[int, ...]

    def error(self, field: str | None, message: str) -> CaseError: ...

    def parse(self, field: str, text: object, names: Mapping[str, object]) -> object: ...

    def _function(self, names: Mapping[str, object]) -> tuple[object, tuple[sympy.Expr, ...], bool]: ...


def build_partial(builder: _Builder, field: str, key: LeibnizKey) -> tuple[Partial, tuple[int, ...]]:
    """The ``Partial`` a key names, and the shape its claim must have (numerator's, then denominator's).

    Denominator names are variables, intermediates, or entry labels such as ``w[0,1]``.
    """
    symbols = [s for v in builder.variables for s in v.symbols]
    var_names = {v.name: v for v in builder.variables}
    let_names = [name for name, _ in builder.lets]
    numerator = key.numerator or builder.fname
    intermediates = list(dict.fromkeys(d for d in key.denominator if d in let_names))
    if len(intermediates) > 1:
        raise builder.error(field, f"a denominator may name one intermediate, got {intermediates}")
    names: Mapping[str, object] = builder.names
    nodes: tuple[sympy.Symbol, ...] = ()
    node_values: tuple[sympy.Expr, ...] = ()
    if intermediates:
        node_name = intermediates[0]
        value = builder.names[node_name]
        nodes = entry_symbols(node_name, shape_of(value))  # type: ignore[arg-type]
        node_values = tuple(value.flat) if is_array(value) else (value,)  # type: ignore[union-attr]
        names = _names_with_node(builder, node_name, nodes, shape_of(value))  # type: ignore[arg-type]
    if numerator == builder.fname:
        outputs = builder._function(names)[1] if nodes else builder.outputs
        num_shape = builder.f_shape
    elif numerator in let_names:
        value = names[numerator]
        outputs = tuple(sympy.sympify(v) for v in value.flat) if is_array(value) else (sympy.sympify(value),)  # type: ignore[union-attr]
        num_shape = shape_of(value)  # type: ignore[arg-type]
    else:
        choices = [builder.fname, *let_names]
        raise builder.error(field, f"numerator {_q(numerator)} is not the function or an intermediate; "
                                   f"names are {choices}")
    index_of = {s: j for j, s in enumerate(symbols)}
    index_of.update({s: len(symbols) + j for j, s in enumerate(nodes)})
    labels_of = {s.name: j for s, j in index_of.items()}

    def entries(name: str) -> tuple[list[int], tuple[int, ...]]:
        if name in var_names:
            var = var_names[name]
            return [index_of[s] for s in var.symbols], var.shape
        if intermediates and name == intermediates[0]:
            return [index_of[s] for s in nodes], shape_of(builder.names[name])  # type: ignore[arg-type]
        if name in labels_of:
            return [labels_of[name]], ()
        raise builder.error(field, f"{_q(name)} is not a variable or an intermediate of this case")

    if key.order == 1:
        columns, den_shape = entries(key.denominator[0])
        wrt = tuple((c,) for c in columns)
    else:
        sequence = []
        for name in key.denominator:
            columns, den_shape = entries(name)
            if len(columns) != 1:
                raise builder.error(field, f"derivatives of order {key.order} name scalars; {_q(name)} is an array")
            sequence.append(columns[0])
        wrt, den_shape = (tuple(sequence),), ()
    if len(outputs) * len(wrt) > MAX_PARTIAL_ENTRIES:
        raise builder.error(field, f"{_q(key.key)} has {len(outputs) * len(wrt)} entries; the limit is {MAX_PARTIAL_ENTRIES}")
    all_labels = [s.name for s in (*symbols, *nodes)]
    out_labels = (numerator,) if len(outputs) == 1 else Slot(numerator, num_shape or (len(outputs),)).labels(sep=",")
    labels = tuple(
        tuple(leibniz_label(out, [all_labels[j] for j in seq]) for seq in wrt) for out in out_labels
    )
    written = key.key or leibniz_label(numerator, [all_labels[j] for j in wrt[0]])
    partial = Partial(written, tuple(outputs), nodes, node_values, wrt, labels)
    return partial, (*num_shape, *den_shape)


def _names_with_node(builder: _Builder, node_name: str, nodes: tuple[sympy.Symbol, ...],
                     shape: tuple[int, ...]) -> dict[str, object]:
    """The case's names with the ``let`` chain read again, ``node_name`` a free node."""
    names: dict[str, object] = {k: v for k, v in builder.names.items() if k not in dict(builder.lets)}
    for name, text in builder.lets:
        if name == node_name:
            if shape:
                array = np.empty(len(nodes), dtype=object)
                array[:] = nodes
                names[name] = array.reshape(shape)
            else:
                names[name] = nodes[0]
        else:
            names[name] = builder.parse(f"let.{name}", text, names)
    return names
