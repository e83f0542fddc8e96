"""A real client: kornia's gradient tests, with check_grad run beside torch.autograd.gradcheck.

kornia (computer vision on torch) checks its gradients through one helper, ``BaseTester.gradcheck``
in ``testing/base.py``, which calls ``torch.autograd.gradcheck`` (mostly ``fast_mode=True``).
This script runs kornia's own tests with that helper patched to call both checkers on the same
function and inputs: gradcheck first (its answer still decides the kornia test), then
``check_grad``. Each call records both outcomes, times and function evaluations; a referee (float64
central differences at several steps against reverse mode, on up to 64 Jacobian columns) rules on
every disagreement.

Run from this repository's root, given a kornia checkout (its ``kornia``, ``testing`` and ``tests``
folders; the kornia package installed for its dependencies)::

    python benchmarks/kornia_tests.py /tmp/kornia tests/enhance tests/filters
    python benchmarks/kornia_tests.py /tmp/kornia tests/color -k grad --threads 1

The folders run in one pytest process, as a developer runs them (torch's one-time set-up costs,
paid by whichever checker meets them first, count once); ``--isolate`` runs each folder in its own
process, so that a crash in one is reported, not fatal.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: steps of the referee's central differences
REFEREE_STEPS = (1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8)
#: the referee calls reverse mode right when its best step agrees to this (relative to the Jacobian)
REFEREE_RTOL = 1e-6
#: the referee checks at most this many Jacobian columns (a seeded sample beyond)
REFEREE_COLUMNS = 64


# ------------------------------------------------------------------------------------------------
# inside the pytest worker
# ------------------------------------------------------------------------------------------------


class Recorder:
    """A pytest plugin: patches kornia's gradcheck helper and writes one JSON line per call."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.nodeid = ""

    def pytest_runtest_setup(self, item) -> None:  # noqa: ANN001
        self.nodeid = item.nodeid

    def pytest_configure(self, config) -> None:  # noqa: ANN001
        import testing.base as base

        original = base.gradcheck

        def both(func, inputs, **kwargs):  # noqa: ANN001, ANN202
            return self.compare(original, func, inputs, kwargs)

        base.gradcheck = both

    def compare(self, original, func, inputs, kwargs):  # noqa: ANN001, ANN201
        import torch

        from derivcheck import check_grad

        counter = {"n": 0}

        def counted(*args, **kw):  # noqa: ANN002, ANN003, ANN202
            counter["n"] += 1
            return func(*args, **kw)

        record = {"test": self.nodeid, "fast_mode": bool(kwargs.get("fast_mode", False))}
        start = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                answer = original(counted, inputs, **{**kwargs, "raise_exception": False})
            record["gradcheck"] = "pass" if answer else "mismatch"
        except Exception as exc:  # noqa: BLE001
            answer, record["gradcheck"] = exc, "error"
            record["gradcheck_error"] = _one_line(exc)
        record["gradcheck_s"] = time.perf_counter() - start
        record["gradcheck_evals"] = counter["n"]
        counter["n"] = 0
        args = tuple(inputs) if isinstance(inputs, (list, tuple)) else inputs
        start = time.perf_counter()
        try:
            result = check_grad(counted, args, raises=False)
            record["check_grad"] = result.verdict.value
            record["check_grad_evals"] = result.evaluations
            record["message"] = result.message.splitlines()[:4]
            record["notes"] = list(result.notes)[:4]
        except Exception as exc:  # noqa: BLE001
            record["check_grad"] = "error"
            record["message"] = [_one_line(exc)]
        record["check_grad_s"] = time.perf_counter() - start
        record["check_grad_calls"] = counter["n"]
        if record["check_grad"] != record["gradcheck"]:
            record["referee"] = referee(func, args)
            dump = os.environ.get("DERIVCHECK_KORNIA_DUMP")
            if dump:  # the function and inputs of each disagreement, to replay with check_grad alone
                record["dump"] = _dump(Path(dump), func, args)
        with self.out.open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        if isinstance(answer, Exception):
            raise answer
        if not answer and kwargs.get("raise_exception", True):
            raise AssertionError("gradcheck failed (derivcheck's kornia benchmark records both checkers)")
        with torch.no_grad():
            return answer


def _dump(folder: Path, func, args) -> str:  # noqa: ANN001
    """``torch.save`` of the function (a kornia module pickles by reference) and its inputs."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{len(list(folder.glob('*.pt')))}.pt"
    try:
        torch.save({"func": func, "inputs": args}, path)
    except Exception as exc:  # noqa: BLE001 - a closure or lambda: not picklable
        return f"not saved: {_one_line(exc)}"
    return str(path)


def referee(func, args) -> str:  # noqa: ANN001
    """Central differences at several steps against reverse mode, for the inputs that require grad."""
    import torch

    try:
        parts = args if isinstance(args, tuple) else (args,)
        checked = [i for i, a in enumerate(parts) if isinstance(a, torch.Tensor) and a.requires_grad]
        n = sum(parts[i].numel() for i in checked)
        columns = sorted(random.Random(0).sample(range(n), REFEREE_COLUMNS)) if n > REFEREE_COLUMNS else list(range(n))
        base = [a.detach().clone() if isinstance(a, torch.Tensor) else a for a in parts]

        def flat_out(values: list) -> torch.Tensor:
            with torch.no_grad():
                raw = func(*values)
            raw = raw if isinstance(raw, (tuple, list)) else (raw,)
            return torch.cat([r.reshape(-1).double() for r in raw if isinstance(r, torch.Tensor)
                              and r.is_floating_point()])

        leaves = [p.detach().clone().requires_grad_(True) if i in checked else b
                  for i, (p, b) in enumerate(zip(parts, base))]
        raw = func(*leaves)
        raw = raw if isinstance(raw, (tuple, list)) else (raw,)
        outs = [r for r in raw if isinstance(r, torch.Tensor) and r.is_floating_point()]
        m = sum(o.numel() for o in outs)
        reverse = torch.zeros(m, n, dtype=torch.float64)
        live = [o for o in outs if o.requires_grad]
        if live:
            offset = 0
            for o in outs:
                for k in range(o.numel()):
                    if o.requires_grad:
                        grads = torch.autograd.grad(o.reshape(-1)[k], [leaves[i] for i in checked],
                                                    retain_graph=True, allow_unused=True)
                        reverse[offset + k] = torch.cat([(g if g is not None else torch.zeros_like(leaves[i]))
                                                         .reshape(-1).double() for g, i in zip(grads, checked)])
                offset += o.numel()
        reverse = reverse[:, columns]
        where = [(i, k) for i in checked for k in range(parts[i].numel())]
        scale = float(reverse.abs().max()) if reverse.numel() else 0.0
        best = math.inf
        for h in REFEREE_STEPS:
            numeric = torch.zeros(m, len(columns), dtype=torch.float64)
            for column, flat_index in enumerate(columns):
                i, k = where[flat_index]
                flat = base[i].reshape(-1)
                values = list(base)
                plus, minus = flat.clone(), flat.clone()
                plus[k] += h
                minus[k] -= h
                values[i] = plus.reshape(base[i].shape)
                f_plus = flat_out(values)
                values[i] = minus.reshape(base[i].shape)
                f_minus = flat_out(values)
                numeric[:, column] = (f_plus - f_minus) / (2 * h)
            gap = float((numeric - reverse).abs().max()) if numeric.numel() else 0.0
            best = min(best, gap / max(scale, float(numeric.abs().max()), 1e-300))
        verdict = "reverse mode right" if best <= REFEREE_RTOL else "reverse mode wrong or not differentiable here"
        sampled = f", {len(columns)} of {n} columns" if len(columns) < n else ""
        return f"{verdict} (closest central difference: relative gap {best:.2g}{sampled})"
    except Exception as exc:  # noqa: BLE001
        return f"referee could not run: {_one_line(exc)}"


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:160]


def worker(kornia: Path, folders: list[str], keyword: str, out: Path, threads: int) -> int:
    import pytest
    import torch

    torch.set_num_threads(threads)
    sys.path.insert(0, str(kornia))
    os.chdir(kornia)
    return int(pytest.main([*folders, "-q", "-k", keyword, "--dtype", "float64",
                            "-p", "no:cacheprovider", "-p", "no:randomly"], plugins=[Recorder(out)]))


# ------------------------------------------------------------------------------------------------
# the driver
# ------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kornia", type=Path, help="a kornia checkout (with kornia/, testing/ and tests/)")
    parser.add_argument("folders", nargs="+", help="test folders relative to the checkout, e.g. tests/enhance")
    parser.add_argument("-k", dest="keyword", default="grad", help="pytest -k expression (default: grad)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--save", type=Path, help="also write every call's record to this JSON-lines file")
    parser.add_argument("--isolate", action="store_true", help="one pytest process per folder")
    parser.add_argument("--dump", type=Path, help="save each disagreement's function and inputs here (torch.save)")
    parser.add_argument("--worker", nargs=2, metavar=("FOLDER", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    kornia = args.kornia.resolve()
    if args.worker:
        return worker(kornia, args.worker[0].split(os.pathsep), args.keyword, Path(args.worker[1]), args.threads)
    if not (kornia / "testing" / "base.py").is_file():
        parser.error(f"{kornia} has no testing/base.py: give the root of a kornia checkout")
    records, crashes = [], []
    with tempfile.TemporaryDirectory() as scratch:
        groups = [[f] for f in args.folders] if args.isolate else [args.folders]
        for group in groups:
            folder = os.pathsep.join(group)
            out = Path(scratch) / (str(len(records)) + ".jsonl")
            # no network: a test that downloads pretrained weights fails at once instead of hanging
            env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(kornia)]),
                   **({"DERIVCHECK_KORNIA_DUMP": str(args.dump.resolve())} if args.dump else {}),
                   "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
                   "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9"}
            command = [sys.executable, str(Path(__file__).resolve()), str(kornia), folder, "-k", args.keyword,
                       "--threads", str(args.threads), "--worker", folder, str(out)]
            started = time.perf_counter()
            done = subprocess.run(command, env=env, capture_output=True, text=True)
            found = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
            records.extend(found)
            if done.returncode < 0:
                crashes.append(f"{folder}: pytest process died (signal {-done.returncode})")
            print(f"{', '.join(group)}: {len(found)} gradcheck calls, {time.perf_counter() - started:.0f} s", flush=True)
    if args.save:
        args.save.write_text("".join(json.dumps(r) + "\n" for r in records))
    report(records, crashes)
    return 0


def report(records: list[dict], crashes: list[str]) -> None:
    outcomes = ("pass", "mismatch", "inconclusive", "not differentiable", "error")
    print(f"\n{len(records)} gradcheck calls from kornia's tests; outcomes:\n")
    print("| outcome | torch.autograd.gradcheck | check_grad |")
    print("|---|---:|---:|")
    ours, theirs = Counter(r["check_grad"] for r in records), Counter(r["gradcheck"] for r in records)
    for outcome in outcomes:
        print(f"| {outcome} | {theirs.get(outcome, 0)} | {ours.get(outcome, 0)} |")
    for crash in crashes:
        print(f"CRASH: {crash}")
    t_ours = sum(r["check_grad_s"] for r in records)
    t_theirs = sum(r["gradcheck_s"] for r in records)
    e_ours = sum(r.get("check_grad_evals", 0) for r in records)
    e_theirs = sum(r["gradcheck_evals"] for r in records)
    print(f"\ntotal time: gradcheck {t_theirs:.1f} s ({e_theirs} function calls), check_grad {t_ours:.1f} s "
          f"({e_ours} evaluations); ratio {t_ours / max(t_theirs, 1e-9):.2f}x")
    if records:
        ratios = sorted(r["check_grad_s"] / max(r["gradcheck_s"], 1e-9) for r in records)
        slowest = max(records, key=lambda r: r["check_grad_s"])
        print(f"per call: median ratio {ratios[len(ratios) // 2]:.2f}x, 90th percentile "
              f"{ratios[int(0.9 * (len(ratios) - 1))]:.2f}x; slowest check_grad call {slowest['check_grad_s']:.2f} s "
              f"({slowest['test']})")
    disagreements = [r for r in records if r["check_grad"] != r["gradcheck"]]
    print(f"\n{len(disagreements)} disagreements:")
    for r in disagreements:
        print(f"- {r['test']}: gradcheck {r['gradcheck']}, check_grad {r['check_grad']}; referee: {r.get('referee')}")
        for line in (r.get("message") or [])[:3]:
            print(f"    {line}")
    noted = [r for r in records if r["check_grad"] == "pass" and r.get("notes")]
    if noted:
        print(f"\n{len(noted)} passing checks with notes (findings), e.g.:")
        for r in noted[:8]:
            print(f"- {r['test']}: {r['notes'][0][:200]}")


if __name__ == "__main__":
    raise SystemExit(main())
