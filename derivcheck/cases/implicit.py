"""Implicit cases: ``implicit = "x**2 + y**2 - 25"`` with ``dependent = "y"``.

The case's function is F itself (its gradient is checked as any other), every point must lie on
F = 0 (within the rounding of its coordinates), and claims on the dependent variable ("dy/dx",
"d2y/dx2") are derivatives along the curve.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sympy

from derivcheck.cases.leibniz import LeibnizKey, leibniz_label
from derivcheck.cases.quoting import _q, nearest
from derivcheck.engines import exact as symbolic
from derivcheck.engines.rounding import term_size
from derivcheck.errors import EvaluationError
from derivcheck.language.constants import to_float
from derivcheck.language.parser import is_array
from derivcheck.model import ClaimEntry, Implicit, Quantity

#: a point is on F = 0 when |F| is below this times the size of F's terms there
ON_CURVE_RTOL = 1e-12


class ImplicitReader:
    """What the loader learns of an implicit case, and the derivatives its claims ask for."""

    def __init__(self, text: str, function: sympy.Expr, dependent: str, index: int, symbols: list[sympy.Symbol]) -> None:
        self.text, self.function, self.dependent, self.index = text, function, dependent, index
        self.symbols = symbols
        self.sequences: list[tuple[int, ...]] = []
        self.labels: list[str] = []

    @property
    def function_triple(self) -> tuple[str, tuple[sympy.Expr, ...], bool]:
        return self.text, (self.function,), True

    def sequence(self, names: tuple[str, ...]) -> int:
        """The index of a derivative of the dependent variable, added once."""
        by_name = {s.name: j for j, s in enumerate(self.symbols)}
        seq = tuple(by_name[n] for n in names)
        if seq not in self.sequences:
            self.sequences.append(seq)
            self.labels.append(leibniz_label(self.dependent, names))
        return self.sequences.index(seq)

    def model(self) -> Implicit:
        if not self.sequences:  # the first derivatives along the curve are always checked
            for j, s in enumerate(self.symbols):
                if j != self.index:
                    self.sequence((s.name,))
        return Implicit(self.text, self.function, self.index, tuple(self.sequences), tuple(self.labels))

    def check_points(self, builder: Any, points: tuple) -> None:
        for k, point in enumerate(points):
            subs = symbolic.substitution(self.symbols, point)
            try:
                value = symbolic.evaluate(self.function, subs)
            except EvaluationError as exc:
                raise builder.error("implicit", f"F at point {k + 1}: {exc}") from None
            size = term_size(self.function, {s: to_float(c) for s, c in zip(self.symbols, point)})
            if abs(value) > ON_CURVE_RTOL * max(size, 1e-300):
                raise builder.error("at", f"point {k + 1} is not on F = 0: F = {float(value):.6g} there")
            slope = sympy.diff(self.function, self.symbols[self.index])
            try:
                zero = symbolic.evaluate(slope, subs) == 0
            except EvaluationError:
                zero = True
            if zero:
                raise builder.error("at", f"at point {k + 1} dF/d{self.dependent} = 0: F = 0 does not define "
                                          f"{self.dependent} as a function of the others there")


def read_implicit(builder: Any, names: Mapping[str, object]) -> ImplicitReader | None:
    """The implicit function of a case, or None; ``f`` and ``implicit`` exclude each other."""
    table = builder.table
    if "implicit" not in table and "dependent" not in table:
        return None
    if "f" in table:
        raise builder.error("implicit", "a case has either 'f' or 'implicit' (with 'dependent'), not both")
    text, dependent = table.get("implicit"), table.get("dependent")
    if not isinstance(text, str):
        raise builder.error("implicit", f"must be an expression F (the case is F = 0), got {_q(text)}")
    scalars = {v.name: v for v in builder.variables if not v.shape}
    if not isinstance(dependent, str) or dependent not in scalars:
        raise builder.error("dependent", f"must name a scalar variable of this case, got {_q(dependent)}"
                                         f"{nearest(str(dependent), list(scalars))}")
    if len(scalars) != len(builder.variables) or len(scalars) < 2:
        raise builder.error("vars", "an implicit case has scalar variables, two or more")
    value = builder.parse("implicit", text, names)
    if is_array(value):
        raise builder.error("implicit", f"F must be scalar, {_q(text)} is an array")
    symbols = [s for v in builder.variables for s in v.symbols]
    index = [v.name for v in builder.variables].index(dependent)
    if symbols[index] not in value.free_symbols:  # type: ignore[union-attr]
        raise builder.error("implicit", f"F does not involve the dependent variable {dependent!r}")
    builder.f_shape = ()
    return ImplicitReader(text, sympy.sympify(value), dependent, index, symbols)


def implicit_claims(reader: Any, parsed: LeibnizKey) -> list[ClaimEntry]:
    """Claims on the dependent variable: each names independent variables only."""
    implicit = reader.builder.implicit
    if implicit.dependent in parsed.denominator:
        raise reader.error(f"a derivative of {implicit.dependent!r} is by the other variables")
    lets = [n for n in parsed.denominator if n in reader.shape.lets]
    if lets:
        raise reader.error(f"implicit derivatives are by variables, not intermediates {lets}")
    index = implicit.sequence(parsed.denominator)
    array = reader._array(reader.value, ())
    return [ClaimEntry(reader.key, Quantity.IMPLICIT, (index,), array.item(), reader.value if isinstance(reader.value, str) else repr(reader.value))]
