"""Cases in worker processes: a time limit per case, several at once, results in input order.

SymPy can think for minutes about one expression, so each case runs in a worker process that
can be stopped: a case that passes its time limit is reported as timed out, its worker is
killed and replaced, and the other cases go on. Workers live for the whole run (one start-up
each, not one per case); where the platform has a fork server, it imports the engines once and
every worker, a replacement included, is forked from it in milliseconds. Torch is never forked
after it has started threads: the fork server only imports it.

Results come back in the order of the input, each as soon as it and every case before it are
done, so the output of ``-j 4`` is the output of ``-j 1``.

With no time limit and one job, cases run in this process (no workers at all).
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import pickle
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Self

from derivcheck.errors import CaseError

if TYPE_CHECKING:  # the engines are imported where cases run, so the CLI can read the defaults fast
    from derivcheck.cases.results import CaseResult
    from derivcheck.model import Case

#: Seconds one case may run before it is stopped (``--timeout`` changes it).
DEFAULT_TIMEOUT = 60.0
#: Seconds a new worker may take to start (import SymPy and torch) before the run gives up.
STARTUP_LIMIT = 120.0
#: Seconds a stopped worker gets to exit after SIGTERM before it is killed.
KILL_GRACE = 2.0
#: The longest wait between two calls of ``on_wait`` (a progress bar's heartbeat).
HEARTBEAT = 0.25

#: Modules the fork server imports once for every worker: the engines, and torch._dynamo, which
#: torch.func imports on its first use (most of a second that each worker would otherwise pay
#: inside its first case's time limit). Importing starts no torch threads.
PRELOAD = ("derivcheck.cases.run", "torch._dynamo")

Task = Callable[["Case"], "CaseResult"]


class WorkerStartError(RuntimeError):
    """A worker process could not be started."""


def run_safely(case: Case, task: Task | None = None) -> CaseResult:
    """``task(case)``, with any exception turned into an error result naming the file and case.

    Examples
    --------
    >>> def broken(case):
    ...     raise ZeroDivisionError("oops")
    >>> from derivcheck.cases.files import loads
    >>> (case,), _ = loads('[[case]]\\nid = "c"\\nvars = ["x"]\\nf = "x"\\nat = { x = 1 }', path="c.toml")
    >>> run_safely(case, broken).message
    "c.toml: case 'c': internal error: ZeroDivisionError: oops (a derivcheck bug; please report it)"
    """
    from derivcheck.cases.run import error_result, run_case

    start = time.perf_counter()
    try:
        return (task or run_case)(case)
    except Exception as exc:  # noqa: BLE001 - one case must never stop the run
        text = str(exc)
        text = text if len(text) <= 200 else text[:197] + "..."
        error = CaseError(
            f"internal error: {type(exc).__name__}: {text} (a derivcheck bug; please report it)",
            path=case.path, case_id=case.id,
        )
        return _for_case(error_result(error, time.perf_counter() - start), case)


def _for_case(result: CaseResult, case: Case) -> CaseResult:
    """An error result that still carries the case's title and expectation."""
    return replace(result, title=case.title, expect=case.expect)


def timeout_result(case: Case, seconds: float) -> CaseResult:
    """The result of a case stopped at its time limit."""
    from derivcheck.cases.results import CaseResult, Status

    return CaseResult(
        case_id=case.id, path=str(case.path), title=case.title, expect=case.expect,
        status=Status.TIMEOUT, verdict=None, rows=(), steepest=(), points=(), seconds=seconds,
        message=f"{case.path}: case {case.id!r}: stopped after {seconds:.3g} s, the time limit "
                f"(--timeout changes it)",
    )


def _crash_result(case: Case, detail: str, seconds: float) -> CaseResult:
    from derivcheck.cases.results import error_result

    error = CaseError(f"the worker process running this case {detail}", path=case.path, case_id=case.id)
    return _for_case(error_result(error, seconds), case)


# the worker side ------------------------------------------------------------------------------
def _worker_main(conn: multiprocessing.connection.Connection, task: Task | None, threads: int) -> None:
    """Receive (index, pickled case), send (index, result), until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    from derivcheck.cases.results import error_result

    torch = sys.modules.get("torch")
    if torch is not None:  # N workers with a thread per core each would fight over the cores
        torch.set_num_threads(threads)
    _exit_with_parent()
    conn.send(("ready", os.getpid()))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        index, blob = message
        try:
            case = pickle.loads(blob)
        except Exception as exc:  # noqa: BLE001 - reported as that case's error
            conn.send((index, error_result(CaseError(f"internal error: the case could not be received ({exc})"))))
            continue
        result = run_safely(case, task)
        try:
            conn.send((index, result))
        except (EOFError, OSError):
            return
        except Exception as exc:  # noqa: BLE001 - a result that cannot be pickled is a bug, not a crash
            error = CaseError(f"internal error: its result cannot be sent back ({exc})", path=case.path,
                              case_id=case.id)
            conn.send((index, error_result(error, result.seconds)))


def _exit_with_parent() -> None:
    """End this worker when its parent is gone, even in the middle of a long computation."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, daemon=True, name="derivcheck-parent-watch").start()


# the parent side ------------------------------------------------------------------------------
@dataclass
class _Worker:
    process: multiprocessing.process.BaseProcess
    conn: multiprocessing.connection.Connection
    started: float
    ready: bool = False
    index: int | None = None  # the case it is running
    since: float = 0.0


class Pool:
    """Worker processes that run cases with a time limit each; use it as a context manager.

    Parameters
    ----------
    jobs : int
        How many cases run at once (worker processes).
    timeout : float or None
        Seconds one case may run; None for no limit (then one job runs in this process).
    task : callable, optional
        What a worker does with a case; ``run_case`` unless a test injects another. It must be
        importable by name (a module-level function), since workers are separate processes.

    Examples
    --------
    >>> from derivcheck.cases.files import load_paths
    >>> cases = load_paths(["cases/tutorials"]).cases  # doctest: +SKIP
    >>> with Pool(jobs=2, timeout=30) as pool:  # doctest: +SKIP
    ...     for result in pool.run(cases):
    ...         print(result.case_id, result.status.value)
    """

    def __init__(self, jobs: int = 1, timeout: float | None = DEFAULT_TIMEOUT, task: Task | None = None) -> None:
        if jobs < 1:
            raise ValueError(f"jobs must be at least 1, got {jobs!r}")
        if timeout is not None and not timeout > 0:
            raise ValueError(f"timeout must be positive or None, got {timeout!r}")
        self.jobs = jobs
        self.timeout = timeout
        self.task = task
        self.finished: dict[int, CaseResult] = {}  # done, not yet handed out (in input order)
        self._workers: list[_Worker] = []
        self._context: object = None

    @property
    def in_process(self) -> bool:
        """Whether cases run in this process (no time limit and one job)."""
        return self.timeout is None and self.jobs == 1

    def __enter__(self) -> Self:
        self.warm_up()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def warm_up(self) -> None:
        """Start the fork server now, so it imports the engines while the caller loads cases."""
        if self.in_process or self._context is not None:
            return
        methods = multiprocessing.get_all_start_methods()
        if "forkserver" in methods:
            context = multiprocessing.get_context("forkserver")
            modules = list(PRELOAD) + ([self.task.__module__] if self.task is not None else [])
            context.set_forkserver_preload(modules)
            from multiprocessing import forkserver

            forkserver.ensure_running()
        else:  # pragma: no cover - Windows
            context = multiprocessing.get_context("spawn")
        self._context = context

    def run(self, cases: Sequence[Case], on_wait: Callable[[int, list[str]], None] | None = None) -> Iterator[CaseResult]:
        """Run ``cases``; yield their results in input order, each as soon as it can be.

        ``on_wait(done, running_ids)`` is called whenever the run wakes up, at least every
        ``HEARTBEAT`` seconds (a progress bar). If the caller stops early (Ctrl-C), the results
        that finished but were not yet yielded stay in ``finished``.
        """
        self.finished.clear()
        if self.in_process:
            for case in cases:
                result = run_safely(case, self.task)
                yield result
            return
        self.warm_up()
        pending = deque(range(len(cases)))
        blobs: dict[int, bytes] = {}
        next_out = 0
        done = 0
        while next_out < len(cases):
            self._dispatch(pending, cases, blobs)
            done += self._wait(cases, pending, on_wait, done)
            while next_out in self.finished:
                yield self.finished.pop(next_out)
                next_out += 1

    def unreported(self) -> list[CaseResult]:
        """Results that finished but were not yielded (after an interruption), in input order."""
        return [self.finished[i] for i in sorted(self.finished)]

    def close(self) -> None:
        """Stop every worker (a busy one is killed)."""
        for worker in self._workers:
            if worker.index is None and worker.process.is_alive():
                try:
                    worker.conn.send(None)
                except (OSError, EOFError):
                    pass
        deadline = time.monotonic() + 0.5
        for worker in self._workers:
            if worker.index is None:
                worker.process.join(max(0.0, deadline - time.monotonic()))
            self._stop(worker)
        self._workers.clear()

    # ------------------------------------------------------------------------------------------
    def _dispatch(self, pending: deque[int], cases: Sequence[Case], blobs: dict[int, bytes]) -> None:
        while len(self._workers) < min(self.jobs, len(pending) + self._busy()):
            self._start_worker()
        for worker in self._workers:
            if not pending:
                return
            if worker.ready and worker.index is None:
                index = pending.popleft()
                case = cases[index]
                try:
                    blob = pickle.dumps(case)
                except Exception as exc:  # noqa: BLE001 - a case that cannot travel is reported, not fatal
                    self.finished[index] = _crash_result(case, f"could not receive it ({exc})", 0.0)
                    continue
                worker.conn.send((index, blob))
                worker.index, worker.since = index, time.monotonic()

    def _busy(self) -> int:
        return sum(1 for w in self._workers if w.index is not None)

    def _start_worker(self) -> None:
        context = self._context
        parent_end, child_end = context.Pipe()  # type: ignore[attr-defined]
        process = context.Process(  # type: ignore[attr-defined]
            target=_worker_main, args=(child_end, self.task, max(1, (os.cpu_count() or 1) // self.jobs)), daemon=True, name="derivcheck-worker",
        )
        process.start()
        child_end.close()
        self._workers.append(_Worker(process, parent_end, time.monotonic()))

    def _wait(self, cases: Sequence[Case], pending: deque[int],
              on_wait: Callable[[int, list[str]], None] | None, done: int) -> int:
        """Wait for one event (a result, a ready worker, a death, a deadline); return cases done."""
        now = time.monotonic()
        deadlines = [w.since + self.timeout for w in self._workers if w.index is not None and self.timeout]
        deadlines += [w.started + STARTUP_LIMIT for w in self._workers if not w.ready]
        wait = max(0.0, min(deadlines) - now) if deadlines else None
        if on_wait is not None:
            on_wait(done, [cases[w.index].id for w in self._workers if w.index is not None])
            wait = HEARTBEAT if wait is None else min(wait, HEARTBEAT)
        objects = [w.conn for w in self._workers] + [w.process.sentinel for w in self._workers]
        ready = set(multiprocessing.connection.wait(objects, timeout=wait))
        finished = 0
        for worker in list(self._workers):
            if worker.conn in ready:
                try:
                    message = worker.conn.recv()
                except (EOFError, OSError):  # the worker is gone: let it finish dying
                    message = None
                    worker.process.join(KILL_GRACE)
                if message is not None:
                    key, value = message
                    if key == "ready":
                        worker.ready = True
                    else:
                        self.finished[key] = value
                        worker.index = None
                        finished += 1
                    continue
            finished += self._check_worker(worker, cases, pending)
        return finished

    def _check_worker(self, worker: _Worker, cases: Sequence[Case], pending: deque[int]) -> int:
        """Handle a worker that died, ran past its case's limit, or never started; 1 if a case ended."""
        now = time.monotonic()
        if not worker.ready:
            if not worker.process.is_alive() or now - worker.started > STARTUP_LIMIT:
                self._stop(worker)
                self._workers.remove(worker)
                raise WorkerStartError(
                    f"a worker process could not start (exit code {worker.process.exitcode}); "
                    f"run with --timeout 0 to run cases in this process"
                )
            return 0
        if worker.index is None:
            if not worker.process.is_alive():  # died while idle: replace it on the next dispatch
                self._stop(worker)
                self._workers.remove(worker)
            return 0
        index = worker.index
        case = cases[index]
        elapsed = now - worker.since
        if not worker.process.is_alive():
            self._stop(worker)
            self._workers.remove(worker)
            self.finished[index] = _crash_result(case, f"died (exit code {worker.process.exitcode})", elapsed)
            return 1
        if self.timeout is not None and elapsed >= self.timeout:
            self._stop(worker)
            self._workers.remove(worker)
            self.finished[index] = timeout_result(case, self.timeout)
            return 1
        return 0

    def _stop(self, worker: _Worker) -> None:
        process = worker.process
        if process.is_alive():
            process.terminate()
            process.join(KILL_GRACE)
        if process.is_alive():
            process.kill()
            process.join()
        worker.conn.close()
        worker.index = None
