"""check_grad over torch's own operator suite, with torch.autograd.gradcheck beside it.

Run from the repository root (``expecttest``, which torch's test internals import, is in the
``bench`` extra)::

    python benchmarks/torch_ops.py                                  # every eligible op (many minutes)
    python benchmarks/torch_ops.py --limit 40 --max-samples 1       # a quick look (about a minute)
    python benchmarks/torch_ops.py --ops sin,native_group_norm      # chosen ops
    python benchmarks/torch_ops.py --power-only                     # the injected-bug table only

The sweep takes every operator of torch's OpInfo database
(``torch.testing._internal.common_methods_invocations.op_db``) that supports autograd in float64
on the CPU, and up to ``--max-samples`` of its sample inputs, built as torch's own gradient tests
build them: the tensors that require grad become the checked arguments of a function that puts
them back into the sample (positional input, args and kwargs) and calls the op through its
``gradcheck_wrapper``. Each sample goes to ``torch.autograd.gradcheck`` (with the op's own
``fast_mode`` and ``nondet_tol``, undefined output gradients checked) and to ``check_grad``.

Where the two tools disagree, a referee decides: float64 central differences of the function
(complex values as real and imaginary parts) over several steps against reverse mode (one output
at a time, the others' gradients undefined, as gradcheck does) and forward mode.

The power table wraps smooth ops in an ``autograd.Function`` whose backward is torch's own
gradient with one bug in one entry, and counts how often each tool catches it.
"""

from __future__ import annotations

import argparse
import collections
import itertools
import math
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from derivcheck import check_grad  # noqa: E402
from derivcheck.verdict import Verdict  # noqa: E402

OUTCOMES = ("pass", "mismatch", "inconclusive", "refused", "error")
#: samples with more checked entries are skipped by default (grid_sampler_3d's third sample has
#: 5 million: gradcheck's full Jacobian takes hours)
MAX_INPUTS = 1_000_000
#: referee steps (central differences in float64)
REFEREE_STEPS = (1e-3, 1e-4, 1e-5, 1e-6, 1e-7)
#: the referee compares at most this many input entries (it costs 2 evaluations per entry and step)
REFEREE_MAX_INPUTS = 4000
#: referee: a mode is right within this (relative to the Jacobian's largest entry) or within the
#: agreement of two steps ...
REFEREE_RIGHT = 1e-12
#: ... and wrong beyond this when the steps agree with each other a hundred times better
REFEREE_WRONG = 1e-9


@dataclass
class Sample:
    op: str
    index: int
    fn: Callable
    args: tuple
    fast_mode: bool
    nondet_tol: float


@dataclass
class Outcome:
    tool: str
    outcome: str
    detail: str = ""
    seconds: float = 0.0


@dataclass
class Tally:
    counts: dict = field(default_factory=lambda: {t: collections.Counter() for t in ("gradcheck", "check_grad")})
    seconds: dict = field(default_factory=lambda: collections.Counter())
    rows: list = field(default_factory=list)


# the sweep ------------------------------------------------------------------------------------------
def eligible_ops(names: set[str] | None, dtype: torch.dtype = torch.float64) -> list:
    from torch.testing._internal.common_methods_invocations import op_db

    ops = []
    for op in op_db:
        if names is not None and op.name not in names and f"{op.name}.{op.variant_test_name}" not in names:
            continue
        if not op.supports_autograd or op.op is None:
            continue
        if dtype not in op.supported_backward_dtypes("cpu"):
            continue
        ops.append(op)
    return ops


def op_label(op) -> str:
    return op.name + (f".{op.variant_test_name}" if op.variant_test_name else "")


def samples_of(op, max_samples: int, dtype: torch.dtype = torch.float64) -> list[Sample]:
    """The op's first samples, each as (function of the grad-requiring tensors, those tensors)."""
    made = op.sample_inputs("cpu", dtype, requires_grad=True)
    out = []
    for k, sample in enumerate(itertools.islice(made, max_samples)):
        out.append(Sample(op_label(op), k, *_recompose(op, sample), bool(op.gradcheck_fast_mode),
                          float(op.gradcheck_nondet_tol)))
    return out


def _recompose(op, sample) -> tuple[Callable, tuple]:
    def is_tensor_list(value: object) -> bool:
        return isinstance(value, (list, tuple)) and len(value) > 0 and all(isinstance(v, torch.Tensor) for v in value)

    def wanted(value: object) -> bool:
        return isinstance(value, torch.Tensor) and value.requires_grad

    leaves = []
    for part in (sample.input, *sample.args, *sample.kwargs.values()):
        leaves.extend(v for v in (part if is_tensor_list(part) else [part]) if wanted(v))

    def put_back(part: object, supply: list) -> object:
        if is_tensor_list(part):
            return [supply.pop(0) if wanted(v) else v for v in part]
        return supply.pop(0) if wanted(part) else part

    def fn(*tensors: torch.Tensor) -> object:
        supply = list(tensors)
        first = put_back(sample.input, supply)
        rest = [put_back(a, supply) for a in sample.args]
        kwargs = {key: put_back(v, supply) for key, v in sample.kwargs.items()}
        output = op.gradcheck_wrapper(op.get_op(), first, *rest, **kwargs)
        return sample.output_process_fn_grad(output) if sample.output_process_fn_grad is not None else output

    return fn, tuple(leaves)


def run_gradcheck(sample: Sample) -> Outcome:
    from torch.autograd.gradcheck import GradcheckError

    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.autograd.gradcheck(sample.fn, sample.args, fast_mode=sample.fast_mode, nondet_tol=sample.nondet_tol,
                                     check_undefined_grad=True, check_batched_grad=False)
        outcome = Outcome("gradcheck", "pass")
    except GradcheckError as exc:
        outcome = Outcome("gradcheck", "mismatch", _first_line(exc))
    except Exception as exc:  # noqa: BLE001 - counted as a crash of the tool on this sample
        outcome = Outcome("gradcheck", "error", _first_line(exc))
    outcome.seconds = time.perf_counter() - start
    return outcome


def run_check_grad(sample: Sample) -> Outcome:
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = check_grad(sample.fn, sample.args, raises=False)
        name = {Verdict.PASS: "pass", Verdict.MISMATCH: "mismatch"}.get(result.verdict, "inconclusive")
        outcome = Outcome("check_grad", name, "" if result.ok else _reason(result))
    except ValueError as exc:
        text = str(exc)
        refused = len(text) < 400 and "\n" not in text.strip()
        outcome = Outcome("check_grad", "refused" if refused else "error", _first_line(exc))
    except Exception as exc:  # noqa: BLE001
        outcome = Outcome("check_grad", "error", f"{type(exc).__name__}: {_first_line(exc)}")
    outcome.seconds = time.perf_counter() - start
    return outcome


def _reason(result) -> str:
    """The headline and, for no verdict, why (the first row's or the check's note)."""
    head = _first_line(result.message).split(": ", 1)[-1]
    if result.verdict is Verdict.MISMATCH:
        return head
    notes = [r.note for r in result.rows if r.verdict is not Verdict.PASS and r.note] + list(result.notes)
    return f"{head}: {notes[0]}"[:200] if notes else head


def _first_line(exc: object) -> str:
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:160]


# the referee -------------------------------------------------------------------------------------------
def _real_outputs(raw: object) -> list[torch.Tensor]:
    parts = [raw] if isinstance(raw, torch.Tensor) else [r for r in raw if isinstance(r, torch.Tensor)]
    out = []
    for p in parts:
        if p.is_complex():
            out.append(torch.view_as_real(p).reshape(-1))
        elif p.is_floating_point():
            out.append(p.reshape(-1))
    return out


def _real_view(fn: Callable, args: tuple) -> tuple[Callable, torch.Tensor, list]:
    """fn as a map of one real float64 vector (complex entries as real, imaginary pairs)."""
    shapes = [(a.shape, a.is_complex()) for a in args]
    flat = torch.cat([(torch.view_as_real(a) if a.is_complex() else a).detach().reshape(-1) for a in args])

    def split(x: torch.Tensor) -> list[torch.Tensor]:
        parts, at = [], 0
        for shape, is_complex in shapes:
            size = math.prod(shape) * (2 if is_complex else 1)
            piece = x[at:at + size]
            at += size
            parts.append(torch.view_as_complex(piece.reshape(*shape, 2)) if is_complex else piece.reshape(shape))
        return parts

    def f(x: torch.Tensor) -> list[torch.Tensor]:
        return _real_outputs(fn(*split(x)))

    return f, flat, split


def referee(sample: Sample) -> str:
    """Central differences over several steps against reverse (per output) and forward mode."""
    if any(a.layout != torch.strided for a in sample.args):
        return "referee: sparse input"
    try:
        return _referee(sample)
    except Exception as exc:  # noqa: BLE001 - the referee says so rather than stopping the sweep
        return f"referee failed: {_first_line(exc)}"


def _referee(sample: Sample) -> str:
    f, x0, split = _real_view(sample.fn, tuple(a.detach() for a in sample.args))
    n = x0.numel()
    if n > REFEREE_MAX_INPUTS:
        return f"referee skipped ({n} inputs)"
    with torch.no_grad():
        raw = sample.fn(*(a.detach() for a in sample.args))
    low = sorted({str(t.dtype).removeprefix("torch.") for t in ([raw] if isinstance(raw, torch.Tensor) else raw)
                  if isinstance(t, torch.Tensor) and t.dtype not in (torch.float64, torch.complex128)
                  and (t.is_floating_point() or t.is_complex())})
    if low:
        return f"referee: the output is {', '.join(low)}; float64 differences see its rounding, not the derivative"
    try:
        with torch.no_grad():
            outs0 = f(x0)
        m_parts = [o.numel() for o in outs0]
        m = sum(m_parts)
        numeric = []
        for h in REFEREE_STEPS:
            J = torch.empty(m, n, dtype=torch.float64)
            for j in range(n):
                e = torch.zeros(n, dtype=torch.float64)
                e[j] = h
                with torch.no_grad():
                    up, down = torch.cat(f(x0 + e)), torch.cat(f(x0 - e))
                J[:, j] = (up - down) / (2 * h)
            numeric.append(J)
    except Exception as exc:  # noqa: BLE001
        return f"referee: function raised at a stencil point ({_first_line(exc)})"
    verdicts = []
    for mode, J in (("reverse", _reverse_jacobian(f, x0, m_parts)), ("forward", _forward_jacobian(f, x0, m))):
        if J is None:
            continue
        verdicts.append(_referee_verdict(mode, J, numeric))
    return "; ".join(verdicts)


def _referee_verdict(mode: str, J: torch.Tensor, numeric: list[torch.Tensor]) -> str:
    """Right when within the numerics' own agreement; wrong when the numerics agree with each
    other far better than with the mode (errors relative to the Jacobian's largest entry)."""
    finite = [N for N in numeric if bool(torch.isfinite(N).all())]
    if not finite or not bool(torch.isfinite(J).all()):
        return f"{mode}: not finite"
    scale = max(max(float(N.abs().max()) if N.numel() else 0.0 for N in finite), 1e-300)
    errs = [float((J - N).abs().max()) / scale for N in finite]
    agree = min((float((a - b).abs().max()) / scale for a, b in zip(finite, finite[1:])), default=0.0)
    best = min(errs)
    if best <= max(10 * agree, REFEREE_RIGHT):
        return f"{mode} right (error {best:.1e}, steps agree to {agree:.1e})"
    if best >= 100 * agree and best >= REFEREE_WRONG:
        return f"{mode} WRONG (error {best:.2e} at best, steps agree to {agree:.1e})"
    return f"{mode} unclear (error {best:.1e}, steps agree to {agree:.1e}: a kink or noise)"


def _reverse_jacobian(f: Callable, x0: torch.Tensor, m_parts: list[int]) -> torch.Tensor | None:
    x = x0.clone().requires_grad_(True)
    try:
        outs = f(x)
        rows = []
        for part, size in zip(outs, m_parts):
            for i in range(size):
                if not part.requires_grad:
                    rows.append(torch.zeros_like(x0))
                    continue
                w = torch.zeros(size, dtype=part.dtype)
                w[i] = 1
                (g,) = torch.autograd.grad(part, x, w, retain_graph=True, allow_unused=True, materialize_grads=True)
                rows.append(g)
        return torch.stack(rows) if rows else torch.zeros(0, x0.numel(), dtype=torch.float64)
    except Exception:  # noqa: BLE001
        return None


def _forward_jacobian(f: Callable, x0: torch.Tensor, m: int) -> torch.Tensor | None:
    import torch.autograd.forward_ad as fwAD

    cols = []
    try:
        for j in range(x0.numel()):
            e = torch.zeros_like(x0)
            e[j] = 1
            with fwAD.dual_level():
                outs = f(fwAD.make_dual(x0, e))
                tangents = [fwAD.unpack_dual(o).tangent for o in outs]
            cols.append(torch.cat([torch.zeros(o.numel(), dtype=torch.float64) if t is None else t.reshape(-1)
                                   for o, t in zip(outs, tangents)]))
        return torch.stack(cols, dim=1) if cols else None
    except Exception:  # noqa: BLE001 - no forward mode for this op
        return None


# injected bugs ---------------------------------------------------------------------------------------
def smooth_ops() -> dict[str, Callable]:
    """40 smooth functions of a (3, 4) float64 tensor with entries in (0.2, 0.8)."""
    w = torch.linspace(-1, 1, 20, dtype=torch.float64).reshape(4, 5)
    return {
        "sin": torch.sin, "cos": torch.cos, "tan": torch.tan, "tanh": torch.tanh, "sinh": torch.sinh,
        "cosh": torch.cosh, "exp": torch.exp, "expm1": torch.expm1, "exp2": torch.exp2, "log": torch.log,
        "log1p": torch.log1p, "log2": torch.log2, "log10": torch.log10, "sqrt": torch.sqrt, "rsqrt": torch.rsqrt,
        "sigmoid": torch.sigmoid, "atan": torch.atan, "asin": torch.asin, "acos": torch.acos, "asinh": torch.asinh,
        "atanh": torch.atanh, "erf": torch.erf, "erfc": torch.erfc, "softplus": torch.nn.functional.softplus,
        "gelu": torch.nn.functional.gelu, "silu": torch.nn.functional.silu, "mish": torch.nn.functional.mish,
        "logsigmoid": torch.nn.functional.logsigmoid, "reciprocal": torch.reciprocal, "cube": lambda t: t ** 3,
        "lgamma": torch.lgamma, "digamma": torch.digamma, "softmax": lambda t: torch.softmax(t, -1),
        "log_softmax": lambda t: torch.log_softmax(t, -1), "logsumexp": lambda t: torch.logsumexp(t, -1),
        "cumsum": lambda t: torch.cumsum(t, 0), "cumprod": lambda t: torch.cumprod(t, 1),
        "norm": lambda t: torch.linalg.vector_norm(t), "var": lambda t: torch.var(t, 1), "matmul": lambda t: t @ w,
    }


BUGS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "one entry x1.01": lambda g: g.reshape(-1)[5].mul_(1.01),
    "one entry x(1+1e-4)": lambda g: g.reshape(-1)[5].mul_(1 + 1e-4),
    "one entry + 1e-3 x mean abs(g)": lambda g: g.reshape(-1)[5].add_(1e-3 * float(g.abs().mean())),
}


def bugged(op: Callable, bug: Callable) -> Callable:
    class Bugged(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return op(x)

        @staticmethod
        def backward(ctx, grad_out):
            (x,) = ctx.saved_tensors
            with torch.enable_grad():
                leaf = x.detach().requires_grad_(True)
                (g,) = torch.autograd.grad(op(leaf), leaf, grad_out)
            g = g.clone()
            bug(g)
            return g

    return Bugged.apply


def power_table(seed: int) -> list[tuple[str, int, int, int, int]]:
    from torch.autograd.gradcheck import GradcheckError

    g = torch.Generator().manual_seed(seed)
    ops = smooth_ops()
    table = []
    for bug_name, bug in BUGS.items():
        caught = collections.Counter()
        for op in ops.values():
            x = (0.2 + 0.6 * torch.rand(3, 4, dtype=torch.float64, generator=g)).requires_grad_()
            f = bugged(op, bug)
            for name, fast in (("gradcheck", False), ("gradcheck fast", True)):
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        torch.autograd.gradcheck(f, (x,), fast_mode=fast)
                except GradcheckError:
                    caught[name] += 1
            result = check_grad(f, x, raises=False)
            caught["check_grad"] += result.verdict is Verdict.MISMATCH
        table.append((bug_name, len(ops), caught["gradcheck"], caught["gradcheck fast"], caught["check_grad"]))
    return table


# printing --------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", help="comma-separated op names (default: every eligible op)")
    parser.add_argument("--max-samples", type=int, default=3, help="samples per op (default 3)")
    parser.add_argument("--limit", type=int, help="only the first N eligible ops")
    parser.add_argument("--max-inputs", type=int, default=MAX_INPUTS,
                        help=f"skip samples with more checked entries (default {MAX_INPUTS:,})")
    parser.add_argument("--power-only", action="store_true", help="only the injected-bug table")
    parser.add_argument("--no-power", action="store_true", help="skip the injected-bug table")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dtype", choices=("float64", "complex128"), default="float64",
                        help="the samples' dtype (complex128: torch's complex autograd conventions)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--verbose", action="store_true", help="print every sample as it runs")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    if not args.power_only:
        sweep(args)
    if not args.no_power:
        print("\n## Injected bugs (40 smooth ops, one wrong entry in the backward)\n")
        print("| bug | ops | gradcheck | gradcheck fast | check_grad |")
        print("|---|---:|---:|---:|---:|")
        for row in power_table(args.seed):
            print("| " + " | ".join(str(c) for c in row) + " |")
    return 0


def sweep(args: argparse.Namespace) -> None:
    names = set(args.ops.split(",")) if args.ops else None
    dtype = getattr(torch, args.dtype)
    ops = eligible_ops(names, dtype)
    if args.limit:
        ops = ops[:args.limit]
    tally = Tally()
    n_samples = 0
    skipped: list[str] = []
    for op in ops:
        try:
            samples = samples_of(op, args.max_samples, dtype)
        except Exception as exc:  # noqa: BLE001 - the op's sample generator itself failed
            print(f"  {op_label(op)}: no samples ({_first_line(exc)})", file=sys.stderr)
            continue
        for sample in samples:
            size = sum(a.numel() for a in sample.args)
            if size > args.max_inputs:
                skipped.append(f"{sample.op}#{sample.index} ({size:,} entries)")
                continue
            n_samples += 1
            torch.manual_seed(args.seed)
            a = run_gradcheck(sample)
            torch.manual_seed(args.seed)
            b = run_check_grad(sample)
            for o in (a, b):
                tally.counts[o.tool][o.outcome] += 1
                tally.seconds[o.tool] += o.seconds
            if args.verbose:
                print(f"  {sample.op}#{sample.index}: gradcheck {a.outcome} ({a.seconds:.2f}s), "
                      f"check_grad {b.outcome} ({b.seconds:.2f}s) {b.detail[:100]}", file=sys.stderr, flush=True)
            if a.outcome != b.outcome:
                tally.rows.append((sample, a, b))
    print(f"## check_grad over torch's operator suite: {n_samples} {args.dtype} samples of {len(ops)} ops\n")
    print("| outcome | torch.autograd.gradcheck | check_grad |")
    print("|---|---:|---:|")
    for name in OUTCOMES:
        print(f"| {name} | {tally.counts['gradcheck'][name]} | {tally.counts['check_grad'][name]} |")
    print(f"| total time (s) | {tally.seconds['gradcheck']:.1f} | {tally.seconds['check_grad']:.1f} |")
    if skipped:
        print(f"\nskipped (more than {args.max_inputs:,} checked entries): {', '.join(skipped)}")
    print("\n## Disagreements, with the referee's verdict\n")
    print("| sample | gradcheck | check_grad | referee |")
    print("|---|---|---|---|")
    for sample, a, b in tally.rows:
        verdict = referee(sample) if {a.outcome, b.outcome} & {"mismatch", "inconclusive"} else ""
        detail = f"{b.outcome}: {b.detail}" if b.detail else b.outcome
        print(f"| {sample.op}#{sample.index} | {a.outcome} | {_cell(detail)} | {_cell(verdict)} |")


def _cell(text: str) -> str:
    return text.replace("|", "/").replace("\n", " ")[:220]


if __name__ == "__main__":
    raise SystemExit(main())
