"""Every shape and kind of tensor torch differentiates, as check_grad sees it: 0-d and empty
tensors, identically zero derivatives, complex inputs and outputs (torch's conventions: the
real view), one output at a time with the others' gradients undefined, -inf entries held fixed,
and one clear refusal for sparse and meta tensors. Small reproductions of what the sweep over
torch's operator suite (benchmarks/torch_ops.py) found."""

from __future__ import annotations

import math

import pytest
import torch

from derivcheck import check_grad
from derivcheck.gradcheck.flat_view import InputView
from derivcheck.gradcheck.result import Mode
from derivcheck.verdict import Source, Verdict

F64, C128 = torch.float64, torch.complex128


def randn(*shape: int, seed: int = 0, dtype: torch.dtype = F64) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype).requires_grad_()


# --- 0-d and empty ----------------------------------------------------------------------------------

def test_a_0d_input_and_output_is_checked_against_torch_cos() -> None:
    x = torch.tensor(2.0, dtype=F64, requires_grad=True)
    result = check_grad(torch.sin, x)
    assert result.ok and result.n_inputs == 1 and result.n_outputs == 1
    (row,) = result.rows
    assert row.reverse == pytest.approx(math.cos(2.0), rel=1e-14)
    assert row.numeric == pytest.approx(math.cos(2.0), rel=1e-9)


def test_0d_inputs_mixed_with_matrices_are_named_without_an_index() -> None:
    a, m = torch.tensor(0.7, dtype=F64, requires_grad=True), randn(2, 2)

    def wrong(a: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        return Scale.apply(a, m).sum()

    result = check_grad(wrong, (a, m), raises=False)
    assert result.verdict is Verdict.MISMATCH
    assert {r.label for r in result.rows if r.verdict is Verdict.MISMATCH} == {"dout/da"}


class Scale(torch.autograd.Function):
    """a * m with the gradient of the 0-d ``a`` doubled."""

    @staticmethod
    def forward(ctx, a, m):
        ctx.save_for_backward(a, m)
        return a * m

    @staticmethod
    def backward(ctx, g):
        a, m = ctx.saved_tensors
        return 2 * (g * m).sum(), g * a


@pytest.mark.parametrize("shape, func", [((0, 3), lambda t: t.sum()), ((0, 3), lambda t: 2 * t),
                                         ((4,), lambda t: t[:0] * 3)])
def test_empty_inputs_or_outputs_pass_with_nothing_to_compare(shape, func) -> None:
    result = check_grad(func, randn(*shape))
    assert result.ok and result.rows == ()
    assert any("nothing to compare" in note for note in result.notes)


# --- identically zero derivatives -----------------------------------------------------------------------

@pytest.mark.parametrize("func", [lambda t: (t * 0).sum(), lambda t: t - t, lambda t: torch.zeros_like(t) * t])
def test_an_identically_zero_derivative_passes(func) -> None:
    result = check_grad(func, randn(3))
    assert result.verdict is Verdict.PASS
    assert all(r.numeric == 0 and r.reverse in (None, 0) and r.forward in (None, 0) for r in result.rows)


def test_a_derivative_of_rounding_size_passes_as_zero() -> None:
    # the sum of a softmax is 5 whatever t: every source gives rounding noise, not a slope
    result = check_grad(lambda t: torch.softmax(t * 3, 0).sum() * 5, randn(7))
    assert result.verdict is Verdict.PASS
    assert any("zero within the rounding" in r.note for r in result.rows)


def test_a_slope_tiny_beside_the_functions_values_is_decided_to_their_rounding() -> None:
    # erfc(-4.83) = 2 - 9e-12: float64 values resolve its slope -8.6e-11 only to ~0.3%
    x = torch.tensor(-4.826984902407649, dtype=F64, requires_grad=True)
    result = check_grad(torch.erfc, x)
    assert result.verdict is Verdict.PASS
    assert result.rows[0].reverse == pytest.approx(-2 / math.sqrt(math.pi) * math.exp(-x.item() ** 2), rel=1e-12)


def test_a_zero_backward_for_a_nonzero_derivative_is_still_caught() -> None:
    class Dead(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1e-6

        @staticmethod
        def backward(ctx, g):
            return g * 0

    result = check_grad(Dead.apply, randn(3), raises=False)
    assert result.verdict is Verdict.MISMATCH


# --- complex ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, func", [
    ("z^2", lambda z: z * z), ("exp", torch.exp), ("sin", torch.sin), ("matmul", lambda z: z @ z.T),
    ("|z|^2", lambda z: (z * z.conj()).real), ("conj", torch.conj), ("abs", torch.abs), ("angle", torch.angle),
    ("real", lambda z: z.real), ("to complex", lambda z: torch.view_as_real(z * 1j)),
])
def test_complex_functions_pass_holomorphic_or_not(name, func) -> None:
    z = randn(2, 2, dtype=C128)
    result = check_grad(func, z)
    assert result.ok, name
    assert result.dtype == "complex128" and result.n_inputs == 8


def test_a_real_input_to_a_complex_output_is_checked_in_the_real_view() -> None:
    x = randn(3)
    result = check_grad(lambda t: torch.polar(torch.ones_like(t), t), x)
    assert result.ok and result.n_outputs == 6
    assert {r.label for r in result.rows} >= {"dout[0].real/dt[0]", "dout[0].imag/dt[0]"}


def test_reverse_mode_of_a_complex_square_follows_torchs_convention() -> None:
    # grad_input = grad_output * conj(f'(z)); with grad_output 1 on the real part of out[0]:
    z = torch.tensor([0.3 + 0.4j], dtype=C128, requires_grad=True)
    result = check_grad(lambda z: z * z, z)
    rows = {r.label: r.reverse for r in result.rows}
    derivative = 2 * complex(0.3, 0.4)
    assert rows["dout[0].real/dz[0].real"] == pytest.approx(derivative.real)
    assert rows["dout[0].real/dz[0].imag"] == pytest.approx(-derivative.imag)


class ConjugatedSquare(torch.autograd.Function):
    """z^2 with f'(z) where torch needs conj(f'(z)): the classic complex backward bug."""

    @staticmethod
    def forward(ctx, z):
        ctx.save_for_backward(z)
        return z * z

    @staticmethod
    def backward(ctx, g):
        (z,) = ctx.saved_tensors
        return g * 2 * z


class ConjugatedNorm(torch.autograd.Function):
    """|z|^2 summed, with the gradient conjugated (2 conj(z) where torch's convention gives 2 z)."""

    @staticmethod
    def forward(ctx, z):
        ctx.save_for_backward(z)
        return (z * z.conj()).real.sum()

    @staticmethod
    def backward(ctx, g):
        (z,) = ctx.saved_tensors
        return g * 2 * z.conj()


@pytest.mark.parametrize("bug, cause", [(ConjugatedSquare, "complex derivative is conjugated"),
                                        (ConjugatedNorm, "gradient of a complex input is conjugated")])
def test_a_conjugation_bug_is_caught_and_named(bug, cause) -> None:
    result = check_grad(bug.apply, randn(3, dtype=C128), raises=False)
    assert result.verdict is Verdict.MISMATCH
    assert result.mode(Mode.REVERSE).verdict is Verdict.MISMATCH
    assert any(cause in c for c in result.causes), result.causes
    assert any(r.label.endswith(".imag") for r in result.rows if Source.REVERSE in r.wrong)


def test_a_conjugation_bug_is_caught_by_directional_checks_too() -> None:
    result = check_grad(ConjugatedSquare.apply, randn(40, dtype=C128), strategy="directional", raises=False)
    assert result.verdict is Verdict.MISMATCH


def test_a_function_computing_in_complex64_gets_complex64_tolerances() -> None:
    result = check_grad(lambda z: (z.to(torch.complex64) ** 2).sum(), randn(3, dtype=torch.complex64))
    assert result.ok and result.dtype == "complex64"


# --- each output on its own ---------------------------------------------------------------------------

class TwoOutputs(torch.autograd.Function):
    """(sin x, exp x); with ``drop`` its backward returns zero when one output's gradient is
    undefined (the bug of native_group_norm's backward that gradcheck catches)."""

    drop = True

    @staticmethod
    def forward(ctx, x):
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(x)
        return x.sin(), x.exp()

    @staticmethod
    def backward(ctx, ga, gb):
        (x,) = ctx.saved_tensors
        if ga is None or gb is None:
            if TwoOutputs.drop:
                return torch.zeros_like(x)
            return (0 if ga is None else ga * x.cos()) + (0 if gb is None else gb * x.exp())
        return ga * x.cos() + gb * x.exp()


@pytest.mark.parametrize("strategy", ["full", "directional"])
def test_a_backward_that_drops_gradients_when_another_output_has_none_is_caught(strategy, monkeypatch) -> None:
    monkeypatch.setattr(TwoOutputs, "drop", True)
    result = check_grad(TwoOutputs.apply, randn(3), strategy=strategy, raises=False)
    assert result.verdict is Verdict.MISMATCH
    monkeypatch.setattr(TwoOutputs, "drop", False)
    assert check_grad(TwoOutputs.apply, randn(3), strategy=strategy).ok


# --- -inf entries ---------------------------------------------------------------------------------------

def test_minus_inf_entries_are_held_fixed_and_reported_as_not_checked() -> None:
    x = torch.tensor([[0.3, -math.inf, 1.2], [-0.5, 0.1, -math.inf]], dtype=F64, requires_grad=True)
    result = check_grad(lambda t: torch.softmax(t, -1), x)
    assert result.ok and result.n_inputs == 4
    assert not any(r.label.endswith(("dt[0, 1]", "dt[1, 2]")) for r in result.rows)
    assert any("held fixed" in n and "2 of 6 entries (-inf)" in n for n in result.notes), result.notes


def test_a_wrong_gradient_beside_minus_inf_entries_names_the_right_entry() -> None:
    class Bug(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return torch.where(torch.isfinite(x), x * 3, 0.0)

        @staticmethod
        def backward(ctx, g):
            out = g * 3
            out[2] = g[2] * 4
            return out

    x = torch.tensor([0.5, -math.inf, 0.25, 1.0], dtype=F64, requires_grad=True)
    result = check_grad(Bug.apply, x, raises=False)
    assert result.verdict is Verdict.MISMATCH
    assert {r.label for r in result.rows if r.verdict is Verdict.MISMATCH} == {"dout[2]/dx[2]"}


def test_input_view_rebuilds_held_entries_and_zero_tangents() -> None:
    t = torch.tensor([1.0, -math.inf, 2.0], dtype=F64)
    view = InputView([t], ["x"])
    assert view.n == 2 and list(view.x) == [1.0, 2.0]
    (back,) = view.split(torch.tensor([5.0, 6.0], dtype=F64))
    assert back.tolist() == [5.0, -math.inf, 6.0]
    (tangent,) = view.split(torch.tensor([1.0, 1.0], dtype=F64), tangent=True)
    assert tangent.tolist() == [1.0, 0.0, 1.0]


# --- refusals ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("make, match", [
    (lambda: torch.eye(3, dtype=F64).to_sparse().requires_grad_(), "sparse tensor"),
    (lambda: torch.eye(3, dtype=F64).to_sparse_csr().requires_grad_(), "sparse tensor"),
    (lambda: torch.empty(3, dtype=F64, device="meta", requires_grad=True), "meta tensor"),
])
def test_sparse_and_meta_inputs_get_one_clear_refusal(make, match) -> None:
    with pytest.raises(ValueError, match=match) as info:
        check_grad(lambda t: t * 2, make())
    message = str(info.value)
    assert "\n" not in message and len(message) < 300


def test_outputs_torch_marks_non_differentiable_are_named_not_compared() -> None:
    x, w = randn(2, 3, 4), randn(4, seed=1)
    result = check_grad(lambda x, w: torch.native_layer_norm(x, (4,), w, None, 1e-5), (x, w))
    assert result.ok and result.n_outputs == 24
    assert any("out[1], out[2] carry no gradient" in note for note in result.notes), result.notes


def test_a_function_that_reads_its_inputs_storage_sees_its_own_tensor() -> None:
    x = randn(6)
    assert check_grad(lambda t: torch.as_strided(t, (2, 2), (1, 2), 1) ** 2, x).ok


def test_a_function_that_reads_beyond_a_views_storage_gets_one_clear_refusal() -> None:
    base = torch.arange(12, dtype=F64)
    view = base[2:8].requires_grad_()
    with pytest.raises(ValueError, match="not on copies of them") as info:
        check_grad(lambda t: torch.as_strided(t, (2, 2), (1, 2), 6), view)
    assert "\n" not in str(info.value)


def test_a_complex_half_cast_is_checked_through_the_lifted_function() -> None:
    result = check_grad(lambda t: t.chalf() * 2, randn(2, 3))
    assert result.ok


def test_a_wrong_gradient_of_a_complex_matrix_is_diagnosed_without_crashing() -> None:
    # a square complex matrix is no square block of the real vector: the transpose rule must not apply
    class OneEntry(torch.autograd.Function):
        @staticmethod
        def forward(ctx, z):
            ctx.save_for_backward(z)
            return (z * z).sum().real

        @staticmethod
        def backward(ctx, g):
            (z,) = ctx.saved_tensors
            grad = g * 2 * z.conj()
            grad[3, 4] = grad[3, 4] * 2
            return grad

    result = check_grad(OneEntry.apply, randn(12, 12, dtype=C128), raises=False)
    assert result.verdict is Verdict.MISMATCH and result.strategy == "directional"
    assert {r.label for r in result.suspects} == {"dout/dx[3, 4].real", "dout/dx[3, 4].imag"}


def test_a_users_gradient_of_a_complex_input_follows_torchs_convention() -> None:
    z = randn(3, dtype=C128)
    norm = lambda z: (z * z.conj()).real.sum()  # noqa: E731
    assert check_grad(norm, z, grad=lambda z: 2 * z).ok
    assert check_grad(norm, z, grad=lambda z: 2 * z.numpy()).ok
    result = check_grad(norm, z, grad=lambda z: 2 * z.conj(), raises=False)
    assert result.verdict is Verdict.MISMATCH and result.mode(Mode.GRAD).verdict is Verdict.MISMATCH
