"""Soak: the property tests and the fuzz tests with thousands of fresh random examples.

Run from the repository root::

    python benchmarks/soak.py              # 20 times the test suite's examples (about 8,000)
    python benchmarks/soak.py --scale 50 --seed 7

It runs ``tests/engines/test_engines_agree.py`` (exact, autograd and numeric agree on random expression
trees at random points; the fast exact evaluator agrees with evalf; every mutation of a correct
claim is caught) and ``tests/language/test_parser_fuzz.py`` (any text parses or gives derivcheck's own
error) with ``DERIVCHECK_FUZZ_SCALE`` set and Hypothesis exploring new examples
(``DERIVCHECK_FUZZ_RANDOM=1``), then prints one row per property: the examples that passed,
failed and were skipped (a point on a kink, a mutation that does not change the value), and the
time. The exit code is pytest's: 0 when no example failed.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILES = ("tests/engines/test_engines_agree.py", "tests/language/test_parser_fuzz.py")
_TEST = re.compile(r"^(?:tests/)?\S+::(?P<name>\w+):\s*$")
_COUNTS = re.compile(r"- (?P<passed>\d+) passing examples?, (?P<failed>\d+) failing examples?, (?P<invalid>\d+) invalid examples?")
_TIME = re.compile(r"- Typical runtimes: .*")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=int, default=20, help="times the test suite's examples (default 20)")
    parser.add_argument("--seed", type=int, default=None, help="Hypothesis seed (default: a new one)")
    args = parser.parse_args(argv)

    env = dict(os.environ, DERIVCHECK_FUZZ_SCALE=str(args.scale), DERIVCHECK_FUZZ_RANDOM="1")
    command = [sys.executable, "-m", "pytest", *FILES, "-q", "-p", "no:cacheprovider",
               "--hypothesis-show-statistics"]
    if args.seed is not None:
        command.append(f"--hypothesis-seed={args.seed}")
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start

    rows = []
    name = None
    for line in done.stdout.splitlines():
        test = _TEST.match(line.strip())
        if test:
            name = test.group("name")
            continue
        counts = _COUNTS.search(line)
        if counts and name:
            rows.append((name, int(counts["passed"]), int(counts["failed"]), int(counts["invalid"])))
            name = None

    width = max((len(r[0]) for r in rows), default=10)
    print(f"{'property':<{width}}  {'passed':>8}  {'failed':>6}  {'skipped':>7}")
    for row_name, passed, failed, invalid in rows:
        print(f"{row_name:<{width}}  {passed:>8}  {failed:>6}  {invalid:>7}")
    total = sum(r[1] for r in rows)
    failures = sum(r[2] for r in rows)
    print(f"{'total':<{width}}  {total:>8}  {failures:>6}  {sum(r[3] for r in rows):>7}")
    print(f"{seconds:.0f} s, scale {args.scale}, seed {args.seed if args.seed is not None else 'random'}")
    if done.returncode != 0:
        print(done.stdout[-6000:])
        print(done.stderr[-2000:], file=sys.stderr)
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
