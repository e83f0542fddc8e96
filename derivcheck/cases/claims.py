"""A case's claims and shapes: what an author asserted, validated against the case's variables.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import sympy

from derivcheck.cases.derived import DERIVED_KEYS, derived_claims
from derivcheck.cases.implicit import implicit_claims
from derivcheck.cases.leibniz import KeyError_, LeibnizKey, looks_like_leibniz, parse_key
from derivcheck.cases.quoting import _q, nearest
from derivcheck.errors import CaseError, ExpressionError
from derivcheck.language.constants import to_exact
from derivcheck.language.limits import LIMITS
from derivcheck.language.parser import is_array
from derivcheck.model import ClaimEntry, Partial, Quantity, Variable

CLAIM_KINDS = ("grad", "jacobian", "hessian", "directional", "jvp", "vjp", "det", "max_rate", "max_direction",
               "laplacian", "divergence", "curl", "d/d<var>", "d2/d<var>2", "d3/d<var>2d<var>", "dJ/du")
CLAIM_WORDS = ("grad", "jacobian", "hessian", "directional", "jvp", "vjp", *DERIVED_KEYS)


@dataclass(frozen=True)
class _CaseShape:
    variables: tuple[Variable, ...]
    m: int
    scalar: bool
    n_directions: int
    n_tangents: int
    n_cotangents: int
    order: int
    lets: tuple[str, ...] = ()
    name: str = "f"  # the function's name in claim keys ("dJ/da")
    dependent: str | None = None  # an implicit case's dependent variable ("dy/dx")

    @property
    def n(self) -> int:
        return sum(v.size for v in self.variables)

    def offset(self, name: str) -> int:
        total = 0
        for var in self.variables:
            if var.name == name:
                return total
            total += var.size
        raise KeyError(name)


class _Builder(Protocol):
    """What a claim reader needs of the case being built: errors naming the field, and parsing."""

    def error(self, field: str | None, message: str) -> CaseError: ...

    def parse(self, field: str, text: object, names: Mapping[str, object]) -> object: ...

    def partial(self, field: str, key: LeibnizKey) -> tuple[int, Partial, tuple[int, ...]]: ...


class _ClaimReader:
    """Turns one ``[case.claims]`` entry into ``ClaimEntry`` values with checked shapes."""

    def __init__(self, builder: _Builder, field: str, key: str, value: object,
                 names: Mapping[str, object], shape: _CaseShape) -> None:
        self.builder, self.field, self.key, self.value = builder, field, key, value
        self.names, self.shape = names, shape

    def error(self, message: str) -> CaseError:
        return self.builder.error(self.field, message)

    def read(self) -> list[ClaimEntry]:
        key, shape = self.key, self.shape
        var_names = [v.name for v in shape.variables]
        if key == "grad":
            if not shape.scalar:
                raise self.error("'grad' is for a scalar function; use 'jacobian'")
            return self._gradient()
        if key == "jacobian":
            array = self._array(self.value, (shape.m, shape.n))
            return self._entries(Quantity.JACOBIAN, array)
        if key == "hessian":
            want = (shape.n, shape.n) if shape.scalar else (shape.m, shape.n, shape.n)
            array = self._array(self.value, want)
            return self._entries(Quantity.HESSIAN, array.reshape(shape.m, shape.n, shape.n))
        if key in ("directional", "jvp", "vjp"):
            return self._per_vector(key)
        if key in DERIVED_KEYS:
            return derived_claims(self, key)
        if looks_like_leibniz(key):
            return self._leibniz(var_names)
        raise self.error(f"unknown claim; claims are {', '.join(CLAIM_KINDS)}{nearest(key, CLAIM_WORDS)}")

    def _leibniz(self, var_names: list[str]) -> list[ClaimEntry]:
        key, shape = self.key, self.shape
        dependent = [shape.dependent] if shape.dependent else []
        try:
            parsed = parse_key(key, [*var_names, *shape.lets])
        except KeyError_ as exc:
            raise self.error(str(exc)) from None
        numerator = parsed.numerator
        known = [shape.name, *shape.lets, *dependent]
        if numerator and numerator not in known:
            raise self.error(f"numerator {numerator!r} is not the function or an intermediate{nearest(numerator, known)}; "
                             f"names are {known}")
        if dependent and numerator == shape.dependent:
            return implicit_claims(self, parsed)
        plain = numerator in ("", shape.name) and all(d in var_names for d in parsed.denominator)
        if plain and parsed.order == 1:
            return self._first_partial(parsed.denominator[0], var_names)
        if plain and parsed.order == 2 and shape.m == 1 and not any(
                shape.variables[var_names.index(v)].shape for v in parsed.denominator):
            a, b = parsed.denominator
            expr = self._array(self.value, ())
            i, j = shape.offset(a), shape.offset(b)
            return [ClaimEntry(key, Quantity.HESSIAN, (0, i, j), expr.item(), _text(self.value))]
        index, partial, want = self.builder.partial(self.field, parsed)
        array = self._array(self.value, want).reshape(len(partial.outputs), len(partial.wrt))
        return [
            ClaimEntry(key, Quantity.PARTIAL, (index, i, d), array[i, d], _text(self.value))
            for i in range(array.shape[0]) for d in range(array.shape[1])
        ]

    def _first_partial(self, name: str, var_names: list[str]) -> list[ClaimEntry]:
        key, shape = self.key, self.shape
        var = shape.variables[var_names.index(name)]
        want = var.shape if shape.scalar else (shape.m, *var.shape)
        array = self._array(self.value, want).reshape(shape.m, var.size)
        start = shape.offset(name)
        return [
            ClaimEntry(key, Quantity.JACOBIAN, (i, start + j), array[i, j], _text(self.value))
            for i in range(shape.m) for j in range(var.size)
        ]

    def _gradient(self) -> list[ClaimEntry]:
        shape, value = self.shape, self.value
        if isinstance(value, str) or (len(shape.variables) == 1 and not isinstance(value, list)):
            array = self._array(value, (shape.n,) if len(shape.variables) > 1 else shape.variables[0].shape)
            return self._entries(Quantity.JACOBIAN, array.reshape(1, shape.n))
        if not isinstance(value, list) or len(value) != len(shape.variables):
            if len(shape.variables) == 1:
                array = self._array(value, shape.variables[0].shape)
                return self._entries(Quantity.JACOBIAN, array.reshape(1, shape.n))
            raise self.error(f"must list one entry per variable ({len(shape.variables)}), got {_q(value)}")
        flat: list[sympy.Expr] = []
        for var, item in zip(shape.variables, value):
            flat.extend(self._array(item, var.shape).flat)
        return self._entries(Quantity.JACOBIAN, np.array(flat, dtype=object).reshape(1, shape.n))

    def _per_vector(self, key: str) -> list[ClaimEntry]:
        shape = self.shape
        count = {"directional": shape.n_directions, "jvp": shape.n_tangents, "vjp": shape.n_cotangents}[key]
        source = {"directional": "directions", "jvp": "tangents", "vjp": "cotangents"}[key]
        width = shape.n if key == "vjp" else shape.m
        if not isinstance(self.value, list) or len(self.value) != count:
            raise self.error(f"must list one entry per item of '{source}' ({count}), got {_q(self.value)}")
        rows = []
        for item in self.value:
            one = width == 1 and not isinstance(item, list)
            array = self._array(item, () if one else (width,))
            rows.append(array.reshape(width))
        quantity = {"directional": Quantity.DIRECTIONAL, "jvp": Quantity.JVP, "vjp": Quantity.VJP}[key]
        return self._entries(quantity, np.array(rows, dtype=object).reshape(count, width))

    def _entries(self, quantity: Quantity, array: np.ndarray) -> list[ClaimEntry]:
        # a claim given as one text shows that text; a list shows each entry as SymPy reads it
        whole = self.value if isinstance(self.value, str) else None
        return [
            ClaimEntry(self.key, quantity, tuple(int(i) for i in index), array[index],
                       whole if whole is not None else str(array[index]))
            for index in np.ndindex(array.shape)
        ]

    def _array(self, value: object, want: tuple[int, ...]) -> np.ndarray:
        """A claim value (text, number, or nested list of them) as an object array of shape want."""
        if isinstance(value, list):
            got = _nested_shape(value)
            if got is None:
                raise self.error(f"nested lists are ragged: {_q(value)}")
            items = [self._scalar(v) for v in np.asarray(value, dtype=object).flat]
            array = np.empty(len(items), dtype=object)
            array[:] = items
            array = array.reshape(got)
        else:
            parsed = self.builder.parse(self.field, value, self.names)
            array = np.asarray(parsed, dtype=object) if is_array(parsed) else _scalar_array(parsed)
        if array.shape != want:
            if array.size == int(np.prod(want)) and array.ndim <= 1 and len(want) <= 1:
                array = array.reshape(want)
            else:
                raise self.error(f"has shape {array.shape}, expected {want}: {_q(value)}")
        return array

    def _scalar(self, value: object) -> sympy.Expr:
        parsed = self.builder.parse(self.field, value, self.names)
        if is_array(parsed):
            raise self.error(f"expected a scalar entry, {_q(value)} is an array")
        return parsed  # type: ignore[return-value]


def _scalar_array(value: object) -> np.ndarray:
    array = np.empty((), dtype=object)
    array[()] = value
    return array


def _text(value: object) -> str:
    return value if isinstance(value, str) else repr(value)


def _has_bare_number(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    if isinstance(value, list):
        return any(_has_bare_number(v) for v in value)
    return False


def _nested_shape(value: object) -> tuple[int, ...] | None:
    """Shape of nested lists, or None when ragged."""
    if not isinstance(value, list):
        return ()
    if not value:
        return None
    shapes = {_nested_shape(v) for v in value}
    if len(shapes) != 1 or None in shapes:
        return None
    return (len(value), *shapes.pop())  # type: ignore[misc]


def _constant(value: object) -> object:
    if isinstance(value, list):
        shape = _nested_shape(value)
        if shape is None:
            raise ExpressionError(f"nested lists are ragged: {_q(value)}")
        if math.prod(shape) > LIMITS.max_array_size:
            raise ExpressionError(f"an array of shape {shape} is larger than the limit of {LIMITS.max_array_size} entries")
        items = [to_exact(v) for v in np.asarray(value, dtype=object).flat]
        array = np.empty(len(items), dtype=object)
        array[:] = items
        return array.reshape(shape)
    return to_exact(value)


def _symbols_of(value: object) -> list[sympy.Symbol]:
    if isinstance(value, np.ndarray):
        return [s for s in value.flat if isinstance(s, sympy.Symbol)]
    return [value] if isinstance(value, sympy.Symbol) else []
