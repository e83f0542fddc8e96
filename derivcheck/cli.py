"""The command line: argument parsing and terminal output only. ``main(argv)`` returns the exit code.

Exit codes: 0 every case came out as expected; 1 a case failed; 2 a case or file could not be
loaded or evaluated, or timed out (or the command line was wrong); 130 interrupted (Ctrl-C), after
printing and writing the results finished so far.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:  # heavy modules are imported only when a command runs
    from derivcheck.cases.results import CaseResult

EXIT_OK, EXIT_FAILED, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``derivcheck``."""
    parser = argparse.ArgumentParser(
        prog="derivcheck",
        description="Check derivatives three ways (exact SymPy, torch autograd, finite differences) "
                    "and check the derivatives an author claims.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="verify case files and print a table per case")
    _add_selection(run)
    run.add_argument("--json", metavar="FILE", type=Path, help="write every result as JSON to FILE")
    run.add_argument("-v", "--verbose", action="store_true", help="print every compared entry")
    _add_jobs(run)
    run.add_argument("--no-progress", action="store_true",
                     help="no progress bar (there is none anyway when stderr is not a terminal or NO_COLOR is set)")

    listing = sub.add_parser("list", help="print the cases found, without running them")
    _add_selection(listing)

    report = sub.add_parser("report", help="write a markdown worked-solution report")
    _add_selection(report)
    report.add_argument("-o", "--output", metavar="FILE", type=Path, default=Path("report.md"),
                        help="the markdown file to write (assets go in a folder beside it); "
                             "a name ending in .html writes the HTML page only")
    report.add_argument("--html", action="store_true",
                        help="also write FILE.html, a page that renders offline (KaTeX and mermaid beside it)")
    report.add_argument("--pages", action="store_true",
                        help="write FILE as an index and one page per case in a folder beside it "
                             "(short pages for GitHub)")
    _add_jobs(report)
    return parser


def _add_jobs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-j", "--jobs", type=_jobs, default=1, metavar="N",
                        help="run N cases at once, in worker processes (0: one per CPU; default 1); "
                             "the output order does not change")
    parser.add_argument("--timeout", type=_seconds, default=None, metavar="SECONDS",
                        help=f"stop a case after SECONDS and report it as timed out (default {_default_timeout():g}; "
                             "0: no limit, and with -j 1 cases run in this process)")


def _default_timeout() -> float:
    from derivcheck.cases.workers import DEFAULT_TIMEOUT  # a light module: no SymPy, no torch

    return DEFAULT_TIMEOUT


def _jobs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number of jobs (0 for one per CPU), got {text!r}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"expected seconds as a number >= 0 (0 for no limit), got {text!r}")
    return value


def _add_selection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", type=Path, help="case files or folders")
    parser.add_argument("-k", dest="pattern", metavar="PATTERN",
                        help="only cases whose id contains PATTERN (or matches it as a glob)")


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    """Run ``derivcheck`` with ``argv``; return the exit code."""
    out = out or sys.stdout
    args = build_parser().parse_args(argv)
    missing = [p for p in args.paths if not p.exists()]
    if missing:
        print(f"derivcheck: error: no such file or folder: {missing[0]}", file=sys.stderr)
        return EXIT_ERROR
    try:
        if args.command == "list":
            return _list(args, out)
        if args.command == "report":
            return _report(args, out)
        return _run(args, out)
    except KeyboardInterrupt:
        print("derivcheck: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _load(args: argparse.Namespace):  # -> (cases, errors)
    from derivcheck.cases.files import load_paths, matches, select

    loaded = load_paths(args.paths)
    # an error without a case id (a broken file) is shown whatever -k selects
    return select(loaded.cases, args.pattern), [
        e for e in loaded.errors if args.pattern is None or e.case_id is None or matches(e.case_id, args.pattern)
    ]


def _list(args: argparse.Namespace, out: TextIO) -> int:
    cases, errors = _load(args)
    for case in cases:
        kind = "gradient" if case.scalar else f"jacobian {case.n_outputs}x{case.n_inputs}"
        variables = ", ".join(v.name + (str(list(v.shape)) if v.shape else "") for v in case.variables)
        print(f"{case.id:<36} {kind:<16} vars {variables:<20} points {len(case.points):<3} {case.path}", file=out)
    for error in errors:
        print(f"ERROR {error}", file=out)
    print(f"{len(cases)} cases, {len(errors)} errors", file=out)
    return EXIT_ERROR if errors else EXIT_OK


def _run(args: argparse.Namespace, out: TextIO) -> int:
    from derivcheck.cases.workers import DEFAULT_TIMEOUT, Pool, WorkerStartError
    from derivcheck.progress import Progress

    jobs = args.jobs or os.cpu_count() or 1
    timeout = DEFAULT_TIMEOUT if args.timeout is None else (args.timeout or None)
    results: list[CaseResult] = []
    interrupted = False
    with Pool(jobs=jobs, timeout=timeout) as pool:  # the workers' engines load while the cases do
        cases, errors = _load(args)
        from derivcheck.cases.results import error_result
        from derivcheck.output import render_case, render_summary, write_json

        progress = Progress(len(cases), enabled=False if args.no_progress else None)

        def show(result: CaseResult) -> None:
            results.append(result)
            progress.clear()
            print(render_case(result, verbose=args.verbose), file=out, flush=True)
            progress.update(len(results))

        try:
            for result in pool.run(cases, on_wait=progress.update):
                show(result)
        except KeyboardInterrupt:
            interrupted = True
            for result in pool.unreported():
                show(result)
        except WorkerStartError as exc:
            progress.close()
            print(f"derivcheck: error: {exc}", file=sys.stderr)
            return EXIT_ERROR
        finally:
            progress.close()
    if interrupted:
        print(f"interrupted: {len(results)} of {len(cases)} cases finished; the others did not run", file=out)
    load_errors = [error_result(e) for e in errors]
    for result in load_errors:
        print(render_case(result, verbose=args.verbose), file=out)
    results.extend(load_errors)
    print(render_summary(results), file=out, flush=True)
    if args.json:
        try:
            write_json(results, args.json)
        except OSError as exc:
            print(f"derivcheck: error: cannot write {args.json}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_ERROR
    return EXIT_INTERRUPTED if interrupted else exit_code(results)


def exit_code(results: Sequence[CaseResult]) -> int:
    """0 when every case came out as expected, 2 when any could not load, else 1."""
    from derivcheck.cases.results import Status

    if any(r.status in (Status.ERROR, Status.TIMEOUT) for r in results):
        return EXIT_ERROR
    if any(r.status is not Status.OK for r in results):
        return EXIT_FAILED
    return EXIT_OK


def _report(args: argparse.Namespace, out: TextIO) -> int:
    from derivcheck.cases.results import error_result
    from derivcheck.cases.workers import DEFAULT_TIMEOUT, Pool, WorkerStartError

    html = args.html or args.output.suffix.lower() in (".html", ".htm")
    if html and args.pages:
        print("derivcheck: error: --pages writes markdown pages and an HTML report is one page: "
              "choose one", file=sys.stderr)
        return EXIT_ERROR
    if html:
        from derivcheck.report.html import AssetsMissing, node_modules

        try:
            node_modules()  # before any case runs: a missing library is a one-line error, not a late one
        except AssetsMissing as exc:
            print(f"derivcheck: error: {exc}", file=sys.stderr)
            return EXIT_ERROR
    jobs = args.jobs or os.cpu_count() or 1
    timeout = DEFAULT_TIMEOUT if args.timeout is None else (args.timeout or None)
    try:
        with Pool(jobs=jobs, timeout=timeout) as pool:
            cases, errors = _load(args)
            results = list(pool.run(cases))
    except WorkerStartError as exc:
        print(f"derivcheck: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    from derivcheck.report.document import write_report

    try:
        written = write_report(cases, results, args.output, html=args.html, pages=args.pages)
    except OSError as exc:
        print(f"derivcheck: error: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_ERROR
    for error in errors:
        print(f"ERROR {error}", file=out)
    also = f" and {written.with_suffix('.html')}" if args.html and written.suffix == ".md" else ""
    print(f"wrote {written}{also} ({len(results)} cases)", file=out)
    return exit_code(results + [error_result(e) for e in errors])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
