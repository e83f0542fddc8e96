"""The worked solution of one case, as markdown: the problem, its computational graph, the
step-by-step derivations, gradient / Jacobian / Hessian, directional derivatives and descent.

Everything is computed from the loaded ``Case`` (exact SymPy); the verification tables come from
the runner's results (see ``report_checks``). Tables hold plain text (a ``|`` inside math would
split a table cell); math goes in ``$`...`$`` and ```` ```math ```` fences.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import sympy

from derivcheck.engines import exact as symbolic
from derivcheck.errors import DerivcheckError
from derivcheck.language.parser import is_array, parse
from derivcheck.model import Case, Variable
from derivcheck.report.descent import descent_markdown
from derivcheck.report.graph import graph, graph_markdown, graph_size
from derivcheck.report.mathtext import (
    code,
    display,
    exact_value,
    latex,
    md_text,
    number_text,
    symbol_latex,
    value_tex,
    value_text,
)
from derivcheck.report.steps import kinks

#: graphs with more nodes than this are not drawn
MAX_GRAPH_OUTPUTS = 3
MAX_GRAPH_NODES = 12
#: expression-tree graphs (cases without lets) only for expressions this small
MAX_TREE_NODES = 6
#: the longest LaTeX shown for one expression; longer ones are described instead
MAX_TEX = 700
#: matrices with more entries than this are listed in a table instead
MAX_MATRIX_ENTRIES = 36


@dataclass(frozen=True, eq=False)
class CaseMath:
    """What the worked solution needs of a case, computed once."""

    case: Case
    symbols: tuple[sympy.Symbol, ...]
    jacobian: np.ndarray  # (m, n) of SymPy expressions
    hessian: np.ndarray | None  # (m, n, n)
    lets: tuple[tuple[sympy.Symbol, sympy.Expr], ...]  # scalarised, in terms of earlier names
    outputs: tuple[sympy.Expr, ...]  # each output in terms of inputs and let symbols (empty: unknown)
    points: tuple[dict, ...]

    @property
    def output(self) -> sympy.Expr | None:
        """The scalar function in terms of inputs and let symbols."""
        return self.outputs[0] if self.scalar and self.outputs else None

    @property
    def scalar(self) -> bool:
        return self.case.scalar

    def out_label(self, i: int) -> str:
        return "f" if self.scalar else f"f_{i}"

    def out_tex(self, i: int) -> str:
        return "f" if self.scalar else f"f_{{{i}}}"


def case_math(case: Case) -> CaseMath:
    """Derivatives and the let structure of a case (exact).

    Examples
    --------
    >>> from derivcheck.cases.files import loads
    >>> (case,), _ = loads('[[case]]\\nid = "sq"\\nvars = ["x"]\\nf = "x^2"\\nat = { x = 3 }')
    >>> case_math(case).jacobian.tolist()
    [[2*x]]
    """
    sym = symbolic.derive_case(case)
    lets, outputs = _structure(case)
    points = tuple(dict(zip(case.symbols, p)) for p in case.points)
    return CaseMath(case, case.symbols, sym.jacobian, sym.hessian, lets, outputs, points)


def _structure(case: Case) -> tuple[tuple[tuple[sympy.Symbol, sympy.Expr], ...], tuple[sympy.Expr, ...]]:
    """Re-parse the lets with each intermediate bound to its own symbol(s)."""
    names: dict[str, object] = {}
    for var in case.variables:
        if var.shape:
            names[var.name] = np.array(var.symbols, dtype=object).reshape(var.shape)
        else:
            names[var.name] = var.symbols[0]
    names.update(case.data)
    specs: list[tuple[sympy.Symbol, sympy.Expr]] = []
    try:
        for name, text in case.lets:
            value = parse(text, names)
            if is_array(value):
                symbols = Variable.declare(name, value.shape)
                for s, index in zip(symbols.symbols, np.ndindex(value.shape)):
                    specs.append((s, sympy.sympify(value[index])))
                names[name] = symbols.value()
            else:
                s = sympy.Symbol(name, real=True)
                specs.append((s, sympy.sympify(value)))
                names[name] = s
        texts = (case.f_text,) if isinstance(case.f_text, str) else case.f_text
        outputs: list[sympy.Expr] = []
        for text in texts:
            value = parse(text, names)
            outputs.extend(sympy.sympify(v) for v in (value.flat if is_array(value) else (value,)))
    except DerivcheckError:
        return (), ()
    return tuple(specs), tuple(outputs)


# ----------------------------------------------------------------------------------------------
# helpers


def point_text(case: Case, k: int) -> str:
    """``x = 1, y = 2`` or ``w = [0.5, -1]`` for point ``k`` (exact coordinates)."""
    coords = list(case.points[k])
    parts, offset = [], 0
    for var in case.variables:
        values = coords[offset: offset + var.size]
        offset += var.size
        if not var.shape:
            parts.append(f"{var.name} = {number_text(values[0])}")
        else:
            array = np.array([number_text(v) for v in values], dtype=object).reshape(var.shape)
            parts.append(f"{var.name} = {_nested(array.tolist())}")
    return ", ".join(parts)


def _nested(value: object) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_nested(v) for v in value) + "]"
    return str(value)


def _matrix_tex(rows: Sequence[Sequence[str]]) -> str:
    return r"\begin{pmatrix} " + r" \\ ".join(" & ".join(r) for r in rows) + r" \end{pmatrix}"


def _expr_tex(expr: sympy.Expr) -> str | None:
    tex = latex(expr)
    return tex if len(tex) <= MAX_TEX else None


# ----------------------------------------------------------------------------------------------
# 1. the problem


def problem_markdown(cm: CaseMath) -> str:
    """The function, the point(s) and what is asked."""
    case = cm.case
    lines: list[str] = []
    if case.title:
        lines.append(md_text(case.title) + "\n")
    variables = ", ".join(
        code(v.name + (f"[{','.join(map(str, v.shape))}]" if v.shape else "")) for v in case.variables
    )
    lines.append(f"- Variables: {variables}")
    if case.data:
        shown = []
        for name, value in case.data.items():
            text = _nested(np.vectorize(number_text, otypes=[object])(value).tolist()) if is_array(value) else number_text(value)
            shown.append(code(f"{name} = {text}") if len(text) <= 120 else code(name) + " (an array)")
        lines.append("- Data: " + ", ".join(shown))
    for name, text in case.lets:
        lines.append(f"- Intermediate: {code(f'{name} = {text}')}")
    if isinstance(case.f_text, str):
        lines.append(f"- Function: {code('f = ' + case.f_text)}")
    else:
        lines.append("- Function (outputs): " + ", ".join(code(f"f{i} = {t}") for i, t in enumerate(case.f_text)))
    lines.append("")
    formulas = []
    written = cm.outputs if cm.lets and len(cm.outputs) == len(case.outputs) else case.outputs  # in the lets' names
    for i, out in enumerate(written[:6]):
        tex = _expr_tex(out)
        if tex is not None:
            formulas.append(f"{cm.out_tex(i)} = {tex}")
    if formulas:
        lines.append(display(r" \\ ".join(formulas) if len(formulas) == 1 else
                             r"\begin{aligned} " + r" \\ ".join(f.replace(" = ", " &= ", 1) for f in formulas) + r" \end{aligned}"))
        lines.append("")
    if len(case.outputs) > 6:
        lines.append(f"({len(case.outputs) - 6} more outputs not written out.)\n")
    given = len(case.points) - case.sampled
    lines.append("Points:\n")
    listed = max(given, min(len(case.points), 2))
    for k in range(listed):
        origin = " (sampled)" if k >= given else ""
        lines.append(f"{k + 1}. {md_text(point_text(case, k))}{origin}")
    if len(case.points) > listed:
        lines.append(f"\n…and {len(case.points) - listed} more sampled point(s), checked in the verification.")
    lines.append("")
    lines.append("Asked: " + "; ".join(_asked(cm)) + ".")
    return "\n".join(lines)


def _asked(cm: CaseMath) -> list[str]:
    case = cm.case
    asked = ["the gradient" if case.scalar else f"the {case.n_outputs}×{case.n_inputs} Jacobian"]
    if cm.hessian is not None:
        asked.append("the Hessian" if case.scalar else "the Hessians of each output")
    if case.directions:
        asked.append(f"directional derivatives along {len(case.directions)} direction(s)")
    if case.tangents:
        asked.append(f"Jacobian-vector products with {len(case.tangents)} tangent(s)")
    if case.cotangents:
        asked.append(f"vector-Jacobian products with {len(case.cotangents)} cotangent(s)")
    keys = list(dict.fromkeys(c.key for c in case.claims))
    if keys:
        asked.append("check the claims " + ", ".join(code(k) for k in keys))
    if case.descent is not None:
        asked.append(f"{case.descent.steps} steps of gradient descent")
    if case.expect.value != "pass":
        asked.append(f"the author expects: {case.expect.value}")
    return asked


# ----------------------------------------------------------------------------------------------
# 2. the computational graph


def telling_point(cm: CaseMath) -> int:
    """The first point whose coordinates are not all 0 or ±1 (where a graph's values say something)."""
    for k, point in enumerate(cm.case.points):
        if any(abs(sympy.sympify(c)) not in (0, 1) for c in point):
            return k
    return 0


def graph_section(cm: CaseMath) -> str | None:
    """The graph at a telling point, one per output: from the lets, or from a small expression's tree."""
    k0 = telling_point(cm)
    if len(cm.outputs) != cm.case.n_outputs:
        return None
    parts = []
    drawn_nodes = drawn = 0
    for i, output in enumerate(cm.outputs[:MAX_GRAPH_OUTPUTS]):
        name = "f" if cm.scalar else f"f{i}"
        if cm.lets:
            size = graph_size(cm.lets, output, cm.symbols)
            if size > MAX_GRAPH_NODES:
                parts.append(f"The graph of {name} has {size} scalar nodes, too many to draw legibly; the Jacobian below gives every entry.")
                break
            g = graph(cm.lets, output, cm.symbols, cm.points[k0], output_name=name)
        elif _tree_size(output) <= MAX_TREE_NODES:
            g = graph([], output, cm.symbols, cm.points[k0], output_name=name)
        else:
            continue
        if drawn and drawn_nodes + len(g.nodes) > MAX_GRAPH_NODES:
            break  # one page column holds about a dozen nodes in all
        drawn_nodes += len(g.nodes)
        drawn += 1
        heading = "" if cm.scalar else f"#### Output {name}\n\n"
        parts.append(heading + graph_markdown(g))
    if not parts:
        return None
    if drawn and drawn < len(cm.outputs):
        parts.append(f"(Graphs of {drawn} of the {len(cm.outputs)} outputs; the others are built the same way.)")
    intro = f"At point {k0 + 1} ({md_text(point_text(cm.case, k0))}); values are exact where short, else 6 digits.\n\n"
    return intro + "\n\n".join(parts)


def _tree_size(expr: sympy.Expr) -> int:
    return sum(1 for node in sympy.preorder_traversal(expr) if node.args and not node.is_number)


# ----------------------------------------------------------------------------------------------
# 4. gradient, Jacobian, Hessian


def derivatives_section(cm: CaseMath) -> str:
    """Symbolic gradient (Jacobian, Hessian), then its value at each point."""
    from derivcheck.report.steps import tidy

    case = cm.case
    m = cm.jacobian.shape[0]
    parts = []
    name = r"\nabla f" if case.scalar else "J"
    tidied = np.empty(cm.jacobian.shape, dtype=object)
    for index in np.ndindex(cm.jacobian.shape):
        tidied[index] = tidy(cm.jacobian[index])
    parts.append(_symbolic_matrix(name, tidied, column=case.scalar))
    shown = [telling_point(cm)]
    for k in shown:
        values = np.empty(cm.jacobian.shape, dtype=object)
        for index in np.ndindex(cm.jacobian.shape):
            entry = cm.jacobian[index]
            values[index] = sympy.nan if _on_kink(entry, cm.points[k]) else exact_value(entry, cm.points[k])
        parts.append(f"At point {k + 1} ({md_text(point_text(case, k))}):\n\n" + (
            _by_variable(cm, values) if case.scalar and any(v.shape for v in case.variables)
            else _value_matrix(name, values, column=case.scalar)))
        notes = [n for out in case.outputs for n in kinks(out, cm.points[k])]
        if notes:
            parts.append(
                "This point sits on a kink, where the derivative does not exist ('none' above); torch's "
                "autograd still returns a value there (its convention below, also used by the graph), and the "
                "verification compares the one-sided derivatives:\n\n"
                + "\n".join(f"- {md_text(n)}" for n in dict.fromkeys(notes))
            )
    if len(cm.points) > len(shown):
        parts.append(f"({len(cm.points) - len(shown)} more point(s) in the verification table.)")
    if not case.scalar and m == cm.jacobian.shape[1] and m <= 4:
        det = tidy(sympy.Matrix(cm.jacobian.tolist()).det())
        values = ", ".join(f"{value_text(exact_value(det, cm.points[k]))} at point {k + 1}" for k in shown)
        parts.append("The Jacobian is square; its determinant (the local change of area or volume):\n\n"
                     + display(r"\det J = " + latex(det)) + f"\n\nwhich is {values}.")
    if cm.hessian is not None:
        for i in range(m):
            label = r"\nabla^{2} f" if case.scalar else rf"\nabla^{{2}} f_{{{i}}}"
            h = cm.hessian[i]
            tidy_h = np.empty(h.shape, dtype=object)
            for index in np.ndindex(h.shape):
                tidy_h[index] = tidy(h[index])
            parts.append(("Hessian:\n\n" if i == 0 else "") + _symbolic_matrix(label, tidy_h, column=False))
            for k in shown:
                values = np.empty(h.shape, dtype=object)
                for index in np.ndindex(h.shape):
                    values[index] = exact_value(h[index], cm.points[k])
                parts.append(f"At point {k + 1}:\n\n" + _value_matrix(label, values, column=False))
    return "\n\n".join(parts)


def _on_kink(expr: sympy.Expr, point: dict) -> bool:
    """Whether a step function in ``expr`` (a kink's derivative) sits exactly on its jump at ``point``."""
    steps = expr.atoms(sympy.Heaviside, sympy.sign, sympy.DiracDelta)
    return any(sympy.sympify(a.args[0]).xreplace(point) == 0 for a in steps)


def _by_variable(cm: CaseMath, values: np.ndarray) -> str:
    """The gradient of each variable in that variable's shape (∂f/∂W1 as a 2×3 matrix), decimals."""
    rows, offset = [], 0
    for var in cm.case.variables:
        block = values[0, offset: offset + var.size]
        offset += var.size
        grid = block.reshape(var.shape if len(var.shape) == 2 else (-1, 1)) if var.shape else block.reshape(1, 1)
        tex = _matrix_tex([[value_tex(v) for v in row] for row in grid.tolist()]) if var.shape else value_tex(block[0])
        rows.append(r"\frac{\partial f}{\partial " + symbol_latex(sympy.Symbol(var.name)) + "} &= " + tex)
    return display(r"\begin{aligned} " + r" \\ ".join(rows) + r" \end{aligned}")


def _symbolic_matrix(name: str, exprs: np.ndarray, *, column: bool) -> str:
    rows = [[exprs[0, j]] for j in range(exprs.shape[1])] if column else exprs.tolist()
    if sum(len(r) for r in rows) <= MAX_MATRIX_ENTRIES:
        texs = [[latex(e) for e in r] for r in rows]
        if sum(len(t) for r in texs for t in r) <= 3 * MAX_TEX:
            return display(f"{name} = " + _matrix_tex(texs))
    return f"(The {exprs.size} symbolic entries are too long to write out here; their values follow.)"


def _value_matrix(name: str, values: np.ndarray, *, column: bool) -> str:
    rows = [[values[0, j]] for j in range(values.shape[1])] if column else values.tolist()
    if sum(len(r) for r in rows) <= MAX_MATRIX_ENTRIES:
        return display(f"{name} = " + _matrix_tex([[value_tex(v) for v in r] for r in rows]))
    lines = ["| entry | value |", "| --- | --- |"]
    for index in np.ndindex(values.shape):
        lines.append(f"| {_entry_name(index, column)} | {value_text(values[index])} |")
        if len(lines) > MAX_MATRIX_ENTRIES + 2:
            lines.append(f"| … | {values.size - MAX_MATRIX_ENTRIES} more |")
            break
    return "\n".join(lines)


def _entry_name(index: tuple[int, ...], column: bool) -> str:
    return str(index[-1]) if column else ",".join(map(str, index))


# ----------------------------------------------------------------------------------------------
# 5. directional derivatives


def directional_section(cm: CaseMath, steepest: Sequence[object] = ()) -> str | None:
    """Unit vectors, direction cosines, D_u f = grad f . u = |grad f| cos(theta), and the maximum."""
    case = cm.case
    n = len(cm.symbols)
    if not case.scalar or n < 2 or n > 8 or not (case.directions or n == 2):
        return None
    parts = []
    grad0 = None if kinks(case.outputs[0], cm.points[0]) else [exact_value(cm.jacobian[0, j], cm.points[0]) for j in range(n)]
    greek = ["α", "β", "γ", "δ"][:n] if n <= 3 else [f"α{j + 1}" for j in range(n)]
    partial = [f"f_{s.name}" if len(s.name) <= 2 else f"∂f/∂{s.name}" for s in cm.symbols]
    for number, u in enumerate(case.directions, start=1):
        cosines = ", ".join(f"cos {g} = {value_text(c)}" for g, c in zip(greek, u))
        total = sympy.nsimplify(sympy.simplify(sum(c**2 for c in u)))
        line = f"- u{number} = ({', '.join(value_text(c) for c in u)}): {cosines} (squares sum to {value_text(total)})"
        if grad0 is not None:
            formula = " + ".join(f"{p} cos {g}" for p, g in zip(partial, greek))
            worked = " + ".join(f"({value_text(gv, 12)})({value_text(c, 12)})" for gv, c in zip(grad0, u))
            value = exact_value(sum(gv * c for gv, c in zip(grad0, u)), {})
            line += f". At point 1: D_u f = {formula} = {worked} = {value_text(value)}"
        parts.append(line)
    shown = 1  # the other points are in the verification table
    by_point = {getattr(s, "point", None): s for s in steepest}
    for k in range(shown):
        parts.append(_directional_table(cm, k, by_point.get(k)))
    return "\n\n".join(parts)


def _directional_table(cm: CaseMath, k: int, steepest: object | None) -> str:
    case = cm.case
    subs = cm.points[k]
    if kinks(case.outputs[0], subs):
        return (
            f"At point {k + 1} ({md_text(point_text(case, k))}) f has a kink: D_u f is not linear in u "
            "there (no gradient exists), so no direction table is given."
        )
    grad = [exact_value(cm.jacobian[0, j], subs) for j in range(len(cm.symbols))]
    norm2 = sum(g**2 for g in grad)
    norm = exact_value(sympy.sqrt(norm2), {})
    lines = [
        (f"At point {k + 1} ({md_text(point_text(case, k))}): ∇f = ({', '.join(value_text(g) for g in grad)}), "
         f"‖∇f‖ = {value_text(norm)}."),
        "",
        "| direction | u | D_u f = ∇f · u | cos ∠(u, ∇f) | ∠(u, ∇f) in degrees |",
        "| --- | --- | --- | --- | --- |",
    ]
    zero = sympy.sympify(norm2).is_zero
    rows: list[tuple[str, Sequence[sympy.Expr]]] = []
    for j, s in enumerate(cm.symbols):
        axis = [sympy.S.Zero] * len(cm.symbols)
        axis[j] = sympy.S.One
        rows.append((f"axis {s.name}", axis))
    rows.extend((f"u{d + 1}", list(u)) for d, u in enumerate(case.directions))
    if not zero:
        rows.append(("∇f / ‖∇f‖ (the gradient)", [exact_value(g / sympy.sqrt(norm2), {}) for g in grad]))
    best = None
    for label, u in rows:
        d = exact_value(sum(g * c for g, c in zip(grad, u)), {})
        if zero:
            cos_text, angle_text = "—", "—"
        else:
            cosine = float(sympy.N(d / norm, 20))
            cosine = max(-1.0, min(1.0, cosine))
            cos_text = f"{cosine:.6g}"
            angle_text = f"{math.degrees(math.acos(cosine)):.2f}"
        value = float(sympy.N(d, 20))
        if best is None or value > best[1] + 1e-12:
            best = (label, value)
        u_text = "(" + ", ".join(value_text(c, width=10) for c in u) + ")"
        lines.append(f"| {label} | {u_text} | {value_text(d)} | {cos_text} | {angle_text} |")
    lines.append("")
    if zero:
        lines.append("The gradient is 0 here: every directional derivative is 0 (a stationary point).")
    else:
        lines.append(
            f"The largest D_u f in the table is {best[1]:.6g}, along {best[0]}: the maximum over all unit "
            f"vectors is ‖∇f‖ = {value_text(norm)} (angle 0), reached along the gradient; against the "
            "gradient D_u f = -‖∇f‖, and across it (at 90°) D_u f = 0."
        )
    if steepest is not None:
        lines.append(
            f"\nChecked numerically: along the gradient D_u f = {steepest.along_gradient:.10g} "
            f"(‖∇f‖ = {steepest.gradient_norm:.10g}); the best of {steepest.samples} random unit directions gave "
            f"{steepest.best_sampled:.10g}, {steepest.best_angle_deg:.1f}° away from the gradient"
            f" — {'no direction beats the gradient' if steepest.ok else 'CHECK FAILED: ' + md_text(steepest.note)}."
        )
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# 9. gradient descent


def descent_section(cm: CaseMath) -> str | None:
    """Gradient descent, where the case declares it (a scalar function)."""
    case = cm.case
    if case.descent is None or not case.scalar:
        return None
    spec = case.descent
    return descent_markdown(case.outputs[0], cm.symbols, spec.rate, spec.start, spec.steps)


__all__ = [
    "CaseMath", "case_math", "code", "derivatives_section", "descent_section",
    "directional_section", "exact_value", "graph_section", "md_text", "point_text", "problem_markdown",
    "value_tex", "value_text",
]
