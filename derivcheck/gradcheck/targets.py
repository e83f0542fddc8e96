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

from derivcheck.gradcheck.inputs import Arguments, by_keyword
from derivcheck.gradcheck.modules import Guarded, ModuleCall, StateGuard, modules_in
from derivcheck.gradcheck.result import CheckResult, Options, with_message
from derivcheck.verdict import FLOAT64_EPS, Verdict

#: two calls at the same point "differ" beyond this many float64 ulps of the output's size
SAME_OUTPUT_ULPS = 64


def check_torch(func: Callable, arguments: Arguments, grad: Callable | None, options: Options,
                params: list[str] | None, target: str) -> CheckResult:
    """Check a torch function or module (see ``check_grad``); the caller raises."""
    from derivcheck.gradcheck.checks import check_function
    from derivcheck.gradcheck.torch_function import TorchFunction

    values, names = arguments.values, arguments.names
    module = func if isinstance(func, torch.nn.Module) else None
    if module is not None:
        call = ModuleCall(module, params, len(values), arguments.keywords)
        names = (*call.names, *(names or call.input_names(len(values))))
        values = (*call.parameter_inputs(), *values)
        guard: StateGuard | None = call.guard
        runnable: Callable = call
    else:
        plain = func if arguments.keywords is None else by_keyword(func, arguments.keywords)
        if grad is not None and arguments.keywords is not None:
            grad = by_keyword(grad, arguments.keywords)
        found = modules_in(func)
        guard = StateGuard(found) if found else None
        runnable = Guarded(plain, guard) if guard is not None else plain
    try:
        with torch.random.fork_rng(devices=[]):
            fn = TorchFunction(runnable, values, device=options.device, names=names)
            if guard is not None and guard.written:
                stateful = _carried_state(fn, guard, target, options)
                if stateful is not None:
                    return stateful
                fn._vmap = False  # a forward that writes state is evaluated plainly, one call at a time
            result = check_function(fn, grad, options, target)
    finally:
        if guard is not None:
            guard.restore()
    if guard is not None and guard.written:
        result = _noted(result, f"the forward writes {', '.join(guard.written[:3])}: evaluated one call at a "
                                f"time, state put back after each call")
    if module is not None and module.training and _nondeterministic(result):
        result = _noted(result, f"{target} is in training mode: call model.eval() before checking (dropout "
                                f"and batch statistics), or seed the randomness inside the function")
    return result


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
    result = CheckResult(
        target=target, verdict=Verdict.INCONCLUSIVE, modes=(), rows=(), suspects=(), causes=(),
        strategy="none", n_inputs=fn.n, n_outputs=fn.m, directions=0, evaluations=2, dtype=fn.dtype,
        reference="none", seconds=time.perf_counter() - start, notes=(note,),
    )
    return with_message(result)


def _nondeterministic(result: CheckResult) -> bool:
    return result.verdict is Verdict.INCONCLUSIVE and any("not deterministic" in n for n in result.notes)


def _noted(result: CheckResult, note: str) -> CheckResult:
    return with_message(dataclasses.replace(result, notes=(*result.notes, note)))
