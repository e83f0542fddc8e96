"""Worker processes: a stuck case is stopped at its time limit and reported while the others
finish; crashes and exceptions stay with their case; results come back in input order whatever
``-j``; Ctrl-C prints and writes what finished; the progress bar only ever draws on a terminal;
and ``derivcheck --help`` starts without torch.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from derivcheck import progress
from derivcheck.cases.files import loads
from derivcheck.cases.run import CaseResult, Status
from derivcheck.cases.workers import Pool, run_safely, timeout_result
from derivcheck.model import Expect

ROOT = Path(__file__).resolve().parents[2]
TUTORIALS = ROOT / "cases" / "tutorials"

# A case that is truly slow for SymPy and the engines: a 24x24 Hessian at ten points (half a
# minute here); the CLI tests stop it after a second or interrupt it.
SLOW_CASES = """
[[case]]
id = "fast-one"
vars = ["x"]
f = "x^2"
at = { x = 3 }

[[case]]
id = "slow-hessian"
vars = ["x[24]"]
f = "sum(sin([x].T * x) * cos([x].T + x))"
order = 2
sample = 10

[[case]]
id = "fast-two"
vars = ["x"]
f = "sin(x)"
at = { x = 1 }
"""


# Tasks the workers run instead of run_case (module level, so workers can import them by name) --------
def scripted_task(case) -> CaseResult:
    """Behave as the case id says: sleep-<tenths>, stuck, crash, boom; else return at once."""
    start = time.perf_counter()
    if case.id.startswith("sleep-"):
        time.sleep(int(case.id.split("-")[1]) / 10)
    elif case.id.startswith("stuck"):
        time.sleep(3600)
    elif case.id == "crash":
        os._exit(3)
    elif case.id == "boom":
        raise ZeroDivisionError("scripted failure")
    return CaseResult(
        case_id=case.id, path=str(case.path), title=case.title, expect=case.expect, status=Status.OK,
        verdict=None, rows=(), steepest=(), points=(), seconds=time.perf_counter() - start,
        message=f"pid {os.getpid()}",
    )


def cases_named(*ids: str):
    text = "".join(f'[[case]]\nid = "{i}"\nvars = ["x"]\nf = "x"\nat = {{ x = 1 }}\n' for i in ids)
    cases, errors = loads(text, path="scripted.toml")
    assert errors == []
    return cases


def test_results_come_back_in_input_order_while_cases_run_in_parallel():
    cases = cases_named("sleep-8", "quick-a", "sleep-3", "quick-b", "quick-c")
    with Pool(jobs=3, timeout=30, task=scripted_task) as pool:
        list(pool.run(cases_named("warm-1", "warm-2", "warm-3")))  # start the workers
        start = time.perf_counter()
        results = list(pool.run(cases))
        elapsed = time.perf_counter() - start
    assert [r.case_id for r in results] == ["sleep-8", "quick-a", "sleep-3", "quick-b", "quick-c"]
    assert all(r.status is Status.OK for r in results)
    assert len({r.message for r in results}) > 1  # more than one worker did the work
    assert elapsed < 0.8 + 0.3 + 1.0  # the sleeps overlapped


def test_a_stuck_case_is_stopped_and_reported_while_the_others_finish():
    cases = cases_named("quick-a", "stuck-1", "quick-b", "stuck-2", "quick-c")
    start = time.perf_counter()
    with Pool(jobs=2, timeout=1.0, task=scripted_task) as pool:
        results = list(pool.run(cases))
    elapsed = time.perf_counter() - start
    assert [(r.case_id, r.status) for r in results] == [
        ("quick-a", Status.OK), ("stuck-1", Status.TIMEOUT), ("quick-b", Status.OK),
        ("stuck-2", Status.TIMEOUT), ("quick-c", Status.OK),
    ]
    stuck = results[1]
    assert stuck.message == "scripted.toml: case 'stuck-1': stopped after 1 s, the time limit (--timeout changes it)"
    assert stuck.seconds == 1.0
    assert elapsed < 30  # start-up included; never the hour the stuck cases asked for


def test_a_crashing_worker_is_an_error_for_its_case_and_is_replaced():
    with Pool(jobs=1, timeout=20, task=scripted_task) as pool:
        results = list(pool.run(cases_named("quick-a", "crash", "quick-b")))
    assert [r.status for r in results] == [Status.OK, Status.ERROR, Status.OK]
    assert results[1].message == ("scripted.toml: case 'crash': the worker process running this case "
                                  "died (exit code 3)")
    assert results[0].message != results[2].message  # a new worker (another pid) ran the last case


@pytest.mark.parametrize("timeout", [None, 20.0], ids=["in-process", "worker"])
def test_an_exception_in_a_case_is_an_error_naming_file_and_case(timeout):
    with Pool(jobs=1, timeout=timeout, task=scripted_task) as pool:
        assert pool.in_process is (timeout is None)
        results = list(pool.run(cases_named("boom", "quick")))
    assert [r.status for r in results] == [Status.ERROR, Status.OK]
    assert results[0].message == ("scripted.toml: case 'boom': internal error: ZeroDivisionError: "
                                  "scripted failure (a derivcheck bug; please report it)")
    assert "Traceback" not in results[0].message


def test_results_finished_out_of_order_are_kept_when_the_run_is_interrupted():
    cases = cases_named("sleep-30", "quick-a", "quick-b")

    def interrupt(done: int, running: list[str]) -> None:
        if done >= 2:
            raise KeyboardInterrupt

    with Pool(jobs=3, timeout=30, task=scripted_task) as pool:
        with pytest.raises(KeyboardInterrupt):
            list(pool.run(cases, on_wait=interrupt))
        assert [r.case_id for r in pool.unreported()] == ["quick-a", "quick-b"]


def test_pool_arguments_are_checked():
    with pytest.raises(ValueError, match=r"jobs must be at least 1, got 0"):
        Pool(jobs=0)
    with pytest.raises(ValueError, match=r"timeout must be positive or None, got -1"):
        Pool(timeout=-1)


def test_run_safely_and_timeout_result_keep_the_case_identity():
    (case,) = cases_named("boom")
    result = run_safely(case, scripted_task)
    assert (result.case_id, result.path, result.expect) == ("boom", "scripted.toml", Expect.PASS)
    stopped = timeout_result(case, 2.5)
    assert (stopped.status, stopped.seconds, stopped.case_id) == (Status.TIMEOUT, 2.5, "boom")


# The command line ----------------------------------------------------------------------------------------
def derivcheck(*args: str, **kwargs) -> subprocess.CompletedProcess:
    env = dict(os.environ, **kwargs.pop("env", {}))
    return subprocess.run([sys.executable, "-m", "derivcheck", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300, check=False, **kwargs)


def without_times(text: str) -> list[str]:
    return [re.sub(r"\s+[0-9.]+s$", "", line) for line in text.splitlines() if not line.startswith(tuple("0123456789"))]


def test_cli_timeout_reports_the_stuck_case_and_runs_the_others(tmp_path):
    (tmp_path / "slow.toml").write_text(SLOW_CASES)
    start = time.perf_counter()
    done = derivcheck("run", str(tmp_path / "slow.toml"), "--timeout", "1", "--json", str(tmp_path / "out.json"))
    assert time.perf_counter() - start < 60
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("ok      fast-one")
    assert lines[1].startswith("TIMEOUT slow-hessian")
    assert "case 'slow-hessian': stopped after 1 s, the time limit (--timeout changes it)" in lines[2]
    assert lines[3].startswith("ok      fast-two")
    assert "3 cases: 2 ok, 0 failed, 0 errors, 1 timed out" in lines[4]
    results = json.loads((tmp_path / "out.json").read_text())["results"]
    assert [(r["case_id"], r["status"]) for r in results] == [
        ("fast-one", "ok"), ("slow-hessian", "timeout"), ("fast-two", "ok")]
    assert "Traceback" not in done.stderr


def test_cli_ctrl_c_prints_and_writes_what_finished(tmp_path):
    (tmp_path / "slow.toml").write_text(SLOW_CASES)
    report = tmp_path / "partial.json"
    command = [sys.executable, "-m", "derivcheck", "run", str(tmp_path / "slow.toml"), "-j", "2",
               "--timeout", "120", "--json", str(report)]
    # its own process group, so Ctrl-C reaches it and its workers as it would from a terminal
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    first = process.stdout.readline()
    assert first.startswith("ok      fast-one")
    time.sleep(3.0)  # fast-two finishes meanwhile, behind the slow case in the output order
    os.killpg(process.pid, signal.SIGINT)
    rest, errors = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "ok      fast-two" in rest  # finished out of order: printed all the same
    assert "interrupted: 2 of 3 cases finished; the others did not run" in rest
    assert "2 cases: 2 ok, 0 failed, 0 errors" in rest
    assert "Traceback" not in errors and "KeyboardInterrupt" not in errors
    results = json.loads(report.read_text())["results"]
    assert [r["case_id"] for r in results] == ["fast-one", "fast-two"]
    deadline = time.monotonic() + 15  # workers, fork server and resource tracker all go
    while time.monotonic() < deadline:
        leftover = subprocess.run(["pgrep", "-g", str(process.pid)], capture_output=True, text=True, check=False).stdout
        if not leftover.strip():
            break
        time.sleep(0.2)
    assert leftover.strip() == ""


def test_output_is_the_same_with_one_job_and_with_several():
    one = derivcheck("run", str(TUTORIALS), "-j", "1")
    three = derivcheck("run", str(TUTORIALS), "-j", "3")
    assert one.returncode == three.returncode == 0
    assert without_times(one.stdout) == without_times(three.stdout)
    assert len(without_times(one.stdout)) > 10
    # not a terminal: plain output, no progress bar
    for done in (one, three):
        assert "\r" not in done.stdout + done.stderr and "\x1b" not in done.stdout + done.stderr


def test_help_does_not_import_torch_or_sympy():
    probe = ("import sys, contextlib, io\nfrom derivcheck.cli import main\n"
             "with contextlib.redirect_stdout(io.StringIO()):\n"
             "    for argv in (['--help'], ['run', '--help']):\n"
             "        try:\n            main(argv)\n        except SystemExit:\n            pass\n"
             "print(sorted(m for m in ('torch', 'sympy', 'numpy') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert done.stdout.strip() == "[]", done.stderr


@pytest.mark.parametrize(("argv", "message"), [
    (["run", "cases", "-j", "-1"], r"argument -j/--jobs: expected a whole number of jobs \(0 for one per CPU\), got '-1'"),
    (["run", "cases", "--timeout", "soon"], r"argument --timeout: expected seconds as a number >= 0 \(0 for no limit\), got 'soon'"),
    (["run", "cases", "--timeout", "inf"], r"got 'inf'"),
])
def test_bad_jobs_and_timeout_are_one_line_usage_errors(argv, message, capsys):
    from derivcheck.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert re.search(message, capsys.readouterr().err)


# The progress bar ---------------------------------------------------------------------------------------
class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_draws_on_a_terminal_after_the_delay_and_clears(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setattr(progress, "DELAY", 0.0)
    terminal = FakeTerminal()
    bar = progress.Progress(4, terminal)
    assert bar.enabled
    bar.update(1, ["slow-hessian"])
    assert re.search(r"\r\[######\.{18}\] 1/4  \d+s  running slow-hessian\x1b\[K$", terminal.getvalue())
    bar.close()
    assert terminal.getvalue().endswith("\r\x1b[K")
    bar.update(2)
    assert terminal.getvalue().endswith("\r\x1b[K")  # closed: draws nothing more


@pytest.mark.parametrize(("env", "stream", "expected"), [
    ({"NO_COLOR": "1", "TERM": "xterm"}, FakeTerminal(), False),
    ({"NO_COLOR": "", "TERM": "dumb"}, FakeTerminal(), False),
    ({"NO_COLOR": "", "TERM": "xterm"}, io.StringIO(), False),
    ({"NO_COLOR": "", "TERM": "xterm"}, FakeTerminal(), True),
])
def test_progress_is_plain_unless_on_a_terminal_without_no_color(env, stream, expected, monkeypatch):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(progress, "DELAY", 0.0)
    bar = progress.Progress(3, stream)
    bar.update(1, ["a"])
    assert bar.enabled is expected
    assert (stream.getvalue() != "") is expected


def test_progress_waits_before_drawing_so_short_runs_stay_plain(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    terminal = FakeTerminal()
    bar = progress.Progress(3, terminal)
    bar.update(1)
    bar.close()
    assert terminal.getvalue() == ""
