"""The command line end to end: tables, exit codes, -k, --json, list, and a light --help."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from derivcheck.cli import main

GOOD = """
[[case]]
id = "square"
vars = ["x"]
f = "x^2"
at = { x = 1 }
[case.claims]
"d/dx" = 2

[[case]]
id = "paraboloid"
vars = ["x", "y"]
f = "x^2 + y^2"
at = { x = 1, y = 2 }
directions = [[3, 4]]
[case.claims]
directional = ["22/5"]
"""

WRONG = """
[[case]]
id = "wrong-claim"
vars = ["x"]
f = "x^3"
at = { x = 2 }
[case.claims]
"d/dx" = 3
"""

BROKEN = """
[[case]]
id = "broken"
vars = ["x"]
f = "x +"
at = { x = 1 }
"""


def cli(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(args), out=out)
    return code, out.getvalue()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "sub").mkdir()
    (tmp_path / "good.toml").write_text(GOOD, encoding="utf-8")
    return tmp_path


def test_run_passes_and_prints_a_summary(folder: Path) -> None:
    code, text = cli("run", str(folder))
    assert code == 0
    assert "square" in text and "paraboloid" in text
    assert "2 cases: 2 ok, 0 failed, 0 errors" in text


def test_a_wrong_claim_fails_the_run_and_names_the_case(folder: Path) -> None:
    (folder / "sub" / "wrong.toml").write_text(WRONG, encoding="utf-8")
    code, text = cli("run", str(folder))
    assert code == 1
    line = next(l for l in text.splitlines() if "wrong-claim" in l)
    assert line.startswith("FAIL")
    assert "claim d/dx = '3' gives 3, exact is 12" in text


def test_a_broken_case_is_reported_and_the_rest_still_run(folder: Path) -> None:
    (folder / "sub" / "broken.toml").write_text(BROKEN, encoding="utf-8")
    code, text = cli("run", str(folder))
    assert code == 2
    assert "case 'broken': field 'f'" in text
    assert "3 cases: 2 ok, 0 failed, 1 errors" in text


def test_select_with_k_and_write_json(folder: Path, tmp_path: Path) -> None:
    target = tmp_path / "out" / "results.json"
    code, text = cli("run", str(folder), "-k", "para", "--json", str(target))
    assert code == 0 and "square" not in text
    data = json.loads(target.read_text())
    (result,) = data["results"]
    assert result["case_id"] == "paraboloid" and result["status"] == "ok"
    directional = [r for r in result["rows"] if r["quantity"] == "directional"]
    assert directional[0]["exact"] == pytest.approx(22 / 5)
    assert directional[0]["claims"][0]["text"] == "22/5"


def test_verbose_prints_every_row_and_the_steepest_check(folder: Path) -> None:
    code, text = cli("run", str(folder / "good.toml"), "-v")
    assert code == 0
    assert "D_u1 f" in text and "steepest @0" in text


def test_list(folder: Path) -> None:
    code, text = cli("list", str(folder))
    assert code == 0 and "square" in text and "2 cases, 0 errors" in text


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    code, _ = cli("run", str(tmp_path / "nope"))
    assert code == 2


def test_help_does_not_import_torch() -> None:
    probe = "import sys\nfrom derivcheck.cli import build_parser\nbuild_parser()\nprint('torch' in sys.modules, 'sympy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False False"
