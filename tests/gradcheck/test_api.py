"""check_grad as a user meets it: the three kinds of target, the result object, the messages,
the options and their validation, determinism, and the properties that make it trustworthy
(Hypothesis: a right gradient always passes; one wrong entry is always caught and named)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import sympy
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import derivcheck
from derivcheck import CheckResult, DerivativeMismatch, Inconclusive, check_grad
from derivcheck.gradcheck.localise import bisect
from derivcheck.gradcheck.result import Mode
from derivcheck.model import Quantity
from derivcheck.verdict import Entry, Source, Tolerances, Verdict, judge

F64 = torch.float64


def randn(*shape: int, seed: int = 0, grad: bool = True) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64).requires_grad_(grad)


# --- torch functions -----------------------------------------------------------------------------

def test_a_right_torch_function_passes_with_both_modes() -> None:
    result = check_grad(lambda x: (x.sin() * x).sum(), randn(5))
    assert isinstance(result, CheckResult) and result.ok
    assert result.mode(Mode.REVERSE).verdict is Verdict.PASS
    assert result.mode(Mode.FORWARD).verdict is Verdict.PASS
    assert result.strategy == "full Jacobian" and result.n_inputs == 5 and result.n_outputs == 1
    assert result.seconds > 0 and result.evaluations > 0 and result.reference.startswith("numeric")
    row = result.rows[0]
    # a correct function is settled by one central difference per entry (its rounding bound)
    assert row.quantity is Quantity.JACOBIAN and row.reverse is not None and row.numeric_error < 1e-9


def test_inputs_without_requires_grad_are_held_fixed() -> None:
    w, data = randn(3, 2), randn(4, 3, seed=1, grad=False)
    result = check_grad(lambda w, x, scale: scale * torch.tanh(x @ w).sum(), (w, data, 2.0))
    assert result.ok and result.n_inputs == 6


def test_tuple_outputs_and_vector_outputs_are_checked_entry_by_entry() -> None:
    result = check_grad(lambda x: (x.exp(), x.sum() * x), randn(3))
    assert result.ok and result.n_outputs == 6
    assert sum(r.quantity is Quantity.JACOBIAN for r in result.rows) == 18
    # forward mode is first checked along one seeded direction: J u for each output
    assert sum(r.quantity is Quantity.JVP and r.forward is not None for r in result.rows) == 6


def test_the_users_tensors_are_not_modified() -> None:
    x = randn(4)
    before = x.detach().clone()

    def inplace(t):
        t = t * 1.0
        t.mul_(2)
        return t.sum()

    check_grad(inplace, x)
    assert torch.equal(x.detach(), before) and x.grad is None


def test_large_inputs_use_directions_and_name_the_wrong_entry() -> None:
    class Scaled(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return (x * x).sum()

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            grad = 2 * x * g
            grad[4321] = grad[4321] * 0.5
            return grad

    with pytest.raises(DerivativeMismatch) as info:
        check_grad(Scaled.apply, randn(5000, seed=2))
    result = info.value.result
    assert result.strategy == "directional" and result.directions == 4
    (suspect,) = result.suspects
    assert suspect.index == (0, 4321) and Source.REVERSE in suspect.wrong
    assert suspect.numeric == pytest.approx(2 * suspect.reverse, rel=1e-9)
    message = str(info.value)
    for words in ("x[4321]", "reverse mode is wrong", "a factor of 2 missing", "tolerance", "complex-step"):
        assert words in message
    assert len(message.splitlines()) <= 12


def test_a_wrong_jacobian_entry_of_a_vector_function_names_input_and_output() -> None:
    class Sin(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x.sin().reshape(20, 10)

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            grad = x.cos() * g.reshape(-1)
            grad[123] = -grad[123]
            return grad

    result = check_grad(Sin.apply, randn(200, seed=3), raises=False)
    assert result.verdict is Verdict.MISMATCH
    labels = [r.label for r in result.suspects if r.verdict is Verdict.MISMATCH]
    assert labels == ["dout[12, 3]/dx[123]"]
    assert "sign flipped" in result.message


def test_strategy_can_be_forced() -> None:
    f = lambda x: (x**3).sum()  # noqa: E731
    assert check_grad(f, randn(3), strategy="directional").strategy == "directional"
    assert check_grad(f, randn(100), strategy="full").strategy == "full Jacobian"


def test_second_order_checks_double_backward() -> None:
    result = check_grad(lambda x: (x.sin() * x.exp()).sum(), randn(4), order=2)
    assert result.mode(Mode.SECOND).verdict is Verdict.PASS
    assert any(r.quantity is Quantity.HESSIAN for r in result.rows)
    result = check_grad(lambda x: (x.sin() * x.exp()).sum(), randn(300), order=2)
    assert result.ok and sum(r.quantity is Quantity.HESSIAN for r in result.rows) == 4


def test_once_differentiable_backward_is_named_at_order_two() -> None:
    from torch.autograd.function import once_differentiable

    class Cube(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return (x**3).sum()

        @staticmethod
        @once_differentiable
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 3 * x * x * g

    assert check_grad(Cube.apply, randn(3)).ok
    with pytest.raises(DerivativeMismatch, match="once_differentiable"):
        check_grad(Cube.apply, randn(3), order=2)


def test_a_kink_is_inconclusive_not_a_mismatch() -> None:
    with pytest.raises(Inconclusive) as info:
        check_grad(lambda x: torch.relu(x).sum(), torch.tensor([0.0, 1.0], dtype=F64, requires_grad=True))
    assert isinstance(info.value, AssertionError)
    assert info.value.result.verdict is Verdict.NOT_DIFFERENTIABLE
    assert "not differentiable" in str(info.value) and "left 0 right 1" in str(info.value)


def test_a_backward_outside_both_one_sided_derivatives_is_a_mismatch_at_a_kink() -> None:
    class Relu(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x.clamp(min=0).sum()

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return torch.full_like(x, 2.0) * g  # 2 is neither slope

    with pytest.raises(DerivativeMismatch):
        check_grad(Relu.apply, torch.tensor([0.0, 1.0], dtype=F64, requires_grad=True))


def test_not_finite_and_not_deterministic_are_inconclusive() -> None:
    with pytest.raises(Inconclusive, match="not finite at this point"):
        check_grad(lambda x: torch.log(x).sum(), torch.tensor([-1.0, 1.0], dtype=F64, requires_grad=True))
    with pytest.raises(Inconclusive, match="not deterministic"):
        check_grad(lambda x: torch.nn.functional.dropout(x, 0.5, training=True).sum(), randn(50))


def test_a_backward_that_raises_is_a_mismatch_that_quotes_the_error() -> None:
    class Transposed(torch.autograd.Function):
        @staticmethod
        def forward(ctx, w):
            return w.sum()

        @staticmethod
        def backward(ctx, g):
            return torch.ones(3, 2, dtype=F64) * g

    with pytest.raises(DerivativeMismatch, match="backward pass raised") as info:
        check_grad(Transposed.apply, randn(2, 3))
    assert "transposed shape" in str(info.value)


def test_a_detached_output_is_reported() -> None:
    result = check_grad(lambda x: (x.detach() ** 2).sum(), randn(3), raises=False)
    assert result.verdict is Verdict.MISMATCH
    assert any("does not require grad" in n for n in result.notes)


def test_float32_inputs_are_checked_in_float64() -> None:
    x = torch.randn(6, requires_grad=True, generator=torch.Generator().manual_seed(4))
    result = check_grad(lambda t: (t.tanh() * t).sum(), x)
    assert result.ok and result.dtype == "float64"
    assert x.dtype == torch.float32


def test_device_option_runs_on_that_device() -> None:
    """The function sees its inputs on the device asked for (a CPU input checked on "meta" cannot
    be evaluated, so honouring the option shows as a refusal that names the device)."""
    seen: list[str] = []

    def f(t):
        seen.append(t.device.type)
        return (t**2).sum()

    assert check_grad(f, randn(3), device="cpu").ok and set(seen) == {"cpu"}
    seen.clear()
    with pytest.raises(Exception, match="meta"):
        check_grad(f, randn(3), device="meta")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_device_option_moves_cpu_inputs_to_cuda() -> None:
    seen: list[str] = []

    def f(t):
        seen.append(t.device.type)
        return (t**2).sum()

    assert check_grad(f, randn(3), device="cuda").ok and "cuda" in seen


# --- the user's own gradient ---------------------------------------------------------------------

def test_grad_function_torch_and_numpy() -> None:
    f = lambda x: (x**4).sum()  # noqa: E731
    result = check_grad(f, randn(4), grad=lambda x: 4 * x**3)
    assert result.ok and result.mode(Mode.GRAD).verdict is Verdict.PASS
    assert result.mode(Mode.REVERSE).verdict is Verdict.PASS  # torch's own autograd of f is checked too
    numpy_result = check_grad(lambda p: float(np.sum(p**4)), np.array([1.0, -2.0]), grad=lambda p: 4 * p**3)
    assert numpy_result.ok and numpy_result.mode(Mode.REVERSE) is None


def test_grad_function_that_is_wrong_names_the_grad_function() -> None:
    with pytest.raises(DerivativeMismatch, match="grad function is wrong; reverse mode, forward mode agree"):
        check_grad(lambda x: (x**4).sum(), randn(4), grad=lambda x: 4 * x**2)


def test_grad_function_with_the_wrong_shape() -> None:
    with pytest.raises(DerivativeMismatch, match=r"grad returned shape \(3, 2\) for 'w' of shape \(2, 3\)"):
        check_grad(lambda w: (w**2).sum(), randn(2, 3), grad=lambda w: 2 * w.T)


def test_grad_needs_a_scalar_function() -> None:
    with pytest.raises(ValueError, match="scalar function; func returns 3 outputs"):
        check_grad(lambda x: x**2, randn(3), grad=lambda x: 2 * x)


# --- expressions -----------------------------------------------------------------------------------

def test_expression_text_and_sympy() -> None:
    result = check_grad("x**2*y", at={"x": 2, "y": 3})
    assert result.ok and result.reference.startswith("exact")
    assert [r.exact for r in result.rows if r.quantity is Quantity.JACOBIAN] == [12.0, 4.0]
    x, y = sympy.symbols("x y")
    assert check_grad(x**2 * sympy.sin(y), at={"x": 2, "y": 0.5}).ok
    assert check_grad("sum(w**2) + w[0]*w[1]", at={"w": [1, 2, 3]}, order=2).ok


def test_expression_with_a_wrong_gradient_names_the_missing_term() -> None:
    with pytest.raises(DerivativeMismatch) as info:
        check_grad("x*sin(x)*y", at={"x": 2, "y": 3}, grad=lambda x, y: (np.sin(x) * y, x * np.sin(x)))
    message = str(info.value)
    assert "grad function is wrong" in message and "df/dx" in message
    assert "derivative with `sin(x)` held constant" in message


def test_expression_outside_its_domain_is_inconclusive() -> None:
    with pytest.raises(Inconclusive, match="log"):
        check_grad("log(x)", at={"x": -1})


def test_expression_at_a_kink_is_inconclusive() -> None:
    with pytest.raises(Inconclusive):
        check_grad("abs(x) + y", at={"x": 0, "y": 1})


# --- argument validation -----------------------------------------------------------------------------

@pytest.mark.parametrize(("kwargs", "message"), [
    ({"seed": -1}, r"seed must be a whole number >= 0, got -1"),
    ({"seed": True}, r"seed must be a whole number >= 0, got True"),
    ({"directions": 0}, r"directions must be a whole number from 1 to 64, got 0"),
    ({"order": 3}, r"order must be 1 or 2, got 3"),
    ({"strategy": "fast"}, r"strategy must be one of \['auto', 'full', 'directional'\], got 'fast'"),
    ({"tolerances": {"rtol": 1e-3}}, r"tolerances: unknown field 'rtol'"),
    ({"tolerances": {"autograd_rtol": -1}}, r"tolerances: 'autograd_rtol' must be a number >= 0, got -1"),
    ({"grad": 3}, r"grad must be callable, got 3"),
])
def test_bad_options_are_rejected_with_the_value_quoted(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        check_grad(lambda x: x.sum(), randn(2), **kwargs)


def test_bad_targets_are_rejected() -> None:
    with pytest.raises(ValueError, match="no input requires grad"):
        check_grad(lambda x: x.sum(), randn(2, grad=False))
    with pytest.raises(ValueError, match="inputs is required"):
        check_grad(lambda x: x.sum())
    with pytest.raises(ValueError, match="needs at="):
        check_grad("x**2")
    with pytest.raises(ValueError, match=r"'x\*z': undefined name 'z'"):
        check_grad("x*z", at={"x": 1})
    with pytest.raises(ValueError, match="func must return a tensor or a tuple of tensors, got float"):
        check_grad(lambda x: 1.0, randn(2))
    with pytest.raises(ValueError, match="input 0 is a sparse tensor"):
        check_grad(lambda x: x.sum(), torch.eye(2, dtype=F64).to_sparse().requires_grad_())


def test_tolerance_overrides_apply() -> None:
    class Rough(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return (x**2).sum()

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 2 * x * g * (1 + 1e-7)

    x = randn(3)
    with pytest.raises(DerivativeMismatch):
        check_grad(Rough.apply, x)
    assert check_grad(Rough.apply, x, tolerances={"autograd_rtol": 1e-6}).ok
    assert check_grad(Rough.apply, x, tolerances=Tolerances(autograd_rtol=1e-6)).ok


# --- determinism and imports ---------------------------------------------------------------------------

def test_seeded_directions_are_deterministic_and_leave_global_rng_alone() -> None:
    f = lambda x: (x.sin() ** 2).sum()  # noqa: E731
    x = randn(500)
    torch_state, numpy_state = torch.random.get_rng_state(), np.random.get_state()
    first, second = check_grad(f, x), check_grad(f, x)
    assert torch.equal(torch.random.get_rng_state(), torch_state)
    assert np.random.get_state()[1].tolist() == numpy_state[1].tolist()
    assert [r.numeric for r in first.rows] == [r.numeric for r in second.rows]
    assert [r.numeric for r in check_grad(f, x, seed=1).rows] != [r.numeric for r in first.rows]


def test_import_derivcheck_does_not_import_torch() -> None:
    code = ("import sys, derivcheck; print('torch' in sys.modules, 'sympy' in sys.modules); "
            "derivcheck.check_grad; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False", "False"]
    assert "check_grad" in derivcheck.__all__ and "CheckResult" in derivcheck.__all__


def test_the_result_table_lists_the_rows() -> None:
    result = check_grad(lambda x: (x**2).sum(), randn(2))
    table = result.table(everything=True)
    assert "dout/dx[0]" in table and "verdict" in table.splitlines()[0]
    assert str(result).startswith("check_grad(") and "pass" in str(result)


# --- properties ----------------------------------------------------------------------------------------

SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(n=st.integers(1, 300), seed=st.integers(0, 2**16), power=st.integers(2, 4))
def test_a_right_gradient_always_passes(n: int, seed: int, power: int) -> None:
    x = randn(n, seed=seed)
    assert check_grad(lambda t: (torch.sin(t) * t**power).sum(), x).ok


@SETTINGS
@given(n=st.integers(2, 2000), data=st.data())
def test_one_wrong_entry_is_always_caught_and_named(n: int, data: st.DataObject) -> None:
    entry = data.draw(st.integers(0, n - 1))
    factor = data.draw(st.sampled_from([-1.0, 2.0, 0.5, 1.01, 0.99, 0.0]))
    seed = data.draw(st.integers(0, 2**16))

    class Wrong(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return (x**3 / 3 + x).sum()

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            grad = (x * x + 1) * g
            grad[entry] = grad[entry] * factor
            return grad

    result = check_grad(Wrong.apply, randn(n, seed=seed), raises=False)
    assert result.verdict is Verdict.MISMATCH
    wrong = [r.index[1] for r in (result.suspects or result.rows) if r.verdict is Verdict.MISMATCH]
    assert wrong == [entry]


def test_bisection_finds_every_wrong_entry_when_few() -> None:
    truth = np.ones(10_000)
    computed = truth.copy()
    computed[[17, 5000, 9999]] += [1e-3, -2.0, 0.5]

    def probe(masks):
        return [judge(Entry(Quantity.VJP, 0, (0,), "b", reverse=float(computed @ m), numeric=float(truth @ m),
                            numeric_error=1e-12)) for m in masks.astype(float)]

    located = bisect(10_000, probe)
    assert sorted(located.entries) == [17, 5000, 9999] and located.complete
