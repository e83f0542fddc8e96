"""Forward-mode differentiation over the written tree, right everywhere but where told otherwise.

A ``Walk`` holds the values of every node at one point (in one backend) and pushes tangents
through the tree: a tangent has the node's shape with one leading axis, one row per seed (the
direction being differentiated along). At the nodes in ``mistakes`` the local rule is replaced
by a wrong one (``catalogue``); only those nodes and the nodes above them are recomputed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np
import sympy

from derivcheck.mistakes.backends import Backend
from derivcheck.mistakes.tree import Tree, Unsupported

if TYPE_CHECKING:
    from derivcheck.mistakes.tree import Node

class Rule(Protocol):
    def tangent(self, walk: Walk, node: Node, tans: Sequence[np.ndarray | None]) -> np.ndarray | None: ...


def unary_derivative(B: Backend, name: str, u: np.ndarray) -> np.ndarray:
    """f'(u) for the case language's element-wise functions."""
    f = B.call
    if name == "sin":
        return f("cos", u)
    if name == "cos":
        return -f("sin", u)
    if name == "tan":
        return 1 + f("tan", u) ** 2
    if name == "asin":
        return 1 / f("sqrt", 1 - u * u)
    if name == "acos":
        return -1 / f("sqrt", 1 - u * u)
    if name == "atan":
        return 1 / (1 + u * u)
    if name == "sinh":
        return f("cosh", u)
    if name == "cosh":
        return f("sinh", u)
    if name == "tanh":
        return 1 - f("tanh", u) ** 2
    if name == "asinh":
        return 1 / f("sqrt", u * u + 1)
    if name == "acosh":
        return 1 / f("sqrt", u * u - 1)
    if name == "atanh":
        return 1 / (1 - u * u)
    if name == "exp":
        return f("exp", u)
    if name == "log":
        return 1 / u
    if name == "sqrt":
        return 1 / (2 * f("sqrt", u))
    if name == "abs":
        return B.sign(u)
    if name == "erf":
        return 2 / f("sqrt", B.const(_PI)) * f("exp", -u * u)
    if name == "sigmoid":
        s = f("sigmoid", u)
        return s * (1 - s)
    if name == "softplus":
        return f("sigmoid", u)
    if name == "relu":
        return B.step(u)
    if name == "heaviside":
        return u * 0
    raise Unsupported(name)


_PI = sympy.pi


class Walk:
    """Values of every node at one point, and tangents pushed through them."""

    def __init__(self, tree: Tree, backend: Backend, point: Sequence[object], seeds: Sequence[Sequence[object]]) -> None:
        self.tree, self.B = tree, backend
        self.K = len(seeds)
        B = backend
        seed_array = np.stack([B.const(np.array(list(s), dtype=object)) for s in seeds]) if seeds else None
        self.seeds = seed_array
        self.seed_index = _coordinates(seeds)
        self.point = B.const(np.array(list(point), dtype=object))
        self.var_values: dict[str, np.ndarray] = {}
        self.var_seeds: dict[str, np.ndarray] = {}
        offset = 0
        for var in tree.variables:
            size = var.size
            self.var_values[var.name] = self.point[offset:offset + size].reshape(var.shape)
            if seed_array is not None:
                self.var_seeds[var.name] = seed_array[:, offset:offset + size].reshape((self.K, *var.shape))
            offset += size
        self.values: list[np.ndarray] = []
        for node in tree.nodes:
            self.values.append(np.asarray(self._value(node), dtype=backend.dtype))

    def seed_coordinates(self) -> np.ndarray | None:
        """The coordinate each seed differentiates along (x_j for the seed e_j), or None."""
        if self.seeds is None or self.seed_index is None:
            return None
        return np.asarray(self.point[list(self.seed_index)], dtype=self.B.dtype)

    # values ------------------------------------------------------------------------------
    def _value(self, node: Node) -> np.ndarray:
        B, v = self.B, [self.values[c] for c in node.children]
        k = node.kind
        if k == "var":
            return self.var_values[node.name]
        if k == "const":
            return B.const(node.value)
        if k == "add":
            return v[0] + v[1]
        if k == "sub":
            return v[0] - v[1]
        if k == "mul":
            return v[0] * v[1]
        if k == "div":
            return v[0] / v[1]
        if k == "pow":
            return v[0] ** v[1]
        if k == "neg":
            return -v[0]
        if k == "matmul":
            return np.asarray(np.matmul(v[0], v[1]), dtype=B.dtype)
        if k == "dot":
            if v[0].ndim == 1 and v[1].ndim == 1:
                return np.asarray(np.sum(v[0] * v[1]), dtype=B.dtype)
            return np.asarray(np.matmul(v[0], v[1]), dtype=B.dtype)
        if k == "T":
            return v[0].T
        if k == "index":
            return np.asarray(v[0][node.index], dtype=B.dtype)
        if k == "list":
            return np.stack(np.broadcast_arrays(*v)) if len({x.shape for x in v}) == 1 else _ragged()
        if k == "call":
            return self._call(node.name, v)
        raise Unsupported(k)

    def _call(self, name: str, v: list[np.ndarray]) -> np.ndarray:
        B = self.B
        if name == "logb":
            return B.call("log", v[0]) / B.call("log", v[1])
        if name == "sum":
            return np.asarray(np.sum(v[0]), dtype=B.dtype)
        if name == "mean":
            return np.asarray(np.sum(v[0]) / v[0].size, dtype=B.dtype)
        if name == "norm":
            return B.call("sqrt", np.asarray(np.sum(v[0] * v[0]), dtype=B.dtype))
        if name == "logsumexp":
            return B.call("log", np.asarray(np.sum(B.call("exp", v[0])), dtype=B.dtype))
        if name == "softmax":
            if v[0].ndim == 0:
                return B.const(1) + v[0] * 0
            e = B.call("exp", v[0])
            return e / np.sum(e, axis=-1, keepdims=True)
        return B.call(name, *v)

    # tangents ----------------------------------------------------------------------------
    def tangents(self, mistakes: Mapping[int, Rule] | None = None,
                 base: Sequence[np.ndarray | None] | None = None) -> list[np.ndarray | None]:
        """Every node's tangent; with ``base`` (the right tangents) only what the mistakes change."""
        mistakes = mistakes or {}
        tree = self.tree
        if base is not None and mistakes:
            dirty = 0
            for m in mistakes:
                dirty |= (1 << m) | tree.uses[m]
            tans = list(base)
            order = [n for n in tree.nodes if dirty >> n.id & 1]
        else:
            tans = [None] * len(tree.nodes)
            order = tree.nodes
        for node in order:
            rule = mistakes.get(node.id)
            t = rule.tangent(self, node, tans) if rule is not None else self.local(node, tans)
            tans[node.id] = None if t is None else np.asarray(t, dtype=self.B.dtype)
        return tans

    def outputs(self, tans: Sequence[np.ndarray | None]) -> np.ndarray:
        """The tangents of the outputs, shape (K, m)."""
        columns = []
        for root in self.tree.roots:
            t = tans[root]
            size = self.values[root].size
            columns.append(self.zeros((self.K, size)) if t is None else np.asarray(t).reshape(self.K, size))
        return np.concatenate(columns, axis=1)

    def zeros(self, shape: tuple[int, ...]) -> np.ndarray:
        return np.zeros(shape, dtype=self.B.dtype) if self.B.dtype is not object else \
            np.asarray(self.B.const(0) + np.zeros(shape, dtype=object), dtype=object)

    def full(self, t: np.ndarray | None, node: int) -> np.ndarray | None:
        """A tangent broadcast to (K, *shape of the node)."""
        if t is None:
            return None
        shape = (self.K, *self.values[node].shape)
        t = self.lift(t, len(shape) - 1)
        return np.broadcast_to(t, shape)

    def lift(self, t: np.ndarray, rank: int) -> np.ndarray:
        """Insert axes after the seed axis so that ``t`` broadcasts against a value of ``rank``."""
        extra = rank - (t.ndim - 1)
        return t.reshape((t.shape[0], *(1,) * extra, *t.shape[1:])) if extra > 0 else t

    def d(self, node: Node, tans: Sequence[np.ndarray | None], i: int) -> np.ndarray | None:
        """The tangent of the node's i-th operand, lifted to the node's rank."""
        t = tans[node.children[i]]
        return None if t is None else self.lift(t, self.values[node.id].ndim)

    def matmul_tangent(self, a: np.ndarray, b: np.ndarray, batched_left: bool) -> np.ndarray:
        """a @ b where one side carries the seed axis."""
        if batched_left:
            return np.asarray(np.matmul(a, b), dtype=self.B.dtype)
        if b.ndim == 2:  # a (value) @ b (tangent of a vector): rows of b are the seeds
            return np.asarray(np.matmul(b, a.T), dtype=self.B.dtype)
        return np.asarray(np.matmul(a, b), dtype=self.B.dtype)

    def local(self, node: Node, tans: Sequence[np.ndarray | None]) -> np.ndarray | None:
        """The right local rule."""
        k = node.kind
        if k == "var":
            return self.var_seeds[node.name]
        if k == "const":
            return None
        v = [self.values[c] for c in node.children]
        da = self.d(node, tans, 0) if node.children else None
        db = self.d(node, tans, 1) if len(node.children) > 1 else None
        if k in ("add", "sub"):
            if db is not None and k == "sub":
                db = -db
            return self.full(_plus(da, db), node.id)
        if k == "neg":
            return None if da is None else -da
        if k == "mul":
            return self.full(_plus(None if da is None else da * v[1], None if db is None else v[0] * db), node.id)
        if k == "div":
            return self.full(_plus(None if da is None else da / v[1],
                                   None if db is None else -(v[0] * db) / (v[1] * v[1])), node.id)
        if k == "pow":
            return self.full(self.power_rule(v[0], v[1], da, db), node.id)
        if k in ("matmul", "dot"):
            return self.product_tangent(node, tans)
        if k == "T":
            t = tans[node.children[0]]
            return None if t is None else np.transpose(t, (0, *reversed(range(1, t.ndim))))
        if k == "index":
            t = tans[node.children[0]]
            index = node.index if isinstance(node.index, tuple) else (node.index,)
            return None if t is None else np.asarray(t[(slice(None), *index)])
        if k == "list":
            ts = [tans[c] for c in node.children]
            if all(t is None for t in ts):
                return None
            shape = (self.K, *self.values[node.children[0]].shape)
            ts = [self.zeros(shape) if t is None else np.broadcast_to(t, shape) for t in ts]
            return np.stack(ts, axis=1)
        if k == "call":
            return self.call_tangent(node, tans)
        raise Unsupported(k)

    def power_rule(self, a: np.ndarray, b: np.ndarray, da: np.ndarray | None, db: np.ndarray | None) -> np.ndarray | None:
        if da is None and db is None:
            return None
        if db is None:
            return b * a ** (b - 1) * da
        log_a = self.B.call("log", a)
        if da is None:
            return a ** b * log_a * db
        return a ** b * (db * log_a + b * da / a)

    def product_tangent(self, node: Node, tans: Sequence[np.ndarray | None], *, left: bool = True,
                        right: bool = True) -> np.ndarray | None:
        """d(a @ b) = a' @ b + a @ b' (or dot), either term optionally left out."""
        a, b = (self.values[c] for c in node.children)
        ta, tb = (tans[c] for c in node.children)
        terms = []
        if left and ta is not None:
            terms.append(self.bilinear(node, ta, b, True))
        if right and tb is not None:
            terms.append(self.bilinear(node, a, tb, False))
        return _plus(*terms) if terms else None

    def bilinear(self, node: Node, a: np.ndarray, b: np.ndarray, batched_left: bool) -> np.ndarray:
        if node.kind == "dot":
            va, vb = (self.values[c] for c in node.children)
            if va.ndim == 1 and vb.ndim == 1:
                return np.asarray(np.sum(a * b, axis=-1), dtype=self.B.dtype)
        return self.matmul_tangent(a, b, batched_left)

    def call_tangent(self, node: Node, tans: Sequence[np.ndarray | None]) -> np.ndarray | None:
        B, name = self.B, node.name
        v = [self.values[c] for c in node.children]
        t = tans[node.children[0]]
        if name in ("sum", "mean", "norm", "logsumexp", "softmax"):
            if t is None:
                return None
            flat = t.reshape(self.K, -1)
            if name == "sum":
                return np.asarray(np.sum(flat, axis=1), dtype=B.dtype)
            if name == "mean":
                return np.asarray(np.sum(flat, axis=1) / v[0].size, dtype=B.dtype)
            if name == "norm":
                return np.asarray(np.sum(flat * v[0].reshape(-1), axis=1) / self.values[node.id], dtype=B.dtype)
            if name == "logsumexp":
                weights = B.call("exp", v[0] - self.values[node.id]).reshape(-1)
                return np.asarray(np.sum(flat * weights, axis=1), dtype=B.dtype)
            s = self.values[node.id]
            if s.ndim == 0:
                return None
            return s * (t - np.sum(s * t, axis=-1, keepdims=True))
        da = self.d(node, tans, 0)
        if name in ("logb", "atan2", "max", "min"):
            db = self.d(node, tans, 1)
            a, b = v
            if name == "logb":
                la, lb = B.call("log", a), B.call("log", b)
                return self.full(_plus(None if da is None else da / (a * lb),
                                       None if db is None else -la * db / (b * lb * lb)), node.id)
            if name == "atan2":  # atan2(y, x)
                r = a * a + b * b
                return self.full(_plus(None if da is None else b * da / r,
                                       None if db is None else -(a * db) / r), node.id)
            first = B.step(a - b) if name == "max" else B.step(b - a)
            return self.full(_plus(None if da is None else first * da,
                                   None if db is None else (1 - first) * db), node.id)
        if da is None:
            return None
        return unary_derivative(B, name, v[0]) * da


def _plus(*terms: np.ndarray | None) -> np.ndarray | None:
    present = [t for t in terms if t is not None]
    if not present:
        return None
    total = present[0]
    for t in present[1:]:
        total = total + t
    return total


def _ragged() -> np.ndarray:
    raise Unsupported("list items of different shapes")


def _coordinates(seeds: Sequence[Sequence[object]]) -> tuple[int, ...] | None:
    """j for each seed that is the unit vector e_j; None when one is not."""
    found = []
    for seed in seeds:
        ones = [j for j, c in enumerate(seed) if c != 0]
        if len(ones) != 1 or seed[ones[0]] != 1:
            return None
        found.append(ones[0])
    return tuple(found)
