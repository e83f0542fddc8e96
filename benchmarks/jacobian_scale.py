"""Scale: a 30x30 symbolic Jacobian, f_i = sum_j sin(x_i x_j), derived and verified at 10 points.

Run from the repository root::

    python benchmarks/jacobian_scale.py            # n = 30, 10 points
    python benchmarks/jacobian_scale.py --n 10 --points 3

Rows (seconds, wall clock, one process):

load             parse the case (30 outputs written in the case language) and sample the points
derive           the n x n Jacobian with SymPy (``symbolic.derive``)
exact: subs      naive SymPy: ``entry.subs(point).evalf(34)`` for every entry at every point
exact: evalf     ``xreplace`` + ``evalf(34)`` per entry (derivcheck's engine before its fast path)
exact: derivcheck  ``symbolic.evaluate_array``: one mpmath walk per point at two precisions,
                 every repeated sub-expression computed once, certified to 34 digits
torch: compile   ``autodiff.compile_torch`` of the n x n entries with common-subexpression
                 elimination (``sympy.cse``), then all points in one batched float64 call
run_case         the whole verification: exact, autograd reverse and forward, finite
                 differences and verdicts at every point

The last lines give the agreement: digits shared by the derivcheck and evalf exact values, and
the largest relative difference of torch's float64 values from the exact ones.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import sympy

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from derivcheck.cases.files import loads
from derivcheck.engines import exact as symbolic


def case_text(n: int, points: int) -> str:
    outputs = ", ".join(f'"sum(sin(x[{i}] * x))"' for i in range(n))
    return (f'[[case]]\nid = "jacobian-{n}x{n}"\nvars = ["x[{n}]"]\nf = [{outputs}]\n'
            f"sample = {points}\ndomain = {{ x = [-1.5, 1.5] }}\n")


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=30, help="inputs and outputs (default 30)")
    parser.add_argument("--points", type=int, default=10, help="points (default 10)")
    parser.add_argument("--skip-naive", action="store_true", help="skip the slow subs+evalf row")
    args = parser.parse_args(argv)
    n, k = args.n, args.points

    import torch

    from derivcheck.cases.run import Status, run_case
    from derivcheck.engines.autograd import compile_torch

    (cases, errors), t_load = timed(lambda: loads(case_text(n, k), path="<benchmark>"))
    assert not errors, errors
    case = cases[0]
    derived, t_derive = timed(lambda: symbolic.derive(case.symbols, case.outputs))
    entries = derived.jacobian
    points = [symbolic.substitution(case.symbols, p) for p in case.points]
    rows: list[tuple[str, float | None, str]] = [
        ("load", t_load, f"{n} outputs, {k} points"),
        ("derive", t_derive, f"{entries.size} entries"),
    ]

    if args.skip_naive:
        rows.append(("exact: subs", None, "skipped"))
    else:
        _, t_subs = timed(lambda: [[e.subs(dict(p)).evalf(symbolic.DIGITS) for e in entries.flat] for p in points])
        rows.append(("exact: subs", t_subs, "SymPy subs + evalf(34) per entry"))
    slow, t_evalf = timed(lambda: [[symbolic._evalf(e, dict(p), symbolic.DIGITS) for e in entries.flat] for p in points])
    rows.append(("exact: evalf", t_evalf, "xreplace + evalf(34) per entry"))
    fast, t_fast = timed(lambda: [symbolic.evaluate_array(entries, p) for p in points])
    rows.append(("exact: derivcheck", t_fast, "mpmath walk, shared sub-expressions, certified 34 digits"))

    compiled, t_compile = timed(lambda: compile_torch(case.symbols, list(entries.flat)))
    batch = torch.tensor([[float(c) for c in p] for p in case.points], dtype=torch.float64)
    values, t_eval = timed(lambda: compiled(batch).numpy())
    rows.append(("torch: compile", t_compile, f"sympy.cse: {len(compiled._program)} shared sub-expressions"))
    rows.append(("torch: evaluate", t_eval, f"{k} points in one float64 batch"))

    result, t_run = timed(lambda: run_case(case))
    rows.append(("run_case", t_run, f"{len(result.rows)} checks, status {result.status.value}"))

    print(f"{'step':<18} {'seconds':>9}  note")
    for name, seconds, note in rows:
        shown = "-" if seconds is None else f"{seconds:9.3f}"
        print(f"{name:<18} {shown:>9}  {note}")
    if rows[2][1] is not None:
        print(f"derivcheck exact is {rows[2][1] / t_fast:.0f}x faster than subs+evalf, {t_evalf / t_fast:.0f}x than evalf")

    digits = min(
        _digits(a, b) for per_point_fast, per_point_slow in zip(fast, slow)
        for a, b in zip(per_point_fast.flat, per_point_slow)
    )
    exact = np.array([[float(v) for v in f.flat] for f in fast])
    relative = np.max(np.abs(values - exact) / np.maximum(np.abs(exact), 1e-300))
    print(f"exact values agree with evalf to {digits} significant digits or more (all {entries.size * k})")
    print(f"torch float64 values: largest relative difference from exact {relative:.1e}")
    return 0 if result.status is Status.OK else 1


def _digits(a: sympy.Float, b: sympy.Float) -> int:
    if a == b:
        return symbolic.DIGITS
    difference = abs(a - b) / max(abs(b), sympy.Float("1e-300"))
    return min(symbolic.DIGITS, int(-sympy.log(difference, 10)))


if __name__ == "__main__":
    sys.exit(main())
