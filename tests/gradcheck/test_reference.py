"""Steps that respect the function, and what a check costs.

Small reproductions of what kornia's gradient tests met (no kornia needed): a function that raises
or changes its output's shape at finite-difference points near x, a matrix leaving the
positive-definite cone, an entry equal to 0 beside a branch at tiny steps, staircases, kinks a
few steps away, inputs the output does not reach, an empty output, and the evaluation budget.
Evaluation counts are deterministic and asserted; seconds never are.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from derivcheck import DerivativeMismatch, check_grad
from derivcheck.verdict import Verdict

F64 = torch.float64


def tensor(values, grad: bool = True) -> torch.Tensor:
    return torch.tensor(values, dtype=F64, requires_grad=grad)


def randn(n: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, dtype=F64, generator=torch.Generator().manual_seed(seed)).requires_grad_()


class Relu101(torch.autograd.Function):
    """relu whose backward is 1% too large: a real bug beside a kink."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.relu(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * (x > 0).to(x.dtype) * 1.01


# --- cost -------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 8, 64])
def test_a_correct_function_costs_two_evaluations_per_entry(n: int) -> None:
    # gradcheck's price (2 n central-difference points) plus the point itself and one repeat
    result = check_grad(lambda t: (t.tanh() * t).sum() + (t[:1] * t[-1:]).sum(), randn(n, seed=n))
    assert result.ok and result.evaluations == 2 * n + 2


def test_a_large_input_costs_two_evaluations_per_direction() -> None:
    result = check_grad(lambda t: (t.sin() * t).sum(), randn(5000, seed=3))
    assert result.ok and result.strategy == "directional" and result.evaluations == 2 * 4 + 2


# --- domain walls -----------------------------------------------------------------------------


def indexing(t: torch.Tensor) -> torch.Tensor:
    """An image lookup that raises just above 1 (kornia's equalize: "index 318 is out of bounds")."""
    if bool((t > 1.0 + 1e-6).any()):
        raise IndexError("index 318 is out of bounds for dimension 0 with size 256")
    return (t.sin() * t).sum()


def test_a_function_raising_at_stencil_points_is_stepped_inside_its_domain() -> None:
    result = check_grad(indexing, tensor([1.0, 0.5, 0.25]))
    assert result.ok and any("IndexError: index 318" in note and "outside its domain" in note for note in result.notes)


def test_the_users_exception_at_the_point_itself_surfaces_unchanged() -> None:
    with pytest.raises(IndexError, match="index 318 is out of bounds"):
        check_grad(indexing, tensor([1.5, 0.5]))


def test_an_output_changing_shape_at_stencil_points_is_outside_the_domain() -> None:
    def stacked(t: torch.Tensor) -> torch.Tensor:  # kornia's match_*: torch.stack of a varying list
        keep = int((t > 0.5).sum())
        return torch.stack([t.sum() * (i + 1) for i in range(keep + 1)])

    result = check_grad(stacked, tensor([0.5 + 1e-6, 0.9]))
    assert result.ok and any("output has 2 entries instead of 3" in note for note in result.notes)


def test_cholesky_beside_the_positive_definite_cone_passes() -> None:
    almost = tensor([[1.0, 1.0 - 1e-6], [1.0 - 1e-6, 1.0]])
    result = check_grad(lambda s: torch.linalg.cholesky((s + s.mT) / 2), almost)
    assert result.ok and any("_LinAlgError" in note for note in result.notes)


def test_a_wrong_gradient_beside_a_domain_wall_is_still_caught() -> None:
    class LogBug(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x.log().sum()

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g / x * 1.01

    with pytest.raises(DerivativeMismatch, match="x\\[0\\]"):
        check_grad(LogBug.apply, tensor([1e-7, 0.5]))


def test_an_entry_equal_to_zero_is_stepped_on_its_neighbours_scale() -> None:
    # At |t| < 1e-13 the value follows another branch (an SVD at an exactly degenerate point);
    # reverse mode gives the branch every ordinary step sees.
    def branchy(t: torch.Tensor) -> torch.Tensor:
        degenerate = torch.where(t.abs() < 1e-13, -t, torch.zeros_like(t)).detach()
        return 2 * t + degenerate

    result = check_grad(branchy, tensor([0.0, 0.5, 0.7]))
    assert result.ok and result.evaluations == 2 * 3 + 2
    first = next(r for r in result.rows if r.index == (0, 0))
    assert first.numeric == pytest.approx(2.0, rel=1e-9)



def deflated_eigenvector_ratio(p: torch.Tensor) -> torch.Tensor:
    """kornia's triangulate_points in miniature: a solver's null vector, dehomogenised with an eps.

    The eigenvector for the smaller eigenvalue of [[a, b], [b, d]] at b = 0 (f(x) = 0), signed by
    b as a solver may return it (a 1e-8 kink through the eps), and deflated to (0, -1) when |b|
    is below 100 eps of the matrix, as LAPACK does: steps under ~1e-14 see another function.
    Reverse mode differentiates the formula, as an SVD's backward does."""
    a, b, d = p[0], p[1], p[2]
    smaller = (a + d) / 2 - torch.sqrt(((a - d) / 2) ** 2 + b**2)
    v = torch.stack([b, smaller - a])
    v = v / v.norm()
    sign = torch.where(b < 0, -1.0, 1.0)
    deflated = torch.stack([torch.zeros_like(b), -torch.ones_like(b)])
    computed = torch.where(b.abs() <= 100 * torch.finfo(F64).eps * (a.abs() + d.abs()), deflated, v * sign)
    v = v + (computed - v).detach()
    return v[0] / (v[1] + 1e-8)


def test_a_solver_deflating_at_sub_rounding_steps_passes() -> None:
    # the steps below 100 eps read slope 0; every other step reads 1 / (d - a) = -4/3
    result = check_grad(deflated_eigenvector_ratio, tensor([1.0, 0.0, 0.25]))
    assert result.ok
    row = next(r for r in result.rows if r.index == (0, 1))
    assert row.numeric == pytest.approx(-4 / 3, rel=1e-7) and row.numeric_error < 1e-7


def test_a_wrong_gradient_of_a_deflating_solver_is_caught() -> None:
    def one_percent_high(p: torch.Tensor) -> torch.Tensor:
        out = deflated_eigenvector_ratio(p)
        return 1.01 * out - (0.01 * out).detach()

    with pytest.raises(DerivativeMismatch, match="p\\[1\\]"):
        check_grad(one_percent_high, tensor([1.0, 0.0, 0.25]))


def ssim_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """kornia's SSIM loss in miniature: local means, variances and covariance over 3x3 windows."""
    c1, c2 = 0.01**2, 0.03**2

    def pool(t: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.avg_pool2d(t, 3, stride=1)

    mx, my = pool(x), pool(y)
    vx, vy, cxy = pool(x * x) - mx**2, pool(y * y) - my**2, pool(x * y) - mx * my
    ssim = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return ((1 - ssim) / 2).mean()


def image_twice() -> tuple[torch.Tensor, torch.Tensor]:
    img = torch.rand(1, 1, 6, 6, dtype=F64, generator=torch.Generator().manual_seed(0))
    return img.clone().requires_grad_(), img.clone().requires_grad_()


def test_a_loss_at_its_minimum_passes_as_zero_within_the_rounding_of_its_terms() -> None:
    # an image against itself: the loss is 0 from terms of size 1, every gradient rounding noise
    result = check_grad(ssim_loss, image_twice())
    assert result.verdict is Verdict.PASS
    assert all("rounding of the function's terms" in r.note for r in result.rows if r.note)


@pytest.mark.parametrize("slope", [1e-3, 1e-8])
def test_a_small_wrong_gradient_at_a_loss_minimum_is_still_caught(slope: float) -> None:
    def tilted_backward(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return ssim_loss(x, y) + slope * (x.sum() - x.sum().detach())

    with pytest.raises(DerivativeMismatch):
        check_grad(tilted_backward, image_twice())

# --- staircases and kinks ---------------------------------------------------------------------


@pytest.mark.parametrize("func", [
    pytest.param(lambda t: torch.round(t, decimals=3), id="round-decimals-3"),
    pytest.param(lambda t: torch.floor(t * 1000 + 0.5), id="floor"),
    pytest.param(lambda t: torch.round(t * 16) / 16, id="quantise"),
    pytest.param(lambda t: torch.sign(t - 0.5) * 3, id="sign"),
])
def test_a_staircase_with_a_jump_inside_the_first_step_passes(func) -> None:
    # 0.5005 - 1e-6 puts a jump of round(t, 3) 1e-6 away, inside the first step (7.6e-6)
    result = check_grad(func, tensor([0.5005 - 1e-6, 0.5 + 1 / 32 - 2e-6, 0.25 + 1e-3]))
    assert result.verdict is Verdict.PASS


def test_a_jump_at_the_point_itself_is_inconclusive_not_a_mismatch_and_named() -> None:
    result = check_grad(lambda t: torch.floor(t * 1000), tensor([0.25, 0.7003]), raises=False)
    assert result.verdict is Verdict.INCONCLUSIVE
    assert any(n.startswith("the function jumps at x (its value changes by about 1 across x") for n in result.notes)
    branches = check_grad(lambda t: torch.where(t > 0.25, t + 3.0, t).sum(), tensor([0.25, 0.7003]), raises=False)
    assert branches.verdict is Verdict.INCONCLUSIVE
    assert any("jumps at x (its value changes by about 3 across x" in n for n in branches.notes)


def test_a_kink_at_the_point_is_not_called_a_jump() -> None:
    result = check_grad(lambda t: (t - 0.25).abs().sum(), tensor([0.25, 0.7003]), raises=False)
    assert not any("jumps" in n for n in result.notes)


@pytest.mark.parametrize("distance", [1e-6, 3e-6, 1e-5, 1e-4])
def test_a_kink_a_few_steps_away_passes(distance: float) -> None:
    x = tensor([distance, 0.8, -0.6])
    assert check_grad(lambda t: (torch.relu(t) * t.exp()).sum(), x).ok
    assert check_grad(lambda t: (t - 2 * distance).abs().sum() * t.sum(), x).ok
    assert check_grad(lambda t: torch.maximum(t[1], t[1] + t[0] - distance) * 3, x).ok


@pytest.mark.parametrize("distance", [3e-6, 1e-4])
def test_a_wrong_gradient_beside_a_kink_is_caught(distance: float) -> None:
    with pytest.raises(DerivativeMismatch, match="x\\[0\\]"):
        check_grad(lambda x: Relu101.apply(x).sum(), tensor([distance, -0.8, -0.6]))


# --- outputs and inputs -----------------------------------------------------------------------


def test_an_input_the_output_does_not_reach_has_zero_gradient_checked() -> None:
    a, b = randn(3, seed=1), randn(3, seed=2)
    result = check_grad(lambda a, b: 2 * a, (a, b))
    assert result.ok and result.n_inputs == 6
    unreached = [r for r in result.rows if r.label.startswith("dout") and "/db" in r.label]
    assert len(unreached) == 9 and all(r.reverse == 0 and r.numeric == 0 for r in unreached)


def test_an_output_that_moves_but_carries_no_gradient_is_named() -> None:
    result = check_grad(lambda t: (t * 2, t.max().detach()), randn(4, seed=5))
    assert any("out[1]" in note and "no gradient" in note for note in result.notes)


def test_an_empty_output_is_handled() -> None:
    result = check_grad(lambda t: t[:0] * 2, randn(3, seed=6), raises=False)
    assert result.verdict is not Verdict.MISMATCH


# --- budget -----------------------------------------------------------------------------------


def test_the_budget_stops_a_refinement_with_a_message() -> None:
    x = tensor([3e-6, 0.8, -0.6, 0.2])
    result = check_grad(lambda t: torch.relu(t).sum() * t.sum(), x, raises=False, budget=10)
    assert result.verdict is Verdict.INCONCLUSIVE and result.evaluations == 10
    assert any("budget of 10 evaluations stopped the refinement of 1 of 4 entries" in n for n in result.notes)
    assert check_grad(lambda t: torch.relu(t).sum() * t.sum(), x).ok  # unbudgeted, it is refined


def test_a_budget_must_be_a_positive_whole_number() -> None:
    with pytest.raises(ValueError, match="budget must be a whole number"):
        check_grad(lambda t: t.sum(), randn(2), budget=0)


def _to_quaternion(x):
    """Axis-angle to quaternion with a small-angle branch (kornia's axis_angle_to_quaternion)."""
    theta2 = (x * x).sum(-1, keepdim=True)
    theta = theta2.sqrt()
    smooth = theta2 > 0
    w = torch.where(smooth, torch.cos(theta / 2), torch.ones_like(theta))
    k = torch.where(smooth, torch.sin(theta / 2) / theta, torch.full_like(theta, 0.5))
    return torch.cat([w, k * x], -1)


def test_inputs_at_rounding_scale_are_stepped_on_the_scale_of_one_when_their_own_scale_drowns() -> None:
    """Angles of 2.2e-16: steps on their own scale (1e-21) move cos(theta / 2) by nothing but its
    rounding; a second ladder with steps on the scale of 1 (gradcheck's convention) decides."""
    from derivcheck import check_grad

    x = torch.full((3,), 2.220446049250313e-16, dtype=torch.float64, requires_grad=True)
    result = check_grad(_to_quaternion, x)
    assert result.ok
    row = next(r for r in result.rows if r.label == "dout[1]/dx[0]")
    assert row.numeric == pytest.approx(0.5, rel=1e-9)


def _estimate(value: float, error: float, method: str):
    from derivcheck.engines.numeric import NumericDerivative

    return NumericDerivative(np.array([[value]]), np.array([[error]]), np.array([[method]], dtype=object), 0,
                             np.array([[1e-6]]))


def _numeric():
    from derivcheck.gradcheck.reference import Numeric
    from derivcheck.gradcheck.torch_function import TorchFunction

    return Numeric(TorchFunction(lambda t: t.sin(), tensor([0.3])), 4.0, None)


def test_small_steps_within_their_own_error_do_not_widen_a_clean_ladder() -> None:
    """kornia's warp_affine: a kink 1e-6 from x leaves the small steps +-0.48 and 0.13 away from a
    clean one-sided ladder estimate (+-1.7e-13, equal to reverse mode): no evidence against it."""
    merged = _numeric()._local(_estimate(-0.0356088463396, 1.7e-13, "forward-richardson"),
                               _estimate(-0.1634916260800, 0.48, "central-shrinking"))
    assert merged.value[0, 0] == -0.0356088463396 and merged.error[0, 0] < 1e-12


def test_small_steps_beyond_their_own_error_still_widen_the_ladder() -> None:
    """A complex step reading exactly 0 (error 1e-301) beside a minimum that rounding moved: the
    small steps' 1e-12 +- 1e-14 bounds how sure it may be."""
    merged = _numeric()._local(_estimate(0.0, 1e-301, "complex-step"), _estimate(1e-12, 1e-14, "central-shrinking"))
    assert merged.error[0, 0] >= 1e-12 or merged.value[0, 0] == 1e-12
