"""The report of cases/ opened in headless Chromium the way GitHub renders it: no KaTeX error, no
mermaid error, no broken image, no diagram scaled below 60% of its natural width in an 830 px column.

Needs Debian's ``chromium`` (``apt-get install -y chromium``; ``.ci/run`` installs it) and the npm
packages of ``tests/js`` (``npm ci --prefix tests/js``: KaTeX, mermaid, markdown-it, puppeteer-core;
no browser is downloaded). Skips, saying which is missing, only where they cannot be had.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from derivcheck.cases.files import load_paths
from derivcheck.cases.run import run_case
from derivcheck.report.document import write_report
from derivcheck.report.html import AssetsMissing, node_modules

ROOT = Path(__file__).resolve().parents[2]
JS = ROOT / "tests" / "js"


def _chromium() -> str | None:
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def _render(page: Path) -> dict:
    node, chromium = shutil.which("node"), _chromium()
    if node is None:
        pytest.skip("node is not installed")
    if chromium is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium; .ci/run does it where it can)")
    if not (JS / "node_modules" / "puppeteer-core").is_dir():
        pytest.skip("puppeteer-core is not installed: npm ci --prefix tests/js")
    out = subprocess.run([node, str(JS / "render_check.js"), str(page), chromium],
                         capture_output=True, text=True, timeout=900, cwd=page.parent)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> tuple[dict, str]:
    try:
        node_modules()
    except AssetsMissing as exc:
        pytest.skip(str(exc))
    loaded = load_paths([ROOT / "cases"])
    results = [run_case(c) for c in loaded.cases]
    out = tmp_path_factory.mktemp("browser") / "report.md"
    write_report(loaded.cases, results, out, html=True)
    return _render(out.with_suffix(".html")), out.read_text(encoding="utf-8")


def test_report_of_cases_renders_without_errors(rendered):
    report, text = rendered
    assert report["katex_errors"] == [] and report["mermaid_errors"] == []
    assert report["broken_images"] == [] and report["failed_requests"] == []
    assert report["displays"] == text.count("```math") and report["displays"] > 100
    assert report["inlines"] > 500 and report["rendered_katex"] >= report["displays"] + report["inlines"]
    assert report["diagrams"] == text.count("```mermaid") == report["rendered_svgs"] > 20
    assert report["images"] > 20


def test_every_diagram_is_legible_in_an_830px_column(rendered):
    report, _ = rendered
    assert report["narrow_diagrams"] == [], report["narrow_diagrams"]
    assert report["min_ratio"] >= 0.6


def test_checker_sees_broken_math_diagrams_and_images(tmp_path):
    """The checker is not blind: a bad formula, a bad diagram, a missing image and a wide diagram."""
    try:
        modules = node_modules()
    except AssetsMissing as exc:
        pytest.skip(str(exc))
    from derivcheck.report.html import copy_assets, html_page

    wide = "flowchart LR\n" + "\n".join(f"  n{i}[\"a long label number {i}\"] --> n{i + 1}" for i in range(14))
    markdown = ("```math\n\\frac{1}{\n```\n\n$`x^{2}`$ fine\n\n```mermaid\nflowchart LR\n  a -->|\"x\" b\n```\n\n"
                f"```mermaid\n{wide}\n```\n\n![missing](nowhere.png)\n")
    copy_assets(tmp_path / "t_assets", modules)
    page = tmp_path / "t.html"
    page.write_text(html_page(markdown, "t_assets/js"), encoding="utf-8")
    report = _render(page)
    assert len(report["katex_errors"]) == 1 and report["inlines"] == 1
    assert report["mermaid_errors"]
    assert report["broken_images"] == ["nowhere.png"]
    assert report["narrow_diagrams"] and report["min_ratio"] < 0.6
