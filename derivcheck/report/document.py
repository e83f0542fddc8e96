"""``derivcheck report``: one markdown file of worked solutions, and an assets folder beside it.

Layout: ``report.md`` and ``report_assets/`` (PNG plots, linked relatively). The same input gives
the same bytes: no timestamps, fixed plot settings, cases in the order given. File names come
from case ids, sanitised, and every file is checked to lie inside the assets folder.

Each case's section, in order: the problem; the computational graph; step-by-step derivations;
gradient / Jacobian / Hessian; directional derivatives; plots; the verification table; caught
wrong claims; gradient descent.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

from derivcheck.cases.results import CaseResult, Status
from derivcheck.model import Case
from derivcheck.report.derivation import derivations_section, display_claims
from derivcheck.report.mathtext import code, display, exact_value, md_text, plain
from derivcheck.report.steps import kinks
from derivcheck.report.sums import general_form_tex, summed_form
from derivcheck.report.tensor import tensor_section
from derivcheck.report.verification import verification_section, wrong_claims_section
from derivcheck.report.worked import (
    CaseMath,
    case_math,
    derivatives_section,
    descent_section,
    directional_section,
    graph_section,
    problem_markdown,
)

HOW_TO_READ = """## How to read this report

- **The problem** states the function as the case file writes it, its named intermediates (`let`),
  data and points. Numbers are shown as written (2.1, not 21/10).
- **The computational graph** (small cases) has the forward value on each node and the local
  partial derivative ∂child/∂parent on each edge. The backward pass then gives each node's
  *adjoint* $`\\bar{u} = df/du`$ (a total derivative), output first: a node's adjoint is the sum over
  its children c of $`\\bar{c}\\,\\partial c/\\partial u`$. An input reached along several paths sums them.
- Cases over arrays get a **tensor-level graph** instead: one node per array with its shape, and
  the backward pass in matrix form (for C = A B: Ā = C̄ Bᵀ and B̄ = Aᵀ C̄; ⊙ multiplies entry
  by entry; 1[z > 0] is relu's mask). Gradients are shown in the shape of their variable.
- **Step-by-step derivation** keeps the case's structure: the chain rule through the named
  intermediates (local derivatives, then their products along each path); a sum over data
  points is differentiated through its general term once. Each derivative ends in a short form
  with the author's claim beside it: ✓ agrees, ✗ wrong.
- At a **kink** (relu, abs, max, min exactly at the switch) the derivative does not exist; the
  graph uses torch's choice (relu'(0) = 0, |x|'(0) = 0, a tie of max/min split evenly), and the
  verification compares one-sided derivatives.
- **Verification** says in one line whether exact (SymPy), autograd (torch) and numeric (finite
  differences with an error estimate) agree; every entry is in the folded table beneath.
- Symbols: ∇f is the gradient, J the Jacobian, ∇²f the Hessian, H(u) the step function
  (1 for u > 0, 0 for u < 0), u a unit direction with direction cosines cos α, cos β, …."""

#: the plots of one variable are drawn at this many points at most
TANGENT_POINTS = 3
_SAFE = re.compile(r"[^a-z0-9-]+")


def assets_dir(out_path: Path) -> Path:
    """The folder beside the report that holds its images: ``report.md`` -> ``report_assets``."""
    out_path = Path(out_path)
    return out_path.parent / f"{out_path.stem}_assets"


def pages_dir(out_path: Path) -> Path:
    """The folder beside the index that holds one page per case: ``report.md`` -> ``report_pages``."""
    out_path = Path(out_path)
    return out_path.parent / f"{out_path.stem}_pages"


def safe_name(case_id: str) -> str:
    """A file-name stem from a case id: lowercase letters, digits and '-', never empty or dotted.

    Examples
    --------
    >>> safe_name("../../etc/passwd")
    'etc-passwd'
    >>> safe_name("SSE one weight")
    'sse-one-weight'
    """
    stem = _SAFE.sub("-", case_id.lower()).strip("-")[:80].strip("-")
    return stem or "case"


def _inside(folder: Path, path: Path) -> Path:
    """``path`` resolved, refusing anything outside ``folder``."""
    base = folder.resolve()
    full = path.resolve()
    if full != base and base not in full.parents:
        raise ValueError(f"refusing to write outside {base}: {full}")
    return full


def write_report(
    cases: Sequence[Case], results: Sequence[CaseResult], out_path: Path, *, plots: bool = True,
    html: bool = False, pages: bool = False,
) -> Path:
    """Write the markdown report of ``cases`` and their ``results`` to ``out_path``.

    Parameters
    ----------
    cases : sequence of Case
        The loaded cases, in report order.
    results : sequence of CaseResult
        ``run_case`` of each case, in the same order.
    out_path : Path
        The markdown file; images go in ``assets_dir(out_path)``.
    plots : bool
        Draw the PNG plots (the slow part); without them the report has no Plots sections.
    html : bool
        Also write ``out_path`` with the suffix ``.html``: a page that renders the report offline
        (:mod:`derivcheck.report.html`). An ``out_path`` ending in ``.html`` writes only the page.
    pages : bool
        Write ``out_path`` as an index (the summary and how to read the pages) and one markdown
        page per case in ``pages_dir(out_path)``: short pages that GitHub renders quickly.

    Returns
    -------
    Path
        ``out_path``.

    Examples
    --------
    >>> from derivcheck.cases.files import load_paths  # doctest: +SKIP
    >>> from derivcheck.cases.run import run_case  # doctest: +SKIP
    >>> cases = load_paths(["cases/tutorials"]).cases  # doctest: +SKIP
    >>> write_report(cases, [run_case(c) for c in cases], Path("report.md"))  # doctest: +SKIP
    """
    if len(cases) != len(results):
        raise ValueError(f"{len(cases)} cases but {len(results)} results")
    out_path = Path(out_path)
    assets = assets_dir(out_path)
    names = _unique_names([c.id for c in cases])
    if pages:
        return _write_pages(cases, results, out_path, assets, names, plots=plots)
    sections = []
    for case, result, name in zip(cases, results, names):
        sections.append(case_section(case, result, assets, name, link_base=assets.name, plots=plots))
    text = ("# derivcheck report\n\n" + summary_table(cases, results) + "\n\n" + HOW_TO_READ + "\n\n"
            + "\n\n".join(sections) + "\n")
    if out_path.suffix.lower() in (".html", ".htm"):
        from derivcheck.report.html import write_html

        return write_html(text, out_path, assets)
    _write_text(out_path, text)
    if html:
        from derivcheck.report.html import write_html

        write_html(text, out_path.with_suffix(".html"), assets)
    return out_path


def _write_pages(cases: Sequence[Case], results: Sequence[CaseResult], out_path: Path, assets: Path,
                 names: Sequence[str], *, plots: bool) -> Path:
    """The index at ``out_path`` and one page per case beside it; every link is relative."""
    folder = pages_dir(out_path)
    folder.mkdir(parents=True, exist_ok=True)
    for case, result, name in zip(cases, results, names):
        section = case_section(case, result, assets, name, link_base=f"../{assets.name}", plots=plots)
        back = f"[← all cases](../{out_path.name})"
        _write_text(_inside(folder, folder / f"{name}.md"), f"{back}\n\n{section}\n\n{back}\n")
    index = summary_table(cases, results, links=[f"{folder.name}/{name}.md" for name in names])
    _write_text(out_path, "# derivcheck report\n\n" + index + "\n\n" + HOW_TO_READ + "\n")
    return out_path


def _unique_names(ids: Sequence[str]) -> list[str]:
    names: list[str] = []
    seen: set[str] = set()
    for case_id in ids:
        name = base = safe_name(case_id)
        k = 2
        while name in seen:
            name = f"{base}-{k}"
            k += 1
        seen.add(name)
        names.append(name)
    return names


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".report-", suffix=".md", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def summary_table(cases: Sequence[Case], results: Sequence[CaseResult], *, links: Sequence[str] | None = None) -> str:
    """One row per case: link (to its section, or to ``links[k]``), kind, verdict, whether it came
    out as expected, checks."""
    lines = [
        (f"{len(cases)} case(s): {sum(r.ok for r in results)} as expected, "
         f"{sum(not r.ok for r in results)} not."),
        "",
        "| case | kind | verdict | expected | outcome | checks |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for k, (case, result) in enumerate(zip(cases, results)):
        target = links[k] if links is not None else f"#{safe_name(case.id)}"
        kind = "gradient" if case.scalar else f"Jacobian {case.n_outputs}×{case.n_inputs}"
        verdict = result.verdict.value if result.verdict else "—"
        outcome = "ok" if result.ok else f"**{result.status.value}**"
        lines.append(
            f"| [{md_text(case.id)}]({target}) | {kind} | {verdict} | {case.expect.value} | {outcome} "
            f"| {len(result.rows)} |"
        )
    return "\n".join(lines)


def case_section(
    case: Case, result: CaseResult, assets: Path, name: str, *, link_base: str, plots: bool = True
) -> str:
    """The full section of one case (its heading is the case id, so links can find it)."""
    head = [f"## {md_text(case.id)}", ""]
    outcome = "as expected" if result.ok else f"{result.status.value.upper()}"
    verdict = result.verdict.value if result.verdict else "none"
    head.append(f"Verdict: **{verdict}** ({outcome}). File: {code(case.path.as_posix())}.")
    if result.message:
        head.append("\n" + md_text(result.message))
    parts = ["\n".join(head)]
    if result.status in (Status.ERROR, Status.TIMEOUT):
        return "\n\n".join(parts)
    cm = case_math(case)
    summed = summed_form(case)
    problem = problem_markdown(cm)
    if summed is not None:  # the sum as the case writes it, not its N terms multiplied out
        written = display(general_form_tex(summed)) + f"\n\nsummed over the data points i = 1, …, N = {summed.n}."
        problem = re.sub(r"```math\nf = .*?\n```", lambda _: written, problem, count=1, flags=re.DOTALL)
    parts.append("### The problem\n\n" + problem)
    tensor_md = tensor_section(cm)
    if tensor_md:
        claims = display_claims(cm, result)
        parts.append("### The computational graph and the backward pass\n\n" + tensor_md
                     + ("\n\nClaims:\n\n" + claims if claims else ""))
    elif summed is None:  # a sum over data is explained through its general term instead
        graph_md = graph_section(cm)
        if graph_md:
            parts.append("### The computational graph\n\n" + graph_md)
    if summed is not None or not tensor_md:
        parts.append("### Step-by-step derivation\n\n" + derivations_section(cm, result))
    title = "Gradient" if case.scalar else "Jacobian"
    if cm.hessian is not None:
        title += " and Hessian"
    if not tensor_md or cm.hessian is not None:  # the tensor view already gives each gradient in its shape
        parts.append(f"### {title}\n\n" + derivatives_section(cm))
    directional = directional_section(cm, result.steepest)
    if directional:
        parts.append("### Directional derivatives\n\n" + directional)
    try:
        drawn = plots_section(cm, assets, name, link_base) if plots else None
    except NotImplementedError as exc:  # a function the numpy evaluator does not know
        drawn = f"No plots: {md_text(str(exc))}."
    if drawn:
        parts.append("### Plots\n\n" + drawn)
    parts.append("### Verification\n\n" + verification_section(result, case))
    wrong = wrong_claims_section(cm, result)
    if wrong:
        parts.append("### Caught wrong claim\n\n" + wrong)
    descent = descent_section(cm)
    if descent:
        parts.append("### Gradient descent\n\n" + descent)
    return "\n\n".join(parts)


def plots_section(cm: CaseMath, assets: Path, name: str, link_base: str) -> str | None:
    """Tangent plots for one variable; contour and D_u f-against-angle plots for two."""
    from derivcheck.engines.numpy_eval import numeric
    from derivcheck.report import plots

    case = cm.case
    if not case.scalar or len(cm.symbols) not in (1, 2):
        return None
    f = numeric(case.outputs[0], cm.symbols)
    label = plain(case.outputs[0])
    label = label if len(label) <= 60 else "f"
    lines = []
    if len(cm.symbols) == 1:
        var = cm.symbols[0]
        shown = range(min(len(cm.points), TANGENT_POINTS))
        pairs = [(float(cm.points[k][var]), _slope(cm, k)) for k in shown]
        file = _inside(assets, assets / f"{name}-tangent.png")
        plots.tangent_plot(f, pairs, file, var=var.name, label=f"f({var.name}) = {label}")
        where = ", ".join(str(k + 1) for k in shown)
        return f"![f and its tangent line at point(s) {where}]({link_base}/{file.name})"
    subs = cm.points[0]
    point = [float(subs[s]) for s in cm.symbols]
    gradient = [_float(exact_value(cm.jacobian[0, j], subs)) for j in range(2)]
    if kinks(case.outputs[0], subs):
        gradient = [math.nan, math.nan]  # no gradient at a kink: draw no arrow
    directions = [tuple(float(c) for c in u) for u in case.directions]
    names = tuple(s.name for s in cm.symbols)
    contour = _inside(assets, assets / f"{name}-contour.png")
    plots.contour_plot(f, point, gradient, directions, contour, names=names, label="f")
    lines.append(f"![contours of f with the gradient and the directions at point 1]({link_base}/{contour.name})")
    if all(math.isfinite(g) for g in gradient):
        angle = _inside(assets, assets / f"{name}-directional.png")
        plots.directional_plot(gradient, directions, angle, names=names, label="f")
        lines.append(f"![D_u f against the angle of u at point 1]({link_base}/{angle.name})")
    return "\n\n".join(lines)


def _slope(cm: CaseMath, k: int) -> float:
    """f'(x_k), or nan at a kink (where no tangent exists)."""
    if kinks(cm.case.outputs[0], cm.points[k]):
        return math.nan
    return _float(exact_value(cm.jacobian[0, 0], cm.points[k]))


def _float(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
