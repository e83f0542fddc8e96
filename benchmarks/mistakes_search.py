"""How long the search for a misapplied rule takes: the shipped mismatch cases and a 50-node function.

Run from the repository root::

    python benchmarks/mistakes_search.py            # best of 3 runs per row
    python benchmarks/mistakes_search.py --repeat 1

One row per searched claim: the written nodes of the case (``f`` and its ``let`` intermediates),
the catalogued mistakes that apply there (candidates), the search's wall-clock seconds (the
default bound, ``BUDGET_SECONDS``, is in force), whether it finished within the bound, and what
it found. The 50-node rows are the worst cases: a single mistake found at once, a pair of
mistakes (every single tried first, then the pairs), and a claim no rule explains (every single
and every pair tried). The least-squares rows grow the data: the exact walks then carry n seeds
through n x n object arrays.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from derivcheck.cases.files import load_paths, loads
from derivcheck.mistakes.search import BUDGET_SECONDS, diagnose
from derivcheck.mistakes.tree import Unsupported, build_tree

#: about fifty written nodes; x and y both appear in most terms
FIFTY = ("sin(x*y + 2)*exp(-x**2/3) + log(1 + x**2 + y**2)*cos(y - x) + (x - 2*y)**3/(1 + y**2)"
         " + sqrt(4 + x**2)*tanh(y/2) - atan(x*y)")
FIFTY_CLAIMS = {
    # cos(y - x) differentiated as -sin(y - x) without the inner -1: the chain rule's inner factor
    "one mistake": ("y*cos(x*y + 2)*exp(-x**2/3) - 2*x/3*sin(x*y + 2)*exp(-x**2/3)"
                    " + 2*x/(1 + x**2 + y**2)*cos(y - x) - log(1 + x**2 + y**2)*sin(y - x)"
                    " + 3*(x - 2*y)**2/(1 + y**2) + x/sqrt(4 + x**2)*tanh(y/2) - y/(1 + x**2*y**2)"),
    # and the 1/3 of -x**2/3 dropped as well: two mistakes
    "two mistakes": ("y*cos(x*y + 2)*exp(-x**2/3) - 2*x*sin(x*y + 2)*exp(-x**2/3)"
                     " + 2*x/(1 + x**2 + y**2)*cos(y - x) - log(1 + x**2 + y**2)*sin(y - x)"
                     " + 3*(x - 2*y)**2/(1 + y**2) + x/sqrt(4 + x**2)*tanh(y/2) - y/(1 + x**2*y**2)"),
    "no rule explains it": ("1 + x",),
}


def _fifty_case(claim: str):
    text = (f'[[case]]\nid = "fifty-nodes"\nvars = ["x", "y"]\nf = "{FIFTY}"\n'
            f'at = [{{x = 0.5, y = 0.3}}, {{x = 1.5, y = -1}}]\n[case.claims]\n"d/dx" = {json.dumps(claim)}\n')
    cases, errors = loads(text)
    if errors:
        raise SystemExit(str(errors[0]))
    return cases[0]


def _least_squares_case(n: int):
    """sum((X w - y)^2)/2 with seeded integer n x n data, claimed as X (X w - y): a transpose missing."""
    import numpy as np

    rng = np.random.default_rng(n)
    X, y = rng.integers(-5, 6, (n, n)).tolist(), rng.integers(-5, 6, n).tolist()
    text = (f'[[case]]\nid = "least-squares-{n}"\nvars = ["w[{n}]"]\ndata = {{ X = {X}, y = {y} }}\n'
            f'f = "sum((X @ w - y)**2)/2"\nat = {{ w = {[1] * n} }}\n[case.claims]\n"d/dw" = "X @ (X @ w - y)"\n')
    cases, errors = loads(text)
    if errors:
        raise SystemExit(str(errors[0]))
    return cases[0]


def _time(case, key: str, repeat: int):
    best, outcome = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        outcome = diagnose(case, key)
        best = min(best, time.perf_counter() - start)
    return best, outcome


_BOUND = "search stopped at its bound"


def _row(label: str, case, key: str, repeat: int) -> str:
    seconds, outcome = _time(case, key, repeat)
    try:
        nodes = str(len(build_tree(case).nodes))
    except Unsupported:  # text the written-tree differentiator does not model (where(), say)
        nodes = "-"
    found = ", ".join(dict.fromkeys(f"{d.rule} at `{d.node}`" for d in outcome.diagnoses))
    found = found or ("(the claim is right)" if outcome.note == "the claim is right" else "none")
    return (f"| {label} | `{key}` | {nodes} | {outcome.candidates} | {seconds:.3f} | "
            f"{'yes' if outcome.complete else f'no ({outcome.note or _BOUND})'} | {found} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"bound per claim: {BUDGET_SECONDS} s\n")
    print("| case | claim | nodes | candidates | seconds | finished | found |")
    print("|---|---|---:|---:|---:|---|---|")
    for case in load_paths([ROOT / "cases"]).cases:
        if case.expect.value != "mismatch":
            continue
        for key in dict.fromkeys(c.key for c in case.claims):
            print(_row(case.id, case, key, args.repeat))
    for label, claim in FIFTY_CLAIMS.items():
        text = claim if isinstance(claim, str) else claim[0]
        print(_row(f"50 nodes, {label}", _fifty_case(text), "d/dx", args.repeat))
    for n in (5, 10, 20):
        print(_row(f"least squares, {n}x{n} data", _least_squares_case(n), "d/dw", args.repeat))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
