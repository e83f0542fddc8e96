"""A torch target made checkable: a function or a module, its inputs named, its state guarded.

The check runs inside ``torch.random.fork_rng`` (the user's global RNG is left as found) and
with a ``StateGuard`` over every module the target runs: a module target is checked on a copy,
a function that closes over a module has that module's state put back after every call.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import numpy as np
import torch

from derivcheck.gradcheck import precision
from derivcheck.gradcheck.inputs import Arguments, by_keyword
from derivcheck.gradcheck.modules import Guarded, ModuleCall, StateGuard, conversions_seen, modules_in
from derivcheck.gradcheck.result import CheckResult, Mode, Options, build_result
from derivcheck.verdict import FLOAT64_EPS, Verdict, overall

#: two calls at the same point "differ" beyond this many float64 ulps of the output's size
SAME_OUTPUT_ULPS = 64


#: torch modules that warn about torch's own use of deprecated APIs when first imported
_NOISY_IMPORTS = ("torch._decomp.decompositions_for_jvp",)


def quiet_torch_imports() -> None:
    """Import the torch internals forward mode needs with their import-time DeprecationWarnings
    (torch scripting its own decompositions) silenced: torch's warnings, not the user's, which
    still show wherever the user's own code causes them."""
    import importlib
    import sys
    import warnings

    for name in _NOISY_IMPORTS:
        if name not in sys.modules:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.")
                try:
                    importlib.import_module(name)
                except ImportError:  # another torch version: nothing to silence
                    pass


def check_torch(func: Callable, arguments: Arguments, grad: Callable | None, options: Options,
                params: list[str] | None, target: str) -> CheckResult:
    """Check a torch function or module (see ``check_grad``); the caller raises."""
    quiet_torch_imports()
    from derivcheck.gradcheck.checks import check_function
    from derivcheck.gradcheck.torch_function import TorchFunction

    values, names = arguments.values, arguments.names
    module = func if isinstance(func, torch.nn.Module) else None
    owners = [module] if module is not None else []
    if module is not None:
        call = ModuleCall(module, params, len(values), arguments.keywords)
        if not call.names and not any(isinstance(v, torch.Tensor) and v.requires_grad for v in values):
            raise ValueError(f"nothing to check: no parameter of {target} requires grad and no input does; "
                             f"unfreeze a parameter (p.requires_grad_(True)) or mark an input")
        names = (*call.names, *(names or call.input_names(len(values))))
        values = (*call.parameter_inputs(), *values)
        guard: StateGuard | None = call.guard
        runnable: Callable = call
    else:
        plain = func if arguments.keywords is None else by_keyword(func, arguments.keywords)
        if grad is not None and arguments.keywords is not None:
            grad = by_keyword(grad, arguments.keywords)
        owners = found = modules_in(func)
        guard = StateGuard(found) if found else None
        runnable = Guarded(plain, guard) if guard is not None else plain
    try:
        with torch.random.fork_rng(devices=[]), conversions_seen(guard):
            user = precision.user_precision(runnable, values)  # one watched call, unless all float64
            watched = precision.Watched(runnable)
            fn = TorchFunction(watched, values, device=options.device, names=names)
            computes = precision.lowest([*(watched.seen or ()), *([user] if user else [])])
            if computes in precision.HALF:
                fn = _lifted(fn, runnable, values, options, names, computes)
            if guard is not None and guard.written:
                stateful = _carried_state(fn, guard, target, options)
                if stateful is not None:
                    return stateful
            if guard is not None and (guard.written or guard.converted):
                # a forward that writes state or converts its modules is evaluated plainly, one call at
                # a time: under vmap a module converted in place crashes torch itself
                fn._vmap = fn._vmap_jvp = False
            result = check_function(fn, grad, options, target)
            if result.verdict is Verdict.MISMATCH and grad is None:
                result = _with_cuts(result, fn)
            if computes in precision.HALF:
                result = _as_run(result, fn, runnable, values, precision.name(computes), options)
    finally:
        if guard is not None:
            guard.restore()
    if guard is not None and guard.written:
        result = _noted(result, f"the forward writes {', '.join(guard.written[:3])}: evaluated one call at a "
                                f"time, state put back after each call")
    if guard is not None and guard.changed:
        result = _noted(result, f"the forward changed {', '.join(guard.changed[:3])} in place on every call; "
                                f"check_grad called it {result.evaluations} times and did not put it back")
    if guard is not None and guard.converted and not guard.written:
        result = _noted(result, "the forward converts its modules in place (Module.to): evaluated one call at a "
                                "time, each tensor's data put back after each call")
    training = [type(m).__name__ for m in owners if m.training]
    if training and _nondeterministic(result):
        result = _noted(result, f"{training[0]} is in training mode: call model.eval() before checking (dropout "
                                f"and batch statistics), or seed the randomness inside the function")
    return result


def _lifted(fn, runnable: Callable, values: tuple, options: Options, names, computes: torch.dtype):
    """The function lifted to float64, to check its formulas (``fn`` itself when it cannot be)."""
    from derivcheck.gradcheck.torch_function import TorchFunction

    try:
        return TorchFunction(precision.Lifted(runnable), values, device=options.device, names=names)
    except Exception:  # noqa: BLE001 - checked as it runs, with its own dtype's tolerances
        fn.precision = precision.name(computes)
        return fn


def _as_run(result: CheckResult, fn, runnable: Callable, values: tuple, dtype: str, options: Options) -> CheckResult:
    """The result with the half-precision run's gradients compared with the lifted code's."""
    if result.verdict is not Verdict.PASS and result.verdict is not Verdict.MISMATCH:
        return dataclasses.replace(result, dtype=dtype)
    try:
        rows, notes = precision.compare_run(fn, runnable, values, dtype, options.seed, options.tolerances)
    except Exception as exc:  # noqa: BLE001 - the run itself raised in half precision
        from derivcheck.gradcheck.torch_function import one_line

        rows, notes = [], [f"the {dtype} run raised {one_line(exc)}"]
    verdicts = [result.verdict, *(r.verdict for r in rows)]
    verdict = overall(verdicts)
    wrong = any(r.verdict is Verdict.MISMATCH for r in rows)
    modes = tuple(dataclasses.replace(m, verdict=Verdict.MISMATCH) if wrong and m.mode is Mode.REVERSE else m
                  for m in result.modes)
    causes = result.causes
    if wrong and any(not np.isfinite(r.reverse) for r in rows if r.verdict is Verdict.MISMATCH):
        causes = (*causes, (f"the gradient overflows or is undefined (inf or nan) in {dtype} only: the same "
                            f"code in float64 is finite (scale the computation, or compute this step in float32)"))
    elif wrong:
        causes = (*causes, f"the {dtype} run's gradient strays from the same code in float64 beyond {dtype}'s rounding")
    return dataclasses.replace(
        result, verdict=verdict, modes=modes, rows=(*result.rows, *rows), causes=causes, dtype=dtype,
        notes=(*result.notes, *notes))


def _with_cuts(result: CheckResult, fn) -> CheckResult:
    """Name the steps that cut a path from a wrong input to the output, first among the causes."""
    from derivcheck.flat_index import find_slot
    from derivcheck.gradcheck.cuts import cut_causes, find_cuts

    cuts = find_cuts(fn)
    if not cuts:
        return result
    wrong = []
    for row in result.failing:
        if row.quantity.name == "JACOBIAN" and len(row.index) == 2:
            name = find_slot(fn.slots, row.index[1]).name
            if name not in wrong:
                wrong.append(name)
    causes = cut_causes(cuts, wrong)
    return dataclasses.replace(result, causes=(*causes, *result.causes)) if causes else result


def _carried_state(fn, guard: StateGuard, target: str, options: Options) -> CheckResult | None:
    """Two calls with state carried between them: a result when the second call's output differs."""
    start = time.perf_counter()
    guard.carrying = True
    try:
        first = fn.evaluate(fn.x[None])[0]
        second = fn.evaluate(fn.x[None])[0]
    finally:
        guard.carrying = False
        guard.after_call()
    scale = float(np.max(np.abs(first))) if first.size else 0.0
    gap = float(np.max(np.abs(second - first))) if first.size else 0.0
    if not gap > SAME_OUTPUT_ULPS * FLOAT64_EPS * max(scale, 1e-300) and np.array_equal(np.isnan(first), np.isnan(second)):
        return None
    note = (f"func is not deterministic: its forward writes {', '.join(guard.written[:3])}, and the next call at "
            f"the same point differs by {gap:.3g}; check a function of the state instead, or reset it inside")
    return build_result(target, n_inputs=fn.n, n_outputs=fn.m, dtype=fn.dtype, start=start,
                        verdict=Verdict.INCONCLUSIVE, evaluations=2, notes=(note,))


def _nondeterministic(result: CheckResult) -> bool:
    return result.verdict is Verdict.INCONCLUSIVE and any("not deterministic" in n for n in result.notes)


def _noted(result: CheckResult, note: str) -> CheckResult:
    return dataclasses.replace(result, notes=(*result.notes, note))
