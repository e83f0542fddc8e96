"""The case language: text to SymPy through a whitelisting parser over Python's ``ast``.

Nothing here calls ``eval``, ``sympify`` or ``parse_expr``: the text is parsed by ``ast.parse``
and every node is checked against a whitelist before anything is built from it. Limits on
length, nesting, literal size and exponents are checked before any evaluation, so hostile text
is rejected in well under a second.

Values are SymPy scalars or NumPy object arrays of SymPy scalars; arrays follow NumPy's
element-wise semantics and broadcasting.
"""

from __future__ import annotations

import ast
import difflib
import math
import re
import warnings
from collections.abc import Callable, Mapping
from fractions import Fraction

import numpy as np
import sympy

from derivcheck.errors import ExpressionError
from derivcheck.language.control import ControlMixin, is_condition
from derivcheck.language.limits import (
    LIMITS,
    Budget,
    Limits,
    Value,
    _check_built,
    _check_characters,
    _check_shape_of_tree,
    _digits,
    _flat,
    _short,
)
from derivcheck.language.registry import BY_NAME

#: a name a case may declare (variables, ``let``, ``data``): letters, digits and ``_``, starting
#: with a letter; ``__`` is refused as well (see :func:`is_name`)
NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def is_name(text: object) -> bool:
    """Whether ``text`` may name a variable: ``NAME_RE`` and no ``__``.

    >>> is_name("w_1"), is_name("__class__"), is_name("2x")
    (True, False, False)
    """
    return isinstance(text, str) and NAME_RE.match(text) is not None and "__" not in text


CONSTANTS: Mapping[str, sympy.Expr] = {"pi": sympy.pi, "E": sympy.E}


#: element-wise functions of one and two arguments, from the registry (``log`` takes one or two
#: arguments and is the parser's own, as is ``sqrt``, which SymPy writes as a power)
ELEMENTWISE_1: Mapping[str, Callable[[sympy.Expr], sympy.Expr]] = {
    **{name: spec.build for name, spec in BY_NAME.items() if spec.arity == 1 and name != "log"},
    "sqrt": sympy.sqrt,
}
ELEMENTWISE_2: Mapping[str, Callable[[sympy.Expr, sympy.Expr], sympy.Expr]] = {
    name: spec.build for name, spec in BY_NAME.items() if spec.arity == 2
}
ARRAY_FUNCTIONS = ("sum", "prod", "mean", "dot", "norm", "softmax", "logsumexp")
FUNCTIONS = tuple(sorted({*ELEMENTWISE_1, *ELEMENTWISE_2, "log", "where", *ARRAY_FUNCTIONS}))
RESERVED = frozenset(FUNCTIONS) | frozenset(CONSTANTS)


def parse(
    text: str,
    names: Mapping[str, Value] | None = None,
    *,
    limits: Limits = LIMITS,
    budget: Budget | None = None,
) -> Value:
    """Parse case-language text into a SymPy scalar or a NumPy object array of them.

    Parameters
    ----------
    text : str
        The expression, e.g. ``"3*(a + b*c)"`` or ``"X.T @ (X@w - y) / 2"``.
    names : mapping, optional
        Values of the names the text may use (variables, intermediates, constants).
    limits : Limits
        Bounds on length, nesting, literal size, exponents, array sizes and growth.
    budget : Budget, optional
        The allowance of a whole case, when this text is one of several (``let``, ``f``, claims).

    Returns
    -------
    sympy.Expr or numpy.ndarray
        A scalar, or an object array of SymPy scalars for array-valued text.

    Raises
    ------
    ExpressionError
        One line stating the rule the text breaks and quoting the offending part.

    Examples
    --------
    >>> import sympy
    >>> x = sympy.Symbol("x", real=True)
    >>> parse("x^2 + sin(x)", {"x": x})
    x**2 + sin(x)
    """
    if not isinstance(text, str):
        raise ExpressionError(f"expected an expression as text, got {_short(repr(text))}")
    if len(text) > limits.max_length:
        raise ExpressionError(
            f"expression is {len(text)} characters long; the limit (max_length) is {limits.max_length}"
        )
    _check_characters(text)
    if not text.strip():
        raise ExpressionError("expression is empty")
    try:
        with warnings.catch_warnings():  # "invalid decimal literal" and the like: the error says it
            warnings.simplefilter("ignore")
            tree = ast.parse(text.strip().replace("^", "**"), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"cannot parse {_short(text)!r}: {exc.msg}") from None
    except (RecursionError, MemoryError):
        raise ExpressionError(
            f"cannot parse {_short(text)!r}: nesting exceeds the limit (max_depth) of {limits.max_depth}"
        ) from None
    _check_shape_of_tree(tree, text, limits)
    budget = budget if budget is not None else Budget(limits)
    try:
        value = _Builder(dict(names or {}), limits, budget).build(tree.body)
        if is_condition(value):
            raise ExpressionError(f"{_short(text)!r} is a condition, not a number; use where(condition, a, b)")
        _check_built(value, text, budget)
    except ExpressionError:
        raise
    except RecursionError:
        raise ExpressionError(
            f"{_short(text)!r} nests too deeply to build (the limit max_depth is {limits.max_depth})"
        ) from None
    except Exception as exc:  # noqa: BLE001 - SymPy may refuse a value in its own way; keep one error type
        raise ExpressionError(
            f"cannot build {_short(text)!r}: {type(exc).__name__}: {_short(str(exc), 120)}"
        ) from None
    return value




def is_array(value: Value) -> bool:
    """Whether a parsed value is an array (else a SymPy scalar)."""
    return isinstance(value, np.ndarray)


def shape_of(value: Value) -> tuple[int, ...]:
    """The shape of a parsed value; ``()`` for a scalar."""
    return tuple(value.shape) if isinstance(value, np.ndarray) else ()


def to_number(value: object) -> sympy.Expr:
    """A Python number from TOML as an exact SymPy number (floats by their decimal text).

    Examples
    --------
    >>> to_number(0.1)
    1/10
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ExpressionError(f"expected a number, got {_short(repr(value))}")
    if isinstance(value, int):
        if value.bit_length() > LIMITS.max_int_bits:
            raise ExpressionError(
                f"integer with {value.bit_length()} bits is larger than the limit (max_int_bits) "
                f"of {LIMITS.max_int_bits} bits"
            )
        return sympy.Integer(value)
    if not math.isfinite(value):
        raise ExpressionError(f"expected a finite number, got {value!r}")
    frac = Fraction(repr(value))
    return sympy.Rational(frac.numerator, frac.denominator)


def _normalise(value: object) -> Value:
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value.item()
    return value  # type: ignore[return-value]


def _softmax(value: Value) -> Value:
    if not isinstance(value, np.ndarray):
        return sympy.Integer(1)
    exps = np.frompyfunc(sympy.exp, 1, 1)(value)
    out = np.empty(value.shape, dtype=object)
    for index in np.ndindex(value.shape[:-1]):
        row = exps[index]
        denominator = sympy.Add(*row)
        out[index] = np.array([e / denominator for e in row], dtype=object)
    return out


class _Builder(ControlMixin):
    """Walks a checked ``ast`` tree and builds SymPy values. One method per node kind."""

    reserved = frozenset(FUNCTIONS) | frozenset(CONSTANTS)

    def __init__(self, names: dict[str, Value], limits: Limits, budget: Budget) -> None:
        self.names = names
        self.limits = limits
        self.budget = budget

    def _map(self, fn: Callable[..., sympy.Expr], *args: Value, conditions: bool = False) -> Value:
        """``fn`` element-wise with NumPy broadcasting, within the size and work limits.

        Conditions (comparisons) are arguments only where ``conditions`` says so (``where``,
        ``and``, ``or``, ``not``): a condition is never a number.
        """
        if not conditions and any(is_condition(a) for a in args):
            raise ExpressionError("a condition (comparison) is not a number; use it as where(condition, a, b)")
        if not any(isinstance(a, np.ndarray) for a in args):
            self.budget.spend(1)
            return self._number_check(fn(*args))
        try:
            shape = np.broadcast_shapes(*(shape_of(a) for a in args))
        except ValueError:
            shapes = " and ".join(str(shape_of(a)) for a in args)
            raise ExpressionError(f"shapes {shapes} do not broadcast") from None
        self._size_check(shape)
        self.budget.spend(math.prod(shape))
        out = np.frompyfunc(lambda *a: self._number_check(fn(*a)), len(args), 1)(*args)
        return _normalise(out)

    def _size_check(self, shape: tuple[int, ...]) -> None:
        size = math.prod(shape)
        if size > self.limits.max_array_size:
            raise ExpressionError(
                f"an array of shape {shape} has {size} entries; the limit (max_array_size) is "
                f"{self.limits.max_array_size}"
            )

    def _number_check(self, value: sympy.Expr) -> sympy.Expr:
        """Stop numbers that grow by repeated arithmetic (2**999 * 2**999 * ...) as they grow."""
        number = value.args[0] if isinstance(value, (sympy.Add, sympy.Mul)) and value.args else value
        if isinstance(number, sympy.Rational) and _digits(number) > self.limits.max_digits:
            raise ExpressionError(
                f"a number grows to about {_digits(number)} digits; the limit (max_digits) is "
                f"{self.limits.max_digits}"
            )
        return value

    def build(self, node: ast.AST) -> Value:
        method = getattr(self, "_" + type(node).__name__, None)
        if method is None:
            raise ExpressionError(f"{_describe(node)} is not allowed in an expression")
        return method(node)

    # leaves ------------------------------------------------------------------------------
    def _Constant(self, node: ast.Constant) -> Value:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ExpressionError(f"literal {value!r} is not allowed (numbers only)")
        return to_number(value)

    def _Name(self, node: ast.Name) -> Value:
        name = node.id
        if name.startswith("__"):
            raise ExpressionError(f"name {name!r} is not allowed (no dunder names)")
        if name in self.names:
            return self.names[name]
        if name in CONSTANTS:
            return CONSTANTS[name]
        if name in FUNCTIONS:
            raise ExpressionError(f"function {name!r} must be called, as {name}(...)")
        known = sorted({*self.names, *CONSTANTS})
        hint = difflib.get_close_matches(name, known, n=1)
        suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise ExpressionError(f"undefined name {name!r}{suggestion}")

    def _List(self, node: ast.List) -> Value:
        items = [self.build(item) for item in node.elts]
        if not items:
            raise ExpressionError("an empty list is not a value")
        shapes = {shape_of(item) for item in items}
        if len(shapes) != 1:
            raise ExpressionError(f"list items have different shapes {sorted(shapes)}")
        shape = (len(items), *shapes.pop())
        self._size_check(shape)
        self.budget.spend(math.prod(shape))
        out = np.empty(shape, dtype=object)
        for i, item in enumerate(items):
            out[i] = item
        return out

    # operators ---------------------------------------------------------------------------
    def _UnaryOp(self, node: ast.UnaryOp) -> Value:
        operand = self.build(node.operand)
        if isinstance(node.op, ast.USub):
            return self._map(lambda a: -a, operand)
        if isinstance(node.op, ast.UAdd):
            return operand
        if isinstance(node.op, ast.Not):
            return self._not(operand)
        raise ExpressionError(f"operator {_describe(node.op)} is not allowed")

    def _BinOp(self, node: ast.BinOp) -> Value:
        left, right = self.build(node.left), self.build(node.right)
        op = node.op
        if isinstance(op, ast.Add):
            return self._map(lambda a, b: a + b, left, right)
        if isinstance(op, ast.Sub):
            return self._map(lambda a, b: a - b, left, right)
        if isinstance(op, ast.Mult):
            return self._map(lambda a, b: a * b, left, right)
        if isinstance(op, ast.Div):
            return self._map(self._divide, left, right)
        if isinstance(op, ast.Pow):
            return self._map(self._power, left, right)
        if isinstance(op, ast.MatMult):
            return self._matmul(left, right)
        raise ExpressionError(f"operator {_describe(op)} is not allowed")

    def _divide(self, a: sympy.Expr, b: sympy.Expr) -> sympy.Expr:
        if b.is_zero:
            raise ExpressionError(f"division by zero in ({_short(str(a), 40)})/({_short(str(b), 40)})")
        return a / b

    def _power(self, base: sympy.Expr, exponent: sympy.Expr) -> sympy.Expr:
        limit = self.limits.max_exponent
        if exponent.is_Number and abs(exponent) > limit:
            raise ExpressionError(
                f"exponent {_short(str(exponent), 40)} exceeds the limit (max_exponent) of {limit}"
            )
        if base.is_Rational and exponent.is_Number and abs(base) != 1 and base != 0:
            size = max(math.log10(abs(int(base.p))) if base.p else 0.0, math.log10(int(base.q)))
            digits = abs(float(exponent)) * size
            if digits > self.limits.max_digits:
                raise ExpressionError(
                    f"{_short(str(base), 30)}**{_short(str(exponent), 30)} has about {digits:.0f} digits; "
                    f"the limit (max_digits) is {self.limits.max_digits}"
                )
        if base.is_zero and exponent.is_Number and exponent < 0:
            raise ExpressionError(f"division by zero in ({base})**({exponent})")
        if base.is_Number and base < 0 and exponent.is_Rational and not exponent.is_Integer:
            raise ExpressionError(f"({base})**({exponent}) is not a real number")
        return base**exponent

    def _matmul(self, left: Value, right: Value) -> Value:
        if not (isinstance(left, np.ndarray) and isinstance(right, np.ndarray)):
            raise ExpressionError("'@' needs arrays on both sides")
        try:  # the shape of the product, from small stand-ins
            shape = np.matmul(np.zeros(left.shape, np.int8), np.zeros(right.shape, np.int8)).shape
        except ValueError:
            raise ExpressionError(
                f"shapes {shape_of(left)} and {shape_of(right)} do not fit for '@'"
            ) from None
        self._size_check(shape)
        self.budget.spend(max(1, math.prod(shape)) * left.shape[-1])
        return _normalise(np.matmul(left, right))

    # access ------------------------------------------------------------------------------
    def _Attribute(self, node: ast.Attribute) -> Value:
        if node.attr != "T":
            raise ExpressionError(f"attribute {node.attr!r} is not allowed (only .T)")
        value = self.build(node.value)
        return value.T if isinstance(value, np.ndarray) else value

    def _Subscript(self, node: ast.Subscript) -> Value:
        value = self.build(node.value)
        if not isinstance(value, np.ndarray):
            raise ExpressionError("only arrays can be indexed")
        index = self._index(node.slice)
        try:
            return _normalise(value[index])
        except IndexError:
            raise ExpressionError(
                f"index {ast.unparse(node.slice)} is out of range for shape {shape_of(value)}"
            ) from None

    def _index(self, node: ast.AST) -> object:
        if isinstance(node, ast.Tuple):
            return tuple(self._index(item) for item in node.elts)
        if isinstance(node, ast.Slice):
            if node.step is not None:
                raise ExpressionError("slices with a step are not allowed")
            return slice(
                None if node.lower is None else self._integer(node.lower),
                None if node.upper is None else self._integer(node.upper),
            )
        return self._integer(node)

    def _integer(self, node: ast.AST) -> int:
        from_index = self._index_value(node)
        if from_index is not None:
            return from_index
        value = node
        negative = False
        if isinstance(value, ast.UnaryOp) and isinstance(value.op, ast.USub):
            negative, value = True, value.operand
        if (
            isinstance(value, ast.Constant)
            and isinstance(value.value, int)
            and not isinstance(value.value, bool)
            and abs(value.value) <= self.limits.max_array_size
        ):
            return -value.value if negative else value.value
        raise ExpressionError(f"index {ast.unparse(node)!r} must be a small integer literal")

    # calls -------------------------------------------------------------------------------
    def _Call(self, node: ast.Call) -> Value:
        if not isinstance(node.func, ast.Name):
            raise ExpressionError(
                f"only named functions can be called, not {_short(ast.unparse(node.func))!r}"
            )
        name = node.func.id
        if name.startswith("__"):
            raise ExpressionError(f"name {name!r} is not allowed (no dunder names)")
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise ExpressionError(f"{name}() takes plain positional arguments only")
        if name not in FUNCTIONS:
            hint = difflib.get_close_matches(name, FUNCTIONS, n=1)
            suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise ExpressionError(f"unknown function {name!r}{suggestion}")
        if name in ("sum", "prod") and len(node.args) == 1 and isinstance(node.args[0], ast.GeneratorExp):
            return self._reduce(name, node.args[0])
        args = [self.build(arg) for arg in node.args]
        return self._call(name, args)

    def _call(self, name: str, args: list[Value]) -> Value:
        def need(count: int | tuple[int, ...]) -> None:
            counts = (count,) if isinstance(count, int) else count
            if len(args) not in counts:
                wanted = " or ".join(str(c) for c in counts)
                raise ExpressionError(f"{name}() takes {wanted} argument(s), got {len(args)}")

        if name == "where":
            return self._where(args)
        if name in ELEMENTWISE_1:
            need(1)
            return self._map(ELEMENTWISE_1[name], args[0])
        if name in ELEMENTWISE_2:
            need(2)
            return self._map(ELEMENTWISE_2[name], args[0], args[1])
        if name == "log":
            need((1, 2))
            if len(args) == 1:
                return self._map(sympy.log, args[0])
            return self._map(lambda a, b: self._divide(sympy.log(a), sympy.log(b)), args[0], args[1])
        if name == "dot":
            need(2)
            a, b = args
            if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
                return self._map(lambda p, q: p * q, a, b)
            if a.ndim == 1 and b.ndim == 1:
                if a.shape != b.shape:
                    raise ExpressionError(f"dot() of shapes {a.shape} and {b.shape}")
                self.budget.spend(a.size)
                return sympy.Add(*(p * q for p, q in zip(a, b)))
            return self._matmul(a, b)
        need(1)
        (arg,) = args
        entries = _flat(arg)
        self.budget.spend(2 * len(entries))
        if name == "sum":
            return sympy.Add(*entries)
        if name == "prod":
            return sympy.Mul(*entries)
        if name == "mean":
            return sympy.Add(*entries) / len(entries)
        if name == "norm":
            return sympy.sqrt(sympy.Add(*(e**2 for e in entries)))
        if name == "logsumexp":
            return sympy.log(sympy.Add(*(sympy.exp(e) for e in entries)))
        return _softmax(arg)


def _describe(node: ast.AST) -> str:
    kind = type(node).__name__
    try:
        text = ast.unparse(node)
    except Exception:  # noqa: BLE001 - describing an operator token has no text
        return repr(kind)
    return f"{kind} {_short(text)!r}" if text else repr(kind)
