"""The mutation suite: hand-written backward passes with the bugs people make, each caught by
``check_grad`` (and named where the cause is evident); the correct versions pass, at hard
points and in float32 too.

Each mutation is a pair (correct, buggy) of the same ``torch.autograd.Function`` or hand-derived
gradient; the oracle is independent of the code under test: finite differences in float64.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from derivcheck import DerivativeMismatch, check_grad
from derivcheck.gradcheck.result import Mode
from derivcheck.verdict import Verdict

F64 = torch.float64


def tensor(values, *, dtype=F64, grad: bool = True) -> torch.Tensor:
    return torch.tensor(values, dtype=dtype, requires_grad=grad)


def randn(*shape: int, seed: int = 0, dtype=F64, grad: bool = True, scale: float = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(*shape, generator=g, dtype=F64)).to(dtype).requires_grad_(grad)


def function(forward, backward, name: str) -> type[torch.autograd.Function]:
    """A custom autograd.Function from a forward and a backward that sees the saved inputs."""

    def fwd(ctx, *args):
        ctx.save_for_backward(*[a for a in args if isinstance(a, torch.Tensor)])
        return forward(*args)

    def bwd(ctx, grad):
        return backward(grad, *ctx.saved_tensors)

    return type(name, (torch.autograd.Function,), {"forward": staticmethod(fwd), "backward": staticmethod(bwd)})


# --- the functions, each with its correct backward and its usual bug -----------------------------

def square_backward(g, x):
    return 2 * x * g


def square_backward_sign(g, x):
    return -2 * x * g


Square = function(lambda x: x * x, square_backward, "Square")
SquareSign = function(lambda x: x * x, square_backward_sign, "SquareSign")

SumSquares = function(lambda x: (x * x).sum(), lambda g, x: 2 * x * g, "SumSquares")
SumSquaresHalf = function(lambda x: (x * x).sum(), lambda g, x: x * g, "SumSquaresHalf")  # the 2 is missing


def _layer(W, x):
    return torch.tanh(W @ x)


def _layer_backward(g, W, x, *, transposed: bool = False):
    y = torch.tanh(W @ x)
    local = g * (1 - y * y)
    grad_W = torch.outer(local, x)
    return (grad_W.T if transposed else grad_W), W.T @ local


Layer = function(_layer, _layer_backward, "Layer")
LayerTransposed = function(_layer, lambda g, W, x: _layer_backward(g, W, x, transposed=True), "LayerTransposed")

XSin = function(lambda x: x * torch.sin(x), lambda g, x: g * (torch.sin(x) + x * torch.cos(x)), "XSin")
XSinMissingTerm = function(lambda x: x * torch.sin(x), lambda g, x: g * x * torch.cos(x), "XSinMissingTerm")


def _softmax(x):
    e = torch.exp(x - x.max())
    return e / e.sum()


Softmax = function(_softmax, lambda g, x: _softmax(x) * (g - (g * _softmax(x)).sum()), "Softmax")
SoftmaxNoCoupling = function(_softmax, lambda g, x: _softmax(x) * g, "SoftmaxNoCoupling")

LN_EPS = 1e-5


def _layer_norm(x):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + LN_EPS)


def _layer_norm_backward(g, x, *, coupled: bool = True):
    mu = x.mean(-1, keepdim=True)
    sigma = torch.sqrt(((x - mu) ** 2).mean(-1, keepdim=True) + LN_EPS)
    xhat = (x - mu) / sigma
    if not coupled:  # the mean and variance treated as constants: only g / sigma survives
        return g / sigma
    return (g - g.mean(-1, keepdim=True) - xhat * (g * xhat).mean(-1, keepdim=True)) / sigma


LayerNorm = function(_layer_norm, _layer_norm_backward, "LayerNorm")
LayerNormNoCoupling = function(_layer_norm, lambda g, x: _layer_norm_backward(g, x, coupled=False),
                               "LayerNormNoCoupling")


def _linear(x, W, b):
    return x @ W.T + b


def _linear_backward(g, x, W, b, *, summed: bool = True):
    return g @ W, g.T @ x, (g.sum(0) if summed else g[0])


Linear = function(_linear, _linear_backward, "Linear")
LinearBiasNotSummed = function(_linear, lambda g, x, W, b: _linear_backward(g, x, W, b, summed=False),
                               "LinearBiasNotSummed")


def _reverse_cumsum(g):
    return torch.flip(torch.cumsum(torch.flip(g, [0]), 0), [0])


Cumsum = function(lambda x: torch.cumsum(x, 0), lambda g, x: _reverse_cumsum(g), "Cumsum")
CumsumOffByOne = function(lambda x: torch.cumsum(x, 0), lambda g, x: _reverse_cumsum(g) - g, "CumsumOffByOne")

GELU_C = math.sqrt(2 / math.pi)


def _gelu(x):
    return 0.5 * x * (1 + torch.tanh(GELU_C * (x + 0.044715 * x**3)))


def _gelu_backward(g, x, *, c: float = GELU_C):
    inner = c * (x + 0.044715 * x**3)
    t = torch.tanh(inner)
    return g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x**2))


Gelu = function(_gelu, _gelu_backward, "Gelu")
# sqrt(2/pi) = 0.79788456..., truncated
GeluTruncated = function(_gelu, lambda g, x: _gelu_backward(g, x, c=0.7978), "GeluTruncated")


def _one_entry_off(g, x, *, entry: int, factor: float):
    grad = 3 * x * x * g
    grad[entry] = grad[entry] * factor
    return grad


CubeSum = function(lambda x: (x**3).sum(), lambda g, x: 3 * x * x * g, "CubeSum")
CubeSumOnePercent = function(lambda x: (x**3).sum(), lambda g, x: _one_entry_off(g, x, entry=637, factor=1.01),
                             "CubeSumOnePercent")
CubeSumOneFlipped = function(lambda x: (x**3).sum(), lambda g, x: _one_entry_off(g, x, entry=31_337, factor=-1.0),
                             "CubeSumOneFlipped")

TINY = 1e-9
TinySin = function(lambda x: TINY * torch.sin(x).sum(), lambda g, x: TINY * torch.cos(x) * g, "TinySin")
TinySinSign = function(lambda x: TINY * torch.sin(x).sum(), lambda g, x: -TINY * torch.cos(x) * g, "TinySinSign")


# --- every bug is caught ------------------------------------------------------------------------

def caught(func, inputs, **options) -> str:
    with pytest.raises(DerivativeMismatch) as info:
        check_grad(func, inputs, **options)
    assert isinstance(info.value, AssertionError)
    result = info.value.result
    assert result.verdict is Verdict.MISMATCH and not result.ok
    return str(info.value)


def test_sign_flip_is_caught_and_named() -> None:
    message = caught(SquareSign.apply, randn(4))
    assert "reverse mode is wrong" in message and "sign flipped" in message
    assert "dout[0]/dx[0]" in message or "dout[" in message


def test_missing_factor_of_two_is_caught_and_named() -> None:
    message = caught(SumSquaresHalf.apply, randn(5))
    assert "a factor of 2 missing" in message


def test_transposed_matrix_gradient_is_caught_and_named() -> None:
    message = caught(LayerTransposed.apply, (randn(4, 4, seed=1), randn(4, seed=2)))
    assert "transposed" in message


def test_missing_product_rule_term_is_caught() -> None:
    message = caught(XSinMissingTerm.apply, randn(5, seed=3))
    assert "reverse mode is wrong" in message


def test_missing_product_rule_term_in_a_hand_derived_gradient_is_named() -> None:
    def f(x):
        return (x * torch.sin(x)).sum()

    message = caught(f, randn(5, seed=3), grad=lambda x: x * torch.cos(x))
    assert "a term is missing" in message and "held constant" in message


def test_dropped_softmax_coupling_term_is_caught_and_named() -> None:
    assert "coupling terms are missing" in caught(SoftmaxNoCoupling.apply, randn(6, seed=4))


def test_dropped_softmax_coupling_in_a_hand_derived_gradient_is_named() -> None:
    target = torch.tensor([0.1, 0.5, 0.2, 0.2], dtype=F64)

    def loss(z):
        e = torch.exp(z)
        return ((e / e.sum() - target) ** 2).sum()

    def grad_without_coupling(z):
        s = torch.softmax(z, 0)
        return 2 * (s - target) * s  # the derivative through the normaliser e.sum() is missing

    message = caught(loss, randn(4, seed=5), grad=grad_without_coupling)
    assert "a term is missing" in message
    assert "operand 1 of Tensor.sum" in message or "operand 2 of Tensor.div" in message


def test_dropped_layer_norm_coupling_terms_are_caught_and_named() -> None:
    assert "coupling terms are missing" in caught(LayerNormNoCoupling.apply, randn(3, 5, seed=6))


def test_bias_gradient_not_summed_over_the_batch_is_caught_and_confined_to_the_bias() -> None:
    inputs = (randn(4, 3, seed=7), randn(2, 3, seed=8), randn(2, seed=9))
    message = caught(LinearBiasNotSummed.apply, inputs)
    assert "only 'inputs[2]' is wrong" in message and "a sum over the batch is missing" in message


def test_off_by_one_in_a_cumulative_sum_is_caught() -> None:
    caught(CumsumOffByOne.apply, randn(6, seed=10))


def test_truncated_constant_in_gelu_is_caught() -> None:
    message = caught(GeluTruncated.apply, randn(8, seed=11))
    assert "truncated constant" in message


def test_one_percent_error_in_one_entry_of_a_thousand_is_caught_and_localised() -> None:
    message = caught(CubeSumOnePercent.apply, randn(1000, seed=12))
    assert "x[637]" in message and "confined to one entry" in message


def test_sign_flip_in_one_entry_of_a_hundred_thousand_is_caught_and_localised() -> None:
    message = caught(CubeSumOneFlipped.apply, randn(100_000, seed=13))
    assert "x[31337]" in message and "sign flipped" in message


def test_wrong_gradients_of_size_1e9_are_caught() -> None:
    caught(TinySinSign.apply, randn(5, seed=14))
    caught(TinySinSign.apply, randn(500, seed=14))


def test_a_wrong_tiny_entry_beside_large_ones_is_caught() -> None:
    scale = torch.tensor([1.0, 1.0, 1e-9], dtype=F64)

    def f(x):
        return (scale * x * x).sum()

    x = randn(3, seed=15)
    message = caught(f, x, grad=lambda x: 2 * scale * x * torch.tensor([1.0, 1.0, 1.5], dtype=F64))
    assert "x[2]" in message


def test_tutorial_two_layer_network_with_hand_derived_gradients() -> None:
    # the numpy tutorial: h = relu(x w1), y_pred = h w2, loss = sum((y_pred - y)^2)
    g = torch.Generator().manual_seed(16)
    x = torch.randn(8, 5, generator=g, dtype=F64)
    y = torch.randn(8, 2, generator=g, dtype=F64)

    def loss(w1, w2):
        return ((torch.relu(x @ w1) @ w2 - y) ** 2).sum()

    def grads(w1, w2, *, bug: str = ""):
        h_pre = x @ w1
        h = h_pre.clamp(min=0)
        grad_y = 2.0 * (h @ w2 - y) if bug != "factor" else (h @ w2 - y)
        grad_w2 = h.T @ grad_y
        grad_h = grad_y @ w2.T
        if bug != "relu":
            grad_h = grad_h * (h_pre > 0)
        grad_w1 = x.T @ grad_h
        return grad_w1, grad_w2

    w1, w2 = randn(5, 4, seed=17), randn(4, 2, seed=18)
    assert check_grad(loss, (w1, w2), grad=grads).ok
    assert "a factor of 2 missing" in caught(loss, (w1, w2), grad=lambda a, b: grads(a, b, bug="factor"))
    assert "only 'w1' is wrong" in caught(loss, (w1, w2), grad=lambda a, b: grads(a, b, bug="relu"))


def test_a_wrong_forward_mode_is_reported_as_such() -> None:
    class Cube(torch.autograd.Function):
        @staticmethod
        def forward(x):
            return x**3

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(inputs[0])
            ctx.x = inputs[0]

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 3 * x * x * g

        @staticmethod
        def jvp(ctx, t):
            return 2 * ctx.x * ctx.x * t  # should be 3 x^2 t

    with pytest.raises(DerivativeMismatch) as info:
        check_grad(Cube.apply, randn(4, seed=19))
    result = info.value.result
    assert result.mode(Mode.FORWARD).verdict is Verdict.MISMATCH
    assert result.mode(Mode.REVERSE).verdict is Verdict.PASS
    assert "forward mode is wrong; reverse mode agrees" in str(info.value)


def test_a_backward_that_is_not_differentiable_twice_is_caught_at_order_two() -> None:
    class Cube(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return (x**3).sum()

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 3 * x.detach() ** 2 * g  # right value, but double backward sees a constant

    x = randn(4, seed=20)
    assert check_grad(Cube.apply, x).ok
    with pytest.raises(DerivativeMismatch) as info:
        check_grad(Cube.apply, x, order=2)
    assert info.value.result.mode(Mode.SECOND).verdict is Verdict.MISMATCH
    assert "backward pass is not differentiable" in str(info.value)


# --- the correct versions pass ------------------------------------------------------------------

CORRECT = [
    pytest.param(Square.apply, lambda: randn(4), id="square"),
    pytest.param(SumSquares.apply, lambda: randn(5), id="sum-squares"),
    pytest.param(Layer.apply, lambda: (randn(4, 4, seed=1), randn(4, seed=2)), id="layer"),
    pytest.param(XSin.apply, lambda: randn(5, seed=3), id="x-sin-x"),
    pytest.param(Softmax.apply, lambda: randn(6, seed=4), id="softmax"),
    pytest.param(LayerNorm.apply, lambda: randn(3, 5, seed=6), id="layer-norm"),
    pytest.param(Linear.apply, lambda: (randn(4, 3, seed=7), randn(2, 3, seed=8), randn(2, seed=9)), id="linear"),
    pytest.param(Cumsum.apply, lambda: randn(6, seed=10), id="cumsum"),
    pytest.param(Gelu.apply, lambda: randn(8, seed=11), id="gelu"),
    pytest.param(CubeSum.apply, lambda: randn(1000, seed=12), id="cube-1000"),
    pytest.param(TinySin.apply, lambda: randn(5, seed=14), id="tiny-gradients"),
    pytest.param(TinySin.apply, lambda: randn(500, seed=14), id="tiny-gradients-500"),
]


@pytest.mark.parametrize(("func", "make"), CORRECT)
def test_correct_backward_passes(func, make) -> None:
    result = check_grad(func, make())
    assert result.ok and result.verdict is Verdict.PASS


@pytest.mark.parametrize(("func", "make"), CORRECT)
def test_correct_backward_passes_in_float32(func, make) -> None:
    inputs = make()
    inputs = tuple(t.detach().float().requires_grad_() for t in (inputs if isinstance(inputs, tuple) else (inputs,)))
    assert check_grad(func, inputs).ok


HARD_POINTS = [
    pytest.param(Softmax.apply, lambda: tensor([50.0, -30.0, 49.0, 0.0]), id="softmax-large-logits"),
    pytest.param(LayerNorm.apply, lambda: tensor([[1.0, 1.0 + 1e-3, 1.0 - 1e-3, 1.0]]), id="layer-norm-tiny-variance"),
    pytest.param(SumSquares.apply, lambda: tensor([1e4, -3e4, 2.5e4]), id="large-magnitudes"),
    pytest.param(Gelu.apply, lambda: tensor([-3.0, -1e-8, 0.0, 1e-8, 6.0]), id="gelu-tails-and-zero"),
    pytest.param(Gelu.apply, lambda: tensor([-6.0]), id="gelu-far-tail"),
    pytest.param(XSin.apply, lambda: tensor([1e-8, math.pi, 1e3]), id="x-sin-x-near-zero-and-far"),
    pytest.param(lambda x: torch.log(x).sum(), lambda: tensor([1e-6, 1e-3, 1.0]), id="log-near-its-pole"),
    pytest.param(lambda x: torch.relu(x).sum(), lambda: tensor([1e-7, -1e-7, 2.0]), id="relu-beside-the-kink"),
    pytest.param(lambda x: torch.sqrt(x).sum(), lambda: tensor([1e-10, 4.0]), id="sqrt-near-zero"),
]


@pytest.mark.parametrize(("func", "make"), HARD_POINTS)
def test_correct_derivatives_pass_at_hard_points(func, make) -> None:
    assert check_grad(func, make()).ok


def test_float32_weights_inside_the_function_are_lifted_for_the_reference() -> None:
    W = torch.randn(6, 4, generator=torch.Generator().manual_seed(21))  # float32, captured

    def loss(w):
        return torch.tanh(W @ w).pow(2).mean()

    result = check_grad(loss, torch.randn(4, 3, requires_grad=True, generator=torch.Generator().manual_seed(22)))
    assert result.ok and result.dtype == "float32"


def test_two_layer_network_in_float32_with_hand_derived_gradients() -> None:
    g = torch.Generator().manual_seed(23)
    x, y = torch.randn(8, 5, generator=g), torch.randn(8, 2, generator=g)

    def loss(w1, w2):
        return ((torch.tanh(x @ w1) @ w2 - y) ** 2).sum()

    def grads(w1, w2):
        h = torch.tanh(x @ w1)
        grad_y = 2 * (h @ w2 - y)
        return x.T @ ((grad_y @ w2.T) * (1 - h * h)), h.T @ grad_y

    w1 = torch.randn(5, 4, generator=g, requires_grad=True)
    w2 = torch.randn(4, 2, generator=g, requires_grad=True)
    assert check_grad(loss, (w1, w2), grad=grads).ok


def test_numpy_gradients_as_scipy_check_grad_takes_them() -> None:
    def rosen(p):
        return float(np.sum(100.0 * (p[1:] - p[:-1] ** 2) ** 2 + (1 - p[:-1]) ** 2))

    def rosen_grad(p):
        g = np.zeros_like(p)
        g[:-1] = -400 * p[:-1] * (p[1:] - p[:-1] ** 2) - 2 * (1 - p[:-1])
        g[1:] += 200 * (p[1:] - p[:-1] ** 2)
        return g

    p = np.array([1.3, 0.7, 0.8, 1.9, 1.2])
    assert check_grad(rosen, p, grad=rosen_grad).ok

    def rosen_grad_bug(p):
        g = rosen_grad(p)
        g[2] *= 1.001
        return g

    message = caught(rosen, p, grad=rosen_grad_bug)
    assert "x[2]" in message
