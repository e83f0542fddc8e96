"""Case files are untrusted data: hostile text never runs, limits stop runaway input in well under
a second, and every bad case is one clear error naming the file and the case while the rest runs.
"""

from __future__ import annotations

import ast
import builtins
import io
import re
import time
from pathlib import Path

import numpy as np
import pytest
import sympy

from derivcheck.cases.files import load_paths, loads
from derivcheck.cli import main
from derivcheck.errors import CaseError, ExpressionError
from derivcheck.language.limits import LIMITS
from derivcheck.language.parser import parse

PACKAGE = Path(__file__).resolve().parents[2] / "derivcheck"
SHIPPED = Path(__file__).resolve().parents[2] / "cases"

x, y = sympy.symbols("x y", real=True)
V = np.array(sympy.symbols("v:400", real=True), dtype=object)
NAMES = {"x": x, "y": y, "v": V}


def case_text(body: str, case_id: str = "c") -> str:
    return f'[[case]]\nid = "{case_id}"\n{body}\n'


def only_error(text: str, path: str = "hostile.toml") -> CaseError:
    cases, errors = loads(text, path=path)
    assert cases == []
    assert len(errors) == 1
    return errors[0]


# Never execute ---------------------------------------------------------------------------------
HOSTILE_EXPRESSIONS = [
    ("__import__('os').system('touch {sentinel}')", r"only named functions can be called"),
    ("__import__('os')", r"name '__import__' is not allowed \(no dunder names\)"),
    ("().__class__.__bases__[0].__subclasses__()", r"only named functions can be called"),
    ("x.__class__.__mro__", r"attribute '__mro__' is not allowed \(only \.T\)"),
    ("x.__class__", r"attribute '__class__' is not allowed"),
    ("[c for c in ().__class__.__base__.__subclasses__()]", r"ListComp .* is not allowed"),
    ("eval('1+1')", r"unknown function 'eval'"),
    ("exec('import os')", r"unknown function 'exec'"),
    ("open('/etc/passwd')", r"unknown function 'open'"),
    ("getattr(x, '__class__')", r"unknown function 'getattr'"),
    ("globals()", r"unknown function 'globals'"),
    ("lambda: 1", r"Lambda .* is not allowed"),
    ("(lambda: __import__('os'))()", r"only named functions can be called"),
    ("(a := 1)", r"NamedExpr .* is not allowed"),
    ("'text'", r"literal 'text' is not allowed \(numbers only\)"),
    ("b'bytes'", r"literal b'bytes' is not allowed"),
    ("f'{x}'", r"JoinedStr .* is not allowed"),
    ("x if y else 1", r"where\(\) needs a condition"),
    ("sum(c for c in ().__class__.__base__.__subclasses__())", r"an index runs over range"),
    ("sum(__import__('os') for k in range(1))", r"name '__import__' is not allowed"),
    ("sum(k for k in range(__import__('os')))", r"range\(\) bounds must be small integer literals"),
    ("sum(k for __class__ in range(2))", r"index name '__class__' is already a name"),
    ("where(x.__class__ < 1, 1, 2)", r"attribute '__class__' is not allowed"),
    ("{'a': 1}", r"Dict .* is not allowed"),
    ("sin(*[x])", r"sin\(\) takes plain positional arguments only"),
    ("sin(x=1)", r"sin\(\) takes plain positional arguments only"),
    ("import os", r"cannot parse 'import os'"),
    ("x; __import__('os')", r"cannot parse"),
    ("__builtins__", r"name '__builtins__' is not allowed"),
    ("sympify('x')", r"unknown function 'sympify'"),
    ("lambdify(x, x)", r"unknown function 'lambdify'"),
    ("E.__class__", r"attribute '__class__' is not allowed"),
    ("pi.evalf(10**9)", r"only named functions can be called"),
    ("x.subs", r"attribute 'subs' is not allowed"),
    ("\uff58 + 1", r"character '\uff58' \(U\+FF58\) is not allowed"),  # NFKC would fold it to x
    ("\U0001d465", r"character .* is not allowed"),
    ("x\x00", r"character '\\x00' \(U\+0000\) is not allowed"),
]


@pytest.mark.parametrize(("text", "message"), HOSTILE_EXPRESSIONS, ids=[t for t, _ in HOSTILE_EXPRESSIONS])
def test_hostile_expression_is_one_clear_error_and_never_runs(text, message, tmp_path):
    sentinel = tmp_path / "PWNED"
    with pytest.raises(ExpressionError, match=message):
        parse(text.replace("{sentinel}", str(sentinel)), NAMES)
    assert not sentinel.exists()


def test_hostile_text_in_every_field_of_a_case_is_an_error_naming_file_case_and_field(tmp_path):
    sentinel = tmp_path / "PWNED"
    payload = f"__import__('os').system('touch {sentinel}')"
    fields = {
        "f": f'vars = ["x"]\nf = "{payload}"\nat = {{ x = 1 }}',
        "let.a": f'vars = ["x"]\nf = "a"\nat = {{ x = 1 }}\nlet = {{ a = "{payload}" }}',
        "claims.grad": f'vars = ["x"]\nf = "x"\nat = {{ x = 1 }}\nclaims = {{ grad = "{payload}" }}',
        "claims.d/dx": f'vars = ["x"]\nf = "x"\nat = {{ x = 1 }}\nclaims = {{ "d/dx" = "{payload}" }}',
        "descent.rate": f'vars = ["x"]\nf = "x^2"\nat = {{ x = 1 }}\ndescent = {{ rate = "{payload}", start = 1, steps = 2 }}',
    }
    for field, body in fields.items():
        error = only_error(case_text(body, "evil"), path="shared/evil.toml")
        assert str(error).startswith(f"shared/evil.toml: case 'evil': field '{field}': ")
        assert "only named functions can be called" in str(error)
        assert "\n" not in str(error)
    assert not sentinel.exists()


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ('vars = ["__class__"]\nf = "1"', "vars", r"'__class__' is not a variable like"),
        ('vars = ["x.__class__"]\nf = "1"', "vars", r"is not a variable like"),
        ("vars = [\"__import__('os')\"]\nf = \"1\"", "vars", r"is not a variable like"),
        ('vars = ["x"]\nf = "x"\nat = { x = 1 }\nlet = { __builtins__ = "x" }', "let.__builtins__", r"no '__'"),
        ('vars = ["x"]\nf = "x"\nat = { x = 1 }\nlet = { "a.b" = "x" }', "let.a.b", r"must be letters, digits and '_'"),
        ('vars = ["x"]\nf = "x"\nat = { x = 1 }\nlet = { "eval(1)" = "x" }', "let.eval(1)", r"must be letters"),
        ('vars = ["x"]\nf = "x"\nat = { x = 1 }\ndata = { __globals__ = 1 }', "data.__globals__", r"no '__'"),
        ('vars = ["x"]\nf = "x"\nat = { x = 1 }\ndata = { "a b" = 1 }', "data.a b", r"must be letters"),
        ('vars = ["x"]\nf = "x"\nat = { x = 1 }\ndata = { "\u0430" = 1 }', "data.\u0430", r"must be letters"),
        ('vars = ["x"]\nf = "x"\nat = { x = 1 }\ndata = { sin = 1 }', "data.sin", r"'sin' is reserved"),
        ('vars = ["x"]\nf = "x"\nat = { x = 1 }\nclaims = { "d/d__import__" = "1" }', "claims.d/d__import__",
         r"'__import__' is not a variable of this case"),
        ('vars = ["x"]\nf = "x"\nat = { x = 1, __class__ = 2 }', "at.__class__", r"is not a variable of this case"),
        ('vars = ["x"]\nf = "x"\nsample = 1\ndomain = { __x__ = [0, 1] }', "domain.__x__", r"is not a variable"),
        ('vars = ["x"]\nf = "x"\nat = { x = 1 }\n__init__ = 1', "__init__", r"unknown key"),
    ],
)
def test_names_and_toml_keys_are_validated(body, field, message):
    error = only_error(case_text(body))
    assert error.field == field
    assert error.case_id == "c"
    assert pytest.raises(CaseError, _raise, error).match(message)


def _raise(error: Exception) -> None:
    raise error


def test_an_invalid_id_is_not_echoed_as_the_case_name():
    error = only_error(case_text('vars = ["x"]\nf = "x"\nat = { x = 1 }', "\\u001b[2J" + "x" * 500))
    assert error.case_id == "#1"
    assert error.field == "id"
    assert "\x1b" not in str(error)  # quoted with repr, never raw escape codes
    assert len(str(error)) < 250


def test_no_eval_exec_or_string_parsing_anywhere_in_the_package():
    """Static check: the package never calls eval/exec/compile/__import__ or SymPy's string
    parsers, and never hands sympify a string. The one lambdify (plots.py) compiles an expression
    the whitelisting parser built, whose names were validated: allowed by name below."""
    allowed = {("plots.py", "lambdify")}
    builtins_banned = {"eval", "exec", "compile", "__import__", "execfile"}
    anywhere_banned = {"parse_expr", "lambdify", "parse_latex", "parse_mathematica"}
    found = []
    for path in sorted(PACKAGE.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            bare = node.func.id if isinstance(node.func, ast.Name) else None
            name = bare or getattr(node.func, "attr", None)
            if (bare in builtins_banned or name in anywhere_banned) and (path.name, name) not in allowed:
                found.append(f"{path.name}:{node.lineno} {name}()")
            text_argument = node.args and (
                isinstance(node.args[0], ast.JoinedStr)
                or (isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str))
            )
            if name in {"sympify", "S"} and text_argument:
                found.append(f"{path.name}:{node.lineno} {name}(text)")
    assert found == []


def test_loading_and_running_never_reach_eval_exec_or_sympys_string_parser(monkeypatch):
    """Runtime check over every shipped case and a set of hostile ones."""
    from sympy.parsing import sympy_parser

    from derivcheck.cases.run import run_case

    calls: list[str] = []

    def spy(name, real=None):
        def refuse(*args, **kwargs):
            if real is not None and not isinstance(args[0], (str, bytes)):
                return real(*args, **kwargs)  # a code object: Python importing a module lazily
            calls.append(f"{name}({str(args[0])[:40]!r})")
            raise AssertionError(f"{name} called on text")
        return refuse

    monkeypatch.setattr(sympy_parser, "parse_expr", spy("parse_expr"))
    with monkeypatch.context() as patched:
        patched.setattr(builtins, "eval", spy("eval", builtins.eval))
        patched.setattr(builtins, "exec", spy("exec", builtins.exec))
        loaded = load_paths([SHIPPED])
        hostile = [loads(case_text(f'vars = ["x"]\nf = "{text}"\nat = {{ x = 1 }}'))
                   for text, _ in HOSTILE_EXPRESSIONS if '"' not in text and "\\" not in text]
    assert loaded.errors == ()
    assert all(errors and not cases for cases, errors in hostile)
    for case in loaded.cases[:12]:  # SymPy's string parser stays untouched while cases run too
        run_case(case)
    assert calls == []


# Never hang --------------------------------------------------------------------------------------
RUNAWAY = [
    ("9**9**9", r"exponent 387420489 exceeds the limit \(max_exponent\)"),
    ("2**2**2**2**2", r"exponent 65536 exceeds the limit \(max_exponent\)"),
    ("x**(10**100)", r"exceeds the limit \(max_exponent\)"),
    ("(2**1000)**1000", r"about 301030 digits; the limit \(max_digits\)"),
    ("1.5**999 * 1.5**999 * 1.5**999", r"grows to about \d+ digits; the limit \(max_digits\)"),
    ("(((((x**10)**10)**10)**10)**10)", r"exponent 100000 .* exceeds the limit \(max_exponent\)"),
    ("x**x**x**x**x**x", r"exponent tower of height 5 .* the limit \(max_tower\) is 4"),
    ("exp(exp(exp(exp(exp(x)))))", r"exponent tower of height 5 .* \(max_tower\)"),
    ("9" * 60, r"larger than the limit \(max_int_bits\)"),
    ("x" + "+x" * 2500, r"characters long; the limit \(max_length\)"),
    ("sin(" * 60 + "x" + ")" * 60, r"nests deeper than the limit \(max_depth\)"),
    ("-" * 3000 + "x", r"nest"),
    ("x" + "*x" * 1400, r"nests deeper than the limit \(max_depth\)"),  # a left-leaning chain
    ("[" + ",".join(["x"] * 1100) + "]", r"more than 2000 parts \(the limit max_nodes\)"),
    ("[" * 30 + "x" + "]" * 30, None),  # a 1x1x...x1 array is fine: small
    ("sum([v].T * v)", r"has 160000 entries; the limit \(max_array_size\)"),
    ("[[x, y]] @ [[x, y]]", r"shapes \(1, 2\) and \(1, 2\) do not fit for '@'"),
    ("log(0)", r"infinite or undefined"),
    ("sqrt(-1)", r"not a real number"),
]


@pytest.mark.parametrize(("text", "message"), RUNAWAY, ids=[t[:40] for t, _ in RUNAWAY])
def test_runaway_input_is_rejected_fast_with_the_limit_named(text, message):
    start = time.perf_counter()
    if message is None:
        parse(text, NAMES)
    else:
        with pytest.raises(ExpressionError, match=message):
            parse(text, NAMES)
    assert time.perf_counter() - start < 0.5


def test_a_let_chain_that_doubles_each_step_is_stopped_at_the_tree_size_limit():
    lets = "\n".join(["a0 = \"x + 1\""] + [f'a{i} = "(a{i - 1} + 1)*(a{i - 1} + 2)"' for i in range(1, 40)])
    text = case_text(f'vars = ["x"]\nf = "a39"\nat = {{ x = 1 }}\n[case.let]\n{lets}')
    start = time.perf_counter()
    error = only_error(text)
    assert time.perf_counter() - start < 1.0
    assert error.field.startswith("let.a")
    assert f"the limit (max_tree_size) is {LIMITS.max_tree_size}" in str(error)


def test_a_case_that_spends_too_many_element_operations_is_stopped():
    data = "[" + ",".join(["1"] * 300) + "]"
    # each let multiplies a 300x300 outer product: far past the per-case allowance
    lets = "\n".join(f'm{i} = "sum([a].T * a) * {i}"' for i in range(40))
    text = case_text(f'vars = ["x"]\nf = "x"\nat = {{ x = 1 }}\ndata = {{ a = {data} }}\n[case.let]\n{lets}')
    start = time.perf_counter()
    error = only_error(text)
    assert time.perf_counter() - start < 10.0
    assert "element operations (the limit max_operations)" in str(error)


def test_overflowing_values_are_an_evaluation_error_not_a_hang():
    from derivcheck.engines.exact import evaluate
    from derivcheck.errors import EvaluationError

    tower = parse("exp(exp(exp(exp(x))))", NAMES)
    start = time.perf_counter()
    # the smallest failing part is named: exp(exp(3)) is 5e8, its exp is the first too large
    with pytest.raises(EvaluationError, match=r"^'exp\(exp\(exp\(x\)\)\)' is too large to evaluate"):
        evaluate(tower, {x: sympy.Integer(3)})
    with pytest.raises(EvaluationError, match=r"too large to evaluate \(over 10\*\*1000\)"):
        evaluate(parse("x**1000", NAMES), {x: sympy.Integer(10) ** 10})
    assert time.perf_counter() - start < 1.0


# Clear errors, and the rest still runs --------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[case]]\nid = "a"\nvars = ["x"\nf = "x"\n', r"^bad\.toml: invalid TOML at line 4, column 1: "),
        ('[[case]]\nid = "a"\nvars = ["x"]\nf = x^2\n', r"^bad\.toml: invalid TOML at line 4, column 5: Invalid value"),
        ('[[case]]\nid = "a"\nid = "b"\n', r"^bad\.toml: invalid TOML"),
        ('[[cases]]\nid = "a"\n', r"^bad\.toml: unknown key 'cases' \(did you mean 'case'\?\)"),
        ("a = " + "9" * 5000, r"^bad\.toml: invalid TOML: Exceeds the limit"),
        ("a = " + "[" * 3000 + "]" * 3000, r"^bad\.toml: invalid TOML: tables or arrays nest too deeply"),
    ],
)
def test_malformed_files_name_the_file_and_the_place(text, message):
    error = only_error(text, path="bad.toml")
    assert isinstance(error, CaseError)
    assert re.search(message, str(error)), str(error)


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ('vars = ["x"]\nat = { x = 1 }', "f", r"is required"),
        ('vars = ["x"]\nf = "x"\nat = { x = 1 }\nclaim = { grad = "1" }', "claim", r"unknown key \(did you mean 'claims'\?\)"),
        ('vars = ["x"]\nf = "x"\nat = { x = 1 }\nexpect = "fail"', "expect", r"must be one of .* got 'fail'"),
        ('vars = ["x"]\nf = "x + y"\nat = { x = 1 }', "f", r"undefined name 'y'"),
        ('vars = ["x", "rate"]\nf = "x + rat"\nat = { x = 1, rate = 2 }', "f", r"undefined name 'rat' \(did you mean 'rate'\?\)"),
        ('vars = ["x"]\nf = "sine(x)"\nat = { x = 1 }', "f", r"unknown function 'sine' \(did you mean 'sin'\?\)"),
        ('vars = ["x[2]"]\nf = "sum(x)"\nat = { x = [1, 2, 3] }', "at.x", r"has shape \(3,\), but the variable has shape \(2,\)"),
        ('vars = ["x[2]"]\nf = "sum(x)"\nat = { x = 1 }', "at.x", r"has shape \(\), but the variable has shape \(2,\)"),
        ('vars = ["x"]\nf = "x"\nat = { x = "1.5x" }', "at.x", r"expected a number or a constant expression, got '1.5x'"),
        ('vars = ["x"]\nf = "x"\nat = { x = nan }', "at.x", r"expected a finite number, got nan"),
        ('vars = ["x"]\nf = "x"\nat = { x = 1 }\norder = "2"', "order", r"must be a whole number from 1 to 4, got '2'"),
        ('vars = ["x[2]"]\nf = "sum(x)"\nat = { x = [1, 2] }\nclaims = { grad = ["1", "1", "1"] }', "claims.grad",
         r"has shape \(3,\), expected \(2,\)"),
    ],
)
def test_each_mistake_is_one_line_naming_file_case_and_field(body, field, message):
    error = only_error(case_text(body, "mistake"), path="cases/mine.toml")
    assert (error.path, error.case_id, error.field) == ("cases/mine.toml", "mistake", field)
    assert str(error).startswith(f"cases/mine.toml: case 'mistake': field '{field}': ")
    assert "\n" not in str(error)
    assert isinstance(error, CaseError)
    assert re.search(message, str(error)), str(error)


@pytest.mark.parametrize(
    ("f", "at", "message"),
    [
        ("log(x - 1)", "0.5", r"field 'at': f at x=1/2: 'log\(x - 1\)' is not a real number \(log of -0\.5\)"),
        ("1/(x - 2) + x", "2", r"field 'at': f at x=2: '1/\(x - 2\)' is infinite \(division by zero\)"),
        ("sqrt(x) + 1", "-1", r"'sqrt\(x\)' is not a real number \(a power of -1\)"),
        ("asin(x)", "2", r"'asin\(x\)' is not a real number \(asin of 2\)"),
        ("atanh(x)", "1", r"'atanh\(x\)' is infinite \(atanh of 1\)"),
    ],
)
def test_points_outside_the_domain_name_the_sub_expression(f, at, message):
    from derivcheck.cases.run import Status, run_case

    (case,), _ = loads(case_text(f'vars = ["x"]\nf = "{f}"\nat = {{ x = {at} }}', "domain"), path="d.toml")
    result = run_case(case)
    assert result.status is Status.ERROR
    assert result.message.startswith("d.toml: case 'domain': field 'at': ")
    assert re.search(message, result.message), result.message


def test_bad_files_and_cases_are_reported_while_every_other_case_runs(tmp_path):
    good = 'vars = ["x"]\nf = "x^2"\nat = { x = 3 }\nclaims = { "d/dx" = 6 }'
    (tmp_path / "a_good.toml").write_text(case_text(good, "good-one"))
    (tmp_path / "b_broken.toml").write_text('[[case]]\nid = "x"\nvars = [\n')
    (tmp_path / "c_mixed.toml").write_text(
        case_text(good, "good-two")
        + case_text('vars = ["x"]\nf = "__import__(1)"\nat = { x = 1 }', "evil")
        + case_text('vars = ["x"]\nf = "log(x)"\nat = { x = -1 }', "off-domain")
        + case_text(good, "good-three")
    )
    (tmp_path / "d_binary.toml").write_bytes(b"\xff\xfe\x00garbage")
    out = io.StringIO()
    code = main(["run", str(tmp_path), "--timeout", "0", "--no-progress"], out=out)
    text = out.getvalue()
    assert code == 2  # a case failed to load
    for case_id in ("good-one", "good-two", "good-three"):
        assert any(line.startswith("ok ") and case_id in line for line in text.splitlines())
    assert f"{tmp_path / 'b_broken.toml'}: invalid TOML at" in text
    assert f"{tmp_path / 'c_mixed.toml'}: case 'evil': field 'f': name '__import__' is not allowed" in text
    assert f"{tmp_path / 'c_mixed.toml'}: case 'off-domain': field 'at': f at x=-1: 'log(x)' is not a real number" in text
    assert f"{tmp_path / 'd_binary.toml'}: file is not UTF-8 text" in text
    assert "Traceback" not in text
    assert "7 cases: 3 ok, 0 failed, 4 errors" in text


def test_an_unexpected_exception_while_loading_becomes_an_error_for_that_case_only(monkeypatch):
    from derivcheck.cases import loader as cases_module

    original = cases_module._CaseBuilder.build

    def build(self):
        if self.case_id == "boom":
            raise KeyError("surprise")
        return original(self)

    monkeypatch.setattr(cases_module._CaseBuilder, "build", build)
    good = 'vars = ["x"]\nf = "x"\nat = { x = 1 }'
    cases, errors = loads(case_text(good, "fine") + case_text(good, "boom"), path="f.toml")
    assert [c.id for c in cases] == ["fine"]
    assert isinstance(errors[0], CaseError)
    assert re.match(r"^f\.toml: case 'boom': could not be loaded \(KeyError: 'surprise'\)", str(errors[0]))
