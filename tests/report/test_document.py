"""The markdown report: a golden case section, KaTeX over the report of all of cases/, plots that
exist and are linked, byte-for-byte determinism, and file names that stay inside the output."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import sympy

from derivcheck.cases.files import load_paths, loads
from derivcheck.cases.run import run_case
from derivcheck.report.document import assets_dir, case_section, safe_name, write_report
from derivcheck.report.verification import diagnose

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "report_case_section.md"
KATEX_DIR = Path(__file__).resolve().parents[1] / "js"

GOLDEN_CASE = """
[[case]]
id = "golden-sse-descent"
title = "SSE(w) = (2-w)^2 + (4-2w)^2 + (6-3w)^2 = 14(w-2)^2, claimed with the sign flipped"
vars = ["w"]
f = "(2 - w)**2 + (4 - 2*w)**2 + (6 - 3*w)**2"
at = [{ w = 0 }, { w = 1 }]
order = 2
expect = "mismatch"
descent = { rate = "1/56", start = 0, steps = 8 }
[case.claims]
"d/dw" = "28*(2 - w)"
"d2/dwdw" = "28"
"""

SMALL_CASES = """
[[case]]
id = "one-variable"
vars = ["x"]
f = "x*sin(x)"
at = [{ x = 1 }, { x = -0.5 }]

[[case]]
id = "two-variables"
vars = ["x", "y"]
f = "x^2 + y^2"
at = { x = 1, y = 2 }
directions = [[1, 1], [3, 4]]
[case.claims]
grad = [2, 4]

[[case]]
id = "with-lets"
vars = ["a", "b", "c"]
let = { v = "b*c", u = "a + v" }
f = "3*u"
at = { a = 5, b = 3, c = 2 }

[[case]]
id = "products"
vars = ["x[2]"]
f = ["x[0] + 2*x[1]", "3*x[0] + 4*x[1]"]
at = { x = [0.5, -1.5] }
tangents = [[1, 1]]
cotangents = [[1, 1]]
"""


def _load(text: str, name: str = "cases.toml"):
    cases, errors = loads(textwrap.dedent(text), path=name)
    assert not errors, errors
    return cases, [run_case(c) for c in cases]


# -- one case's section, against a golden file ------------------------------------------------


#: a numeric cell of the verification table: value, error estimate and method. Its last digits come
#: from the CPU's vector math (AVX2 and AVX-512 round differently), so the golden file holds a
#: placeholder and ``_check_numeric_cells`` checks the values against the exact column instead.
_NUMERIC_CELL = re.compile(r"(-?[0-9][0-9.e+-]*) ± ([0-9][0-9.e+-]*) \(([a-z-]+)\)")


_LARGEST_ERROR = re.compile(r"\(largest error [0-9.e+-]+, tolerance")


def _machine_independent(text: str) -> str:
    text = _LARGEST_ERROR.sub("(largest error ≈, tolerance", text)
    return _NUMERIC_CELL.sub(lambda m: f"≈ ± (estimate, {m.group(3)})", text)


def _check_numeric_cells(text: str) -> None:
    """Each numeric value lies within 4 of its own error estimates of the exact value of its row."""
    seen = 0
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        match = next((m for c in cells if (m := _NUMERIC_CELL.fullmatch(c))), None)
        if match is None:
            continue
        exact = float(sympy.Rational(cells[2]))
        value, estimate = float(match.group(1)), float(match.group(2))
        assert abs(value - exact) <= 4 * estimate + 1e-15 * abs(exact), line
        seen += 1
    assert seen >= 4


def test_golden_masking_is_honest():
    """The mask hides only the CPU-dependent digits: a wrong numeric value is still caught."""
    row = "| 1 | `df/dw` | -56 | -56 | -56 | -55.9 ± 3.1e-13 (complex-step) | d/dw: 56 ✗ | 112 | 5.61e-08 | x |"
    with pytest.raises(AssertionError):
        _check_numeric_cells("\n".join([row] * 4))
    assert _machine_independent(row).count("≈ ± (estimate, complex-step)") == 1



def test_golden_case_section(tmp_path):
    cases, results = _load(GOLDEN_CASE, "golden.toml")
    text = case_section(cases[0], results[0], tmp_path / "report_assets", "golden-sse-descent",
                        link_base="report_assets")
    _check_numeric_cells(text)
    text = _machine_independent(text)
    if os.environ.get("DERIVCHECK_UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text + "\n", encoding="utf-8")
    assert text + "\n" == GOLDEN.read_text(encoding="utf-8"), (
        "the case section changed; if on purpose, rerun with DERIVCHECK_UPDATE_GOLDEN=1 and review the diff"
    )
    assert (tmp_path / "report_assets" / "golden-sse-descent-tangent.png").is_file()


def test_golden_section_contents():
    """What the golden section must say, independently of its exact wording elsewhere."""
    text = GOLDEN.read_text(encoding="utf-8")
    order = ["### The problem", "### Step-by-step derivation",
             "### Gradient and Hessian", "### Plots", "### Verification", "### Caught wrong claim",
             "### Gradient descent"]
    positions = [text.index(h) for h in order]
    assert positions == sorted(positions)
    assert "What is wrong: the sign: the claim is the negative of the derivative." in text
    # w_n = w* + (w_0 - w*) (1 - rate f'')^n = 2 + (0 - 2) (1/2)^n
    assert "= 2 + (0 - 2) \\left(\\frac{1}{2}\\right)^{n} = 2 - 2 \\cdot 2^{- n}" in text
    for n, w_n in enumerate(["0", "1", "1.5", "1.75", "1.875", "1.9375", "1.96875", "1.984375", "1.9921875"]):
        assert f"| {n} | {w_n} |" in text
    assert "**Chain rule**" in text and "**Sum rule**" in text
    # the Hessian is written nabla^2 f: H means only the step function
    assert "\\nabla^{2} f = " in text and "H = " not in text


# -- the whole of cases/: every math fragment renders ---------------------------------------------


def math_fragments(text: str) -> list[dict]:
    """Display math (```math fences, also indented in list items) and inline $`...`$ math."""
    fragments = []
    for m in re.finditer(r"^( *)```math\n(.*?)\n\1```$", text, re.DOTALL | re.MULTILINE):
        fragments.append({"tex": textwrap.dedent(m.group(2)), "display": True, "where": f"offset {m.start()}"})
    for m in re.finditer(r"\$`(.*?)`\$", text):
        fragments.append({"tex": m.group(1), "display": False, "where": f"offset {m.start()}"})
    return fragments


def outside_math(text: str) -> str:
    text = re.sub(r"^( *)```(math|mermaid)\n.*?\n\1```$", "", text, flags=re.DOTALL | re.MULTILINE)
    return re.sub(r"\$`[^`]*`\$", "", text)


@pytest.fixture(scope="module")
def full_report(tmp_path_factory) -> str:
    loaded = load_paths([ROOT / "cases"])
    assert loaded.cases and not loaded.errors
    results = [run_case(c) for c in loaded.cases]
    out = tmp_path_factory.mktemp("full") / "report.md"
    write_report(loaded.cases, results, out, plots=False)
    return out.read_text(encoding="utf-8")


def test_report_of_all_cases_has_sections_and_no_stray_math(full_report):
    assert full_report.count("\n## ") == len(load_paths([ROOT / "cases"]).cases) + 1  # and "How to read"
    rest = outside_math(full_report)
    # a lone $ outside the $`...`$ form would start GitHub math in the wrong place
    assert not re.search(r"(?<!\\)\$", rest), re.search(r".{0,60}(?<!\\)\$.{0,60}", rest).group(0)
    assert "```math" in full_report and "```mermaid" in full_report


def test_every_math_fragment_renders_with_katex(full_report):
    node = shutil.which("node")
    if node is None or not (KATEX_DIR / "node_modules" / "katex").is_dir():
        pytest.skip("KaTeX not installed: npm ci --prefix tests/js")
    fragments = math_fragments(full_report)
    assert len(fragments) > 500
    out = subprocess.run([node, str(KATEX_DIR / "katex_check.js")], input=json.dumps(fragments),
                         capture_output=True, text=True, check=True, timeout=120)
    report = json.loads(out.stdout)
    assert report["rendered"] == len(fragments)
    failures = report["failures"]
    assert not failures, "\n".join(f"{f['error']}\n    {f['tex'][:300]}" for f in failures[:5])


def test_katex_checker_catches_broken_math():
    node = shutil.which("node")
    if node is None or not (KATEX_DIR / "node_modules" / "katex").is_dir():
        pytest.skip("KaTeX not installed: npm ci --prefix tests/js")
    broken = [{"tex": r"\frac{1}{", "display": False, "where": "a"},
              {"tex": r"x^{2}^{2}", "display": True, "where": "b"},
              {"tex": r"\frac{1}{2}", "display": False, "where": "c"}]
    out = subprocess.run([node, str(KATEX_DIR / "katex_check.js")], input=json.dumps(broken),
                         capture_output=True, text=True, check=True, timeout=60)
    assert [f["where"] for f in json.loads(out.stdout)["failures"]] == ["a", "b"]


# -- plots, links, determinism -----------------------------------------------------------------


def test_plots_exist_and_are_referenced(tmp_path):
    cases, results = _load(SMALL_CASES)
    out = write_report(cases, results, tmp_path / "out" / "report.md")
    text = out.read_text(encoding="utf-8")
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert links, "no images linked"
    assets = assets_dir(out)
    assert assets == tmp_path / "out" / "report_assets"
    for link in links:
        assert not link.startswith("/") and link.startswith("report_assets/")
        assert (out.parent / link).is_file(), link
    on_disk = sorted(p.name for p in assets.iterdir())
    assert on_disk == sorted(Path(link).name for link in links)  # nothing unlinked
    assert on_disk == ["one-variable-tangent.png", "two-variables-contour.png", "two-variables-directional.png"]


def test_report_sections_for_small_cases(tmp_path):
    cases, results = _load(SMALL_CASES)
    text = write_report(cases, results, tmp_path / "r.md", plots=False).read_text(encoding="utf-8")
    assert "| [two-variables](#two-variables) |" in text
    # directional table at (1, 2): axes, u1 = (1,1)/sqrt 2, u2 = (3,4)/5, and the gradient's own direction
    assert "| axis x | (1, 0) | 2 |" in text and "| axis y | (0, 1) | 4 |" in text
    assert "| u2 | (0.6, 0.8) | 4.4 |" in text
    # direction cosines worked with numbers: f_x cos α + f_y cos β at (1, 2) along (3, 4)/5
    assert "D_u f = f_x cos α + f_y cos β = (2)(0.6) + (4)(0.8) = 4.4" in text
    assert "‖∇f‖ = 2·sqrt(5) ≈ 4.47214" in text
    assert "| ∇f / ‖∇f‖ (the gradient) |" in text and "| 1 | 0.00 |" in text
    assert "(squares sum to 1)" in text
    # graph from lets, with the backward pass
    assert '["v = b·c<br>= 6"]' in text and "\\bar{a} = \\bar{u}" in text
    # J v and v^T J side by side
    assert "| (3, 7) | (3, 7) | (4, 6) | (4, 6) | pass |" in text


def _report_in_subprocess(case_file: Path, out: Path, seed: str) -> None:
    env = dict(os.environ, PYTHONHASHSEED=seed)
    subprocess.run([sys.executable, "-m", "derivcheck", "report", str(case_file), "-o", str(out)],
                   cwd=ROOT, env=env, check=True, capture_output=True, timeout=120)


def test_same_input_same_bytes(tmp_path):
    """This process and a fresh one with another hash seed write identical files."""
    case_file = tmp_path / "cases.toml"
    case_file.write_text(textwrap.dedent(SMALL_CASES) + textwrap.dedent(GOLDEN_CASE), encoding="utf-8")
    first, second = tmp_path / "a" / "report.md", tmp_path / "b" / "report.md"
    loaded = load_paths([case_file])
    write_report(loaded.cases, [run_case(c) for c in loaded.cases], first)
    seed = "0" if os.environ.get("PYTHONHASHSEED") != "0" else "1"
    _report_in_subprocess(case_file, second, seed)  # no dependence on set order or process state
    assert first.read_bytes() == second.read_bytes()
    names = sorted(p.name for p in assets_dir(first).iterdir())
    assert names == sorted(p.name for p in assets_dir(second).iterdir()) and names
    for name in names:
        assert (assets_dir(first) / name).read_bytes() == (assets_dir(second) / name).read_bytes(), name
    text = first.read_text(encoding="utf-8")
    assert str(tmp_path / "a") not in text  # links are relative


# -- file names from case ids --------------------------------------------------------------------


@pytest.mark.parametrize(("case_id", "want"), [
    ("sse-one-weight", "sse-one-weight"),
    ("../../etc/passwd", "etc-passwd"),
    ("/abs/path", "abs-path"),
    ("..", "case"),
    ("UPPER Case_name", "upper-case-name"),
    ("a" * 200, "a" * 80),
])
def test_safe_name(case_id, want):
    assert safe_name(case_id) == want


def test_hostile_ids_write_nothing_outside_the_output_folder(tmp_path):
    cases, results = _load(SMALL_CASES)
    evil = [dataclasses.replace(c, id=i) for c, i in zip(cases[:2], ["../../escape", "../../escape"])]
    out_dir = tmp_path / "out"
    write_report(evil, results[:2], out_dir / "report.md")
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert all(w.startswith("out/") for w in written), written
    assert not (tmp_path / "escape-tangent.png").exists()
    names = sorted(p.name for p in (out_dir / "report_assets").iterdir())
    assert names == ["escape-2-contour.png", "escape-2-directional.png", "escape-tangent.png"]


# -- what is wrong with a claim ------------------------------------------------------------------


def test_diagnose_wrong_claims():
    w = sympy.Symbol("w", real=True)
    correct = 28 * (w - 2)
    assert diagnose(28 * (2 - w), correct).startswith("the sign")
    assert diagnose(14 * (w - 2), correct) == "a constant factor: the claim is 0.5 times the derivative"
    assert diagnose(28 * w - 55, correct) == "a constant offset: the claim differs from the derivative by 1"
    assert "claim minus the derivative" in diagnose(w**2, correct)


def test_kink_points_are_flagged_not_given_a_tangent(tmp_path):
    cases, results = _load("""
    [[case]]
    id = "relu-kink"
    vars = ["x"]
    f = "relu(x)"
    at = { x = 0 }
    expect = "not-differentiable"
    """)
    text = write_report(cases, results, tmp_path / "r.md").read_text(encoding="utf-8")
    assert "This point sits on a kink" in text
    assert "relu'(0) taken as 0, as torch does; not differentiable there" in text
    assert "**not differentiable**" in text and "one-sided" in text
    assert (tmp_path / "r_assets" / "relu-kink-tangent.png").is_file()


def test_a_jacobian_case_with_intermediates_gets_one_graph_per_output():
    (case,), errors = loads(textwrap.dedent('''
        [[case]]
        id = "two-outputs"
        vars = ["a", "b"]
        let = { u = "a*b" }
        f = ["u + a", "u*b"]
        at = { a = 2, b = 3 }
    '''))
    assert not errors
    from derivcheck.report.worked import case_math, graph_section

    text = graph_section(case_math(case))
    assert text is not None
    assert text.count("```mermaid") == 2 and "#### Output f0" in text and "#### Output f1" in text
    # f1 = u*b reaches b twice: directly and through u; the backward pass sums both paths (3*2 + 6 = 12)
    assert "= 12" in text.split("#### Output f1")[1]


# -- a tensor-level section and structured derivations ----------------------------------------------

TENSOR_GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "report_tensor_section.md"


def _case(case_id: str):
    case = next(c for c in load_paths([ROOT / "cases"]).cases if c.id == case_id)
    case = dataclasses.replace(case, path=case.path.relative_to(ROOT))  # golden text names no machine's folder
    return case, run_case(case)


def test_golden_tensor_section(tmp_path):
    """The two-layer network: six nodes with shapes, the backward pass in matrix form, values as matrices."""
    case, result = _case("two-layer-relu-net")
    text = _machine_independent(case_section(case, result, tmp_path / "a", "two-layer-relu-net", link_base="a"))
    if os.environ.get("DERIVCHECK_UPDATE_GOLDEN"):
        TENSOR_GOLDEN.write_text(text + "\n", encoding="utf-8")
    assert text + "\n" == TENSOR_GOLDEN.read_text(encoding="utf-8"), (
        "the tensor section changed; if on purpose, rerun with DERIVCHECK_UPDATE_GOLDEN=1 and review the diff"
    )
    assert "h_pre [3×3] = x@w1" in text and "w1 [2×3]" in text
    assert "-->|\"w̄1 += xᵀ h̄_pre\"|" in text  # edges carry the local rule in matrix form
    assert r"\bar{w}_{2} &= h^{T} \bar{y}_{pred}" in text and r"\bar{h} &= \bar{y}_{pred} w_{2}^{T}" in text
    assert r"\bar{h}_{pre} &= \bar{h} \odot \mathbb{1}[h_{pre} > 0]" in text
    # dL/dW1 at point 1, in W1's shape; torch's autograd gives the same numbers (verification table)
    assert r"\begin{bmatrix} -0.2362 & -4.39194 & -0.16 \\ 1.292 & 1.73068 & 0.08 \end{bmatrix}" in text


def test_chain_rule_named_through_the_intermediates():
    from derivcheck.report.derivation import derivations_section
    from derivcheck.report.worked import case_math

    case, result = _case("chain-rule-graph")
    text = derivations_section(case_math(case), result)
    assert (r"\frac{df}{db} &= \frac{\partial f}{\partial u}\,\frac{\partial u}{\partial v}\,\frac{\partial v}{\partial b}"
            r" = 3 \cdot 1 \cdot c = 3 c") in text
    assert r"$`\frac{\partial v}{\partial c} = b`$" in text and "✓ agrees" in text


def test_regression_derivation_ends_in_the_claims_form():
    from derivcheck.report.derivation import derivations_section
    from derivcheck.report.worked import case_math

    case, result = _case("mse-regression-bias-sign-error")
    text = derivations_section(case_math(case), result)
    # -(2/N) sum_i (y_i - yp_i), the data as written, the claim's sign error caught beside it
    assert r"\frac{\partial f}{\partial b} = - \frac{2}{N} \sum_{i=1}^{N} \left(ys_{i} - yp_{i}\right)" in text
    assert r"-0.5 \cdot \left(0.6 + 1.4 + 2.7 + 3.3\right) = -4" in text
    assert r"Claimed (`d/db`): $`\frac{2}{N} \sum_{i=1}^{N} \left(ys_{i} - yp_{i}\right)`$ — ✗ **wrong**" in text
    assert "21/10" not in text and r"\frac{21}{10}" not in text
