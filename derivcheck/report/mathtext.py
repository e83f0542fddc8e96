"""Math as text: LaTeX that GitHub and KaTeX render, plain Unicode for mermaid, numbers for tables.

GitHub runs markdown before math, so display math goes in ```` ```math ```` fences and inline math
in the dollar-backtick form ``$`...`$``; inside those, ``\\{``, ``\\,`` and ``_`` are safe. Mermaid
labels get plain Unicode text (no LaTeX: GitHub's mermaid does not render it).

Array entries are symbols named like ``w[0,1]``; :func:`latex` renders them as ``w_{0,1}``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import sympy
from sympy.printing.latex import LatexPrinter
from sympy.printing.str import StrPrinter

from derivcheck.language.registry import BY_NODE

_INDEXED = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)\[([0-9, ]+)\]$")

#: Significant digits of decimal numbers shown in reports.
DIGITS = 6


def symbol_latex(symbol: sympy.Symbol) -> str:
    """LaTeX for one symbol: ``w[0,1]`` becomes ``w_{0,1}``, ``theta`` becomes ``\\theta``.

    Examples
    --------
    >>> import sympy
    >>> symbol_latex(sympy.Symbol("w[0,1]"))
    'w_{0,1}'
    >>> symbol_latex(sympy.Symbol("x1"))
    'x_{1}'
    """
    match = _INDEXED.match(symbol.name)
    if match is None:
        return sympy.latex(sympy.Symbol(symbol.name))
    base = sympy.latex(sympy.Symbol(match.group(1)))
    index = match.group(2).replace(" ", "")
    if "_" in base or "^" in base:
        base = "{" + base + "}"
    return f"{base}_{{{index}}}"


def bar_tex(name: str) -> str:
    """The adjoint of a named node: ``\\bar{u}``, ``\\bar{h}_{pre}`` (the bar on the letter, not the index).

    Examples
    --------
    >>> bar_tex("y_pred"), bar_tex("w[0,1]")
    ('\\\\bar{y}_{pred}', '\\\\bar{w}_{0,1}')
    """
    tex = symbol_latex(sympy.Symbol(name))
    base, sep, sub = tex.partition("_")
    if sep and base and "{" not in base and "^" not in base:
        return r"\bar{" + base + "}_" + sub
    return r"\bar{" + tex + "}"


def symbol_names(*exprs: sympy.Basic) -> dict[sympy.Symbol, str]:
    """The ``symbol_names`` mapping for :func:`sympy.latex` covering every symbol in ``exprs``."""
    names: dict[sympy.Symbol, str] = {}
    for expr in exprs:
        for s in getattr(expr, "free_symbols", ()):
            if isinstance(s, sympy.Symbol):
                names[s] = symbol_latex(s)
    return names


def latex(expr: sympy.Basic, names: Mapping[sympy.Symbol, str] | None = None) -> str:
    """LaTeX for a SymPy expression, with indexed symbols rendered as subscripts.

    Parameters
    ----------
    expr : sympy.Basic
        The expression.
    names : mapping, optional
        Extra or overriding symbol names (``{Symbol: "latex"}``).

    Examples
    --------
    >>> import sympy
    >>> w = sympy.Symbol("w[0,1]", real=True)
    >>> latex(2 * w**2)
    '2 w_{0,1}^{2}'
    """
    mapping = symbol_names(expr)
    if names:
        mapping.update(names)
    return _Latex({"symbol_names": mapping, "ln_notation": True, "fold_func_brackets": True}).doprint(sympy.sympify(expr))


class _PlusFirst:
    """Sums with the terms that carry a plus sign first: ``y_{i} - \\hat{y}_{i}``, as a teacher writes
    it, not ``-\\hat{y}_{i} + y_{i}`` (for the LaTeX and the plain printer alike)."""

    def _print_Add(self, expr: sympy.Add, order: str | None = None) -> str:
        terms = list(self._as_ordered_terms(expr, order=order))  # type: ignore[attr-defined]
        terms = [t for t in terms if not _negative(t)] + [t for t in terms if _negative(t)]
        if not terms or _negative(terms[0]):
            return super()._print_Add(expr, order=order)  # type: ignore[misc]
        return super()._print_Add(sympy.Add(*terms, evaluate=False), order="none")  # type: ignore[misc]


class _Latex(_PlusFirst, LatexPrinter):
    """SymPy's LaTeX printer; the functions with a LaTeX name in the registry (sigma, softplus,
    relu, and H for the step function, which SymPy writes theta) are printed here, raised to a
    power as ``\\left(\\sigma\\left(x\\right)\\right)^{2}``: the one LaTeX renderer."""

    def _print(self, expr: object, **kwargs: object) -> str:
        spec = BY_NODE.get(type(expr))
        if spec is not None and spec.latex and isinstance(expr, sympy.Function):
            return self._named(spec.latex, expr, kwargs.get("exp"))  # type: ignore[arg-type]
        return super()._print(expr, **kwargs)

    def _named(self, name: str, expr: sympy.Expr, exp: str | None) -> str:
        tex = name + r"\left(" + self._print(expr.args[0]) + r"\right)"
        return tex if exp is None else r"\left(" + tex + r"\right)^{" + exp + "}"

    def _needs_function_brackets(self, expr: sympy.Basic) -> bool:
        """``\\sin x`` for one symbol; ``\\sin\\left(x y\\right)`` for anything longer."""
        return not (isinstance(expr, sympy.Symbol) or (expr.is_Number and expr >= 0))

    def _print_Rational(self, expr: sympy.Rational) -> str:
        """Decimal data stays decimal (2.1, 7.8); halves and quarters stay fractions."""
        dec = terminating(expr) if expr.q % 5 == 0 else None
        return dec if dec is not None else super()._print_Rational(expr)


def _negative(term: sympy.Expr) -> bool:
    return bool(term.could_extract_minus_sign())


def paren(expr: sympy.Basic, names: Mapping[sympy.Symbol, str] | None = None) -> str:
    """LaTeX of ``expr`` in ``\\left( \\right)`` unless it is an atom, a call or a plain power."""
    expr = sympy.sympify(expr)
    text = latex(expr, names)
    simple = (
        isinstance(expr, (sympy.Symbol, sympy.NumberSymbol))
        or (expr.is_Rational and expr >= 0)
        or isinstance(expr, sympy.Function)
        or (expr.is_Pow and isinstance(expr.base, sympy.Symbol) and expr.exp.is_Integer and expr.exp > 0)
    )
    return text if simple else r"\left(" + text + r"\right)"


def inline(tex: str) -> str:
    """Inline math in GitHub's dollar-backtick form.

    Examples
    --------
    >>> inline("x^{2}")
    '$`x^{2}`$'
    """
    return "$`" + tex + "`$"


def display(tex: str) -> str:
    """Display math as a fenced ```` ```math ```` block (no trailing newline)."""
    return "```math\n" + tex + "\n```"


# ------------------------------------------------------------------------------------------
# numbers


def is_finite_real(value: sympy.Basic) -> bool:
    """Whether ``value`` is a finite real number (not ``zoo``, ``nan``, complex or symbolic)."""
    try:
        v = sympy.sympify(value)
    except (sympy.SympifyError, TypeError):
        return False
    if not v.is_number or v.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
        return False
    n = v.evalf(30)
    return bool(n.is_real) and n.is_finite is not False and n.is_Number


def decimal(value: sympy.Basic, digits: int = DIGITS) -> str:
    """A number to ``digits`` significant digits, deterministic; ``undefined`` when not finite.

    Examples
    --------
    >>> import sympy
    >>> decimal(sympy.sin(1))
    '0.841471'
    >>> decimal(sympy.Rational(1, 4))
    '0.25'
    """
    if not is_finite_real(value):
        return "undefined"
    number = sympy.sympify(value).evalf(30)
    text = f"{float(number):.{digits}g}"
    if text in ("-0", "-0.0"):
        text = "0"
    return text


def is_short_exact(value: sympy.Basic, max_chars: int = 12) -> bool:
    """Whether a number is an integer or a fraction short enough to show exactly."""
    v = sympy.sympify(value)
    return bool(v.is_Rational) and (len(str(v)) <= max_chars or terminating(v) is not None)


def terminating(value: sympy.Basic, max_digits: int = 10) -> str | None:
    """A rational with a short terminating decimal written as that decimal (``21/10`` -> ``2.1``).

    Data and points are read from decimals, so they are shown as written; a fraction such as 1/3
    that has no short decimal gives None.

    Examples
    --------
    >>> import sympy
    >>> terminating(sympy.Rational(21, 10)), terminating(sympy.Rational(1, 3)), terminating(sympy.Integer(5))
    ('2.1', None, None)
    """
    v = sympy.sympify(value)
    if not v.is_Rational or v.is_Integer:
        return None
    q = int(v.q)
    twos = fives = 0
    while q % 2 == 0:
        q //= 2
        twos += 1
    while q % 5 == 0:
        q //= 5
        fives += 1
    if q != 1:
        return None
    places = max(twos, fives)
    text = f"{abs(int(v.p)) * 10**places // int(v.q)}".rjust(places + 1, "0")
    text = (text[:-places] + "." + text[-places:]).rstrip("0").rstrip(".")
    if len(text.replace(".", "").lstrip("0")) > max_digits:
        return None
    return ("-" if v < 0 else "") + text


def number_latex(value: sympy.Basic) -> str:
    """LaTeX for a numeric value: exact when a short rational, else a 6-digit decimal.

    Examples
    --------
    >>> import sympy
    >>> number_latex(sympy.Rational(-2, 3))
    '- \\\\frac{2}{3}'
    >>> number_latex(sympy.Rational(-3, 4))
    '-0.75'
    >>> number_latex(sympy.cos(1))
    '0.540302'
    """
    v = sympy.sympify(value)
    if (dec := terminating(v)) is not None:
        return dec
    if is_short_exact(v):
        return sympy.latex(v)
    if not is_finite_real(v):
        return r"\text{undefined}"
    return decimal(v)


def number_text(value: sympy.Basic) -> str:
    """Plain text for a numeric value: ``3/4``, ``-2`` or ``0.540302``."""
    v = sympy.sympify(value)
    if (dec := terminating(v)) is not None:
        return dec
    if is_short_exact(v):
        return str(v)
    return decimal(v)


# ------------------------------------------------------------------------------------------
# plain text (mermaid labels, plot titles)


class _PlainPrinter(_PlusFirst, StrPrinter):
    """SymPy's str printer with Unicode operators and short names for step functions."""

    def _print_Heaviside(self, expr: sympy.Heaviside) -> str:
        return "H(" + self._print(expr.args[0]) + ")"

    def _print_Abs(self, expr: sympy.Abs) -> str:
        return "|" + self._print(expr.args[0]) + "|"

    def _print_Max(self, expr: sympy.Max) -> str:
        return "max(" + ", ".join(self._print(a) for a in expr.args) + ")"

    def _print_Min(self, expr: sympy.Min) -> str:
        return "min(" + ", ".join(self._print(a) for a in expr.args) + ")"

    def _print_Exp1(self, expr: sympy.Basic) -> str:
        return "e"

    def _print_Rational(self, expr: sympy.Rational) -> str:
        dec = terminating(expr) if expr.q % 5 == 0 else None
        return dec if dec is not None else super()._print_Rational(expr)

    def _print_Pi(self, expr: sympy.Basic) -> str:
        return "π"


def plain(expr: sympy.Basic) -> str:
    """Plain Unicode text for an expression: ``x^2·sin(y)``, ``|x|``, ``H(x)``.

    Examples
    --------
    >>> import sympy
    >>> x = sympy.Symbol("x")
    >>> plain(2 * x**3)
    '2·x^3'
    """
    text = _PlainPrinter({"order": None}).doprint(sympy.sympify(expr))
    text = text.replace("**", "^").replace("*", "·")
    return text


def mermaid_text(text: str) -> str:
    """Escape text for a quoted mermaid label (quotes, angle brackets, pipes, backticks)."""
    return (
        text.replace("&", "#amp;")
        .replace('"', "#quot;")
        .replace("<", "#lt;")
        .replace(">", "#gt;")
        .replace("|", "#124;")
        .replace("`", "#96;")
        .replace("\n", " ")
    )


# ------------------------------------------------------------------------------------------
# report text: escaped markdown, code spans, values for tables


def md_text(text: str) -> str:
    """Escape free text (titles, notes) so markdown and GitHub's math leave it alone.

    Examples
    --------
    >>> print(md_text("sum 2(y_i - yp_i) costs $5"))
    sum 2(y\\_i - yp\\_i) costs \\$5
    """
    out = []
    for ch in text:
        if ch in "\\`*_[]<>|#$~":
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def code(text: str) -> str:
    """An inline code span that survives backticks in ``text``.

    Examples
    --------
    >>> code("x**2")
    '`x**2`'
    """
    ticks = "``" if "`" in text else "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def exact_value(expr: sympy.Expr, subs: dict) -> sympy.Expr:
    """``expr`` at an exact point: exact while small, else 30 digits.

    Examples
    --------
    >>> import sympy
    >>> x = sympy.Symbol("x", real=True)
    >>> exact_value(x**2 / 3, {x: sympy.Rational(1, 2)})
    1/12
    """
    value = sympy.sympify(expr).xreplace(subs)
    if value.is_Rational:
        return value
    if sympy.count_ops(value) > 30:
        return value.evalf(30)
    return value


def value_text(value: sympy.Expr, width: int = 24) -> str:
    """Plain text for a value in a table: ``3/4``, ``2·sqrt(5) ≈ 4.47214`` or ``0.540302``.

    The exact form is shown beside the decimal only when it is at most ``width`` characters.

    Examples
    --------
    >>> import sympy
    >>> value_text(sympy.sqrt(20))
    '2·sqrt(5) ≈ 4.47214'
    """
    value = sympy.sympify(value)
    if (dec := terminating(value)) is not None:
        return dec
    if is_short_exact(value):
        return str(value)
    if value.is_Float or not value.is_number:
        return decimal(value)
    text = plain(value)
    return f"{text} ≈ {decimal(value)}" if len(text) <= width else decimal(value)


def value_tex(value: sympy.Expr) -> str:
    """LaTeX for a value in a matrix: exact when short, else a 6-digit decimal."""
    value = sympy.sympify(value)
    if value is sympy.nan:
        return r"\text{none}"  # a derivative that does not exist (a kink)
    if is_short_exact(value) or value.is_Float:
        return number_latex(value)
    tex = latex(value)
    return tex if len(tex) <= 18 and value.is_number else number_latex(value)
