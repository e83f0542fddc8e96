"""One page per case with an index: every link from the index reaches a page, every image a page
links exists, every page links back, and the index stays small."""

from __future__ import annotations

import io
import re
from pathlib import Path

from derivcheck.cli import main

CASES = """
[[case]]
id = "two-variables"
vars = ["x", "y"]
f = "x**2 * y"
at = { x = 1, y = 2 }
[case.claims]
grad = ["2*x*y", "x**2"]

[[case]]
id = "one-variable"
vars = ["x"]
f = "sin(x)"
at = { x = 0.5 }
"""


def test_pages_mode_writes_an_index_and_one_linked_page_per_case(tmp_path: Path) -> None:
    source = tmp_path / "c.toml"
    source.write_text(CASES, encoding="utf-8")
    out = io.StringIO()
    assert main(["report", str(source), "-o", str(tmp_path / "out" / "report.md"), "--pages", "--timeout", "0"],
                out=out) == 0
    index = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\((report_pages/[^)]+\.md)\)", index)
    assert links == ["report_pages/two-variables.md", "report_pages/one-variable.md"]
    assert "## two-variables" not in index  # the sections live on their pages
    for link in links:
        page_path = tmp_path / "out" / link
        page = page_path.read_text(encoding="utf-8")
        assert page.startswith("[← all cases](../report.md)")
        images = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", page)
        assert images, link
        for image in images:
            assert (page_path.parent / image).resolve().is_file(), image


def test_pages_and_html_together_are_one_clear_error(tmp_path: Path, capsys) -> None:
    source = tmp_path / "c.toml"
    source.write_text(CASES, encoding="utf-8")
    code = main(["report", str(source), "-o", str(tmp_path / "r.md"), "--pages", "--html"], out=io.StringIO())
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--pages" in err and "choose one" in err
