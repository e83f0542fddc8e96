"""The pytest plugin end to end with ``pytester``: case files become test items, failures show
the comparator's table, ``expect = "mismatch"`` passes when the wrong claim is caught, files
without cases are ignored, load errors fail with one line, and collection stays light."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
REGISTERED = any(ep.name == "derivcheck" for ep in importlib.metadata.entry_points(group="pytest11"))
# the plugin loads through its entry point when the package is installed; name it otherwise
PLUGIN = () if REGISTERED else ("-p", "derivcheck.pytest_plugin")

GOOD = '''
[[case]]
id = "square"
vars = ["x"]
f = "x**2"
at = { x = 3 }
[case.claims]
"d/dx" = "2*x"

[[case]]
id = "product"
vars = ["x", "y"]
f = "x*y"
at = { x = 2, y = 5 }
'''

CAUGHT = '''
[[case]]
id = "sign-error-caught"
vars = ["w", "b"]
f = "(3 - (w + b))**2"
at = { w = 1, b = 0.5 }
expect = "mismatch"
[case.claims]
"d/db" = "2*(3 - (w + b))"
'''

WRONG = '''
[[case]]
id = "sign-error-unmarked"
vars = ["w", "b"]
f = "(3 - (w + b))**2"
at = { w = 1, b = 0.5 }
[case.claims]
"d/db" = "2*(3 - (w + b))"
'''

BROKEN_CASE = '''
[[case]]
id = "typo"
vars = ["x"]
f = "x**2"
at = { x = 1 }
sampel = 3

[[case]]
id = "fine"
vars = ["x"]
f = "x**3"
at = { x = 1 }
'''


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    # in a subprocess: torch and numpy cannot be imported twice in one process, as in-process runs would
    return pytester.runpytest_subprocess(*PLUGIN, "-p", "no:cacheprovider", *args)


@pytest.fixture
def tree(pytester: pytest.Pytester) -> pytest.Pytester:
    """A project with case files of every kind, a TOML file without cases, and a pyproject.toml."""
    pytester.makefile(".toml", good=GOOD, caught=CAUGHT, wrong=WRONG, broken=BROKEN_CASE, bad="[[case]]\nid = \n",
                      dup=GOOD + GOOD.replace('id = "product"', 'id = "other"'), pyproject='[project]\nname = "x"\n')
    folder = pytester.mkdir("more")
    (folder / "settings.toml").write_text("[tool.other]\nkey = 1\n", encoding="utf-8")
    (folder / "square.toml").write_text(GOOD.replace("square", "square-2").replace("product", "product-2"),
                                         encoding="utf-8")
    return pytester


def test_case_files_end_to_end(tree: pytest.Pytester) -> None:
    result = run(tree, "-v", "-rf", ".")
    # good 2 + more/square 2 + caught 1 + broken's fine case 1 + dup 3 pass; wrong, typo, bad, duplicate fail
    result.assert_outcomes(passed=9, failed=4)
    out = result.stdout
    out.fnmatch_lines_random([
        "*good.toml::square PASSED*",
        "*good.toml::product PASSED*",
        "*more/square.toml::square-2 PASSED*",
        "*caught.toml::sign-error-caught PASSED*",  # expect = "mismatch": passes when the wrong claim is caught
        "*broken.toml::fine PASSED*",
        "*wrong.toml::sign-error-unmarked FAILED*",
    ])
    # the failing case shows its message and the comparator's table of the rows that did not pass
    out.fnmatch_lines([
        "*case 'sign-error-unmarked'*failed*",
        "*wrong claim*d/db*",
        "*point*entry*exact*reverse*forward*numeric*verdict*",
        "*df/db*mismatch (claim wrong)*",
        "*sign flipped*",
    ])
    # load errors are one line each: the file, the case and the field
    out.fnmatch_lines_random([
        "*broken.toml: case 'typo': field 'sampel': unknown key (did you mean 'sample'?)*",
        "*bad.toml: cannot read cases: *",
        "*dup.toml: case 'square': field 'id': id is already used in this file*",
    ])
    assert "settings.toml" not in out.str() and "pyproject.toml::" not in out.str()
    assert "Traceback" not in out.str()


def test_keyword_selection_works_on_case_ids(tree: pytest.Pytester) -> None:
    result = run(tree, "--collect-only", "-q", "-k", "product", "good.toml")
    result.stdout.fnmatch_lines(["good.toml::product", "*1/2 tests collected (1 deselected)*"])


def test_collection_imports_nothing_heavy(tree: pytest.Pytester) -> None:
    pytester = tree
    pytester.makeconftest(
        "import sys\n"
        "def pytest_collection_finish(session):\n"
        "    print('HEAVY', 'sympy' in sys.modules, 'torch' in sys.modules)\n"
    )
    result = run(pytester, "--collect-only", "-s", ".")
    result.stdout.fnmatch_lines(["*HEAVY False False*", "*13 tests collected*"])


def test_the_plugin_module_is_light_to_import() -> None:
    code = "import sys, derivcheck.pytest_plugin; print('sympy' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_the_entry_point_is_declared() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["entry-points"]["pytest11"] == {"derivcheck": "derivcheck.pytest_plugin"}


# --- check_grad inside the user's tests ------------------------------------------------------------

USER_TESTS = '''
import torch
from derivcheck import check_grad


def test_right():
    x = torch.linspace(-1, 1, 4, dtype=torch.float64, requires_grad=True)
    check_grad(lambda t: (t.sin() * t).sum(), x)


def test_cut():
    x = torch.linspace(-1, 1, 4, dtype=torch.float64, requires_grad=True)
    check_grad(lambda t: (t.detach().sin() * t).sum(), x)


def plus_one(t: torch.Tensor) -> torch.Tensor:
    return t + 1


def test_own_script_warning_still_shows():
    torch.jit.script(plus_one)
'''


def test_a_failing_check_grad_shows_its_message_not_its_source(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=USER_TESTS)
    result = run(pytester, "-W", "default", "test_user.py")
    result.assert_outcomes(passed=2, failed=1)
    out = result.stdout
    out.fnmatch_lines(["*DerivativeMismatch*reverse mode and forward mode are wrong*",
                       "*likely cause: a path is cut: .detach() on a value computed from 't'*"])
    out.no_fnmatch_line("*Check the derivatives of ``func``*")  # check_grad's docstring: its frame is hidden
    out.no_fnmatch_line("*result = _check_callable*")
    # torch's own import-time deprecation warnings are filtered; the user's own use of torch.jit.script is not
    assert out.str().count("torch.jit.script` is deprecated") == 1
    out.fnmatch_lines(["*test_user.py::test_own_script_warning_still_shows*"])


def test_the_plugin_under_xdist(tree: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    result = run(tree, "-n", "2", "-p", "xdist", "good.toml", "caught.toml", "wrong.toml", "more")
    result.assert_outcomes(passed=5, failed=1)
    result.stdout.fnmatch_lines(["*2 workers*", "*case 'sign-error-unmarked'*failed*", "*sign flipped*"])


def test_running_cases_does_not_import_torchs_compiler_stack(tree: pytest.Pytester) -> None:
    # torch.func's reverse transforms, and forward mode mixing dual and plain operands, import
    # torch._dynamo on first use: seconds that every xdist worker would pay for its first case
    tree.makefile(".toml", constants='''
[[case]]
id = "layer-norm-like"
vars = ["x[3]"]
data = { eps = 1e-5 }
let = { mu = "mean(x)", c = "x - mu", s = "sqrt(mean(c**2) + eps)" }
f = ["c[0]/s + 1", "2*c[1]/s"]
at = { x = [1.0, 2.0, 4.0] }
order = 2
''')
    tree.makeconftest(
        "import sys\n"
        "def pytest_sessionfinish(session):\n"
        "    print('DYNAMO', 'torch._dynamo' in sys.modules, 'torch' in sys.modules)\n"
    )
    result = run(tree, "-s", "good.toml", "constants.toml")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*DYNAMO False True*"])
