"""Inputs as check_grad takes them: a mapping passed as keywords, ``names=``, an iterable."""

from __future__ import annotations

import pytest
import torch

from derivcheck import DerivativeMismatch, check_grad
from derivcheck.gradcheck.inputs import arrange

F64 = torch.float64


def randn(*shape: int, seed: int = 0, grad: bool = True) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64).requires_grad_(grad)


class WrongBias(torch.autograd.Function):
    @staticmethod
    def forward(ctx, b):
        return b.clone()

    @staticmethod
    def backward(ctx, g):
        g = g.clone()
        g[1] = -g[1]
        return g


def loss(w, b, *, x):
    return torch.tanh(x @ w + WrongBias.apply(b)).sum()


def test_a_mapping_is_passed_as_keywords_and_names_the_entries() -> None:
    inputs = {"w": randn(3, 2), "b": randn(2, seed=1), "x": randn(4, 3, seed=2, grad=False)}
    with pytest.raises(DerivativeMismatch, match=r"dout/db\[1\]") as caught:
        check_grad(loss, inputs)
    result = caught.value.result
    assert result.n_inputs == 8 and {r.label for r in result.failing} == {"dout/db[1]"}
    assert check_grad(lambda w, b: (w * b).sum(), {"b": randn(3), "w": randn(3, seed=1)}).ok


def test_names_name_positional_inputs() -> None:
    result = check_grad(lambda *t: (t[0] * t[1].exp()).sum(), (randn(2), randn(2, seed=1)), names=["alpha", "beta"])
    assert [r.label for r in result.rows if r.label.startswith("dout/")] == ["dout/dalpha[0]", "dout/dalpha[1]", "dout/dbeta[0]", "dout/dbeta[1]"]


def test_an_iterable_of_parameters_is_taken_as_a_tuple() -> None:
    layer = torch.nn.Linear(2, 1).double()
    result = check_grad(lambda w, b: (w.sum() * b).sum() ** 2, layer.parameters(), names=["weight", "bias"])
    assert result.ok and result.n_inputs == 3


def test_a_module_takes_a_mapping_too() -> None:
    class Scaled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.k = torch.nn.Parameter(torch.tensor([2.0], dtype=F64))

        def forward(self, x, *, power):
            return (self.k * x ** power).sum()

    result = check_grad(Scaled(), {"x": randn(3), "power": 3})
    assert result.ok and {r.label.split("/d")[1].split("[")[0] for r in result.rows if r.label.startswith("dout/")} == {"k", "x"}


@pytest.mark.parametrize(("inputs", "names", "message"), [
    ({"1x": 1.0}, None, "must be identifiers, got '1x'"),
    ({"x": 1.0}, ["y"], "a mapping's keys already name them"),
    ((1.0, 2.0), ["a"], r"one name per input \(2\), got \['a'\]"),
    ((1.0, 2.0), ["a", "a"], "names must be distinct"),
    ((1.0,), "a", "names must be a list of strings"),
])
def test_bad_inputs_and_names_are_one_clear_line(inputs, names, message) -> None:
    with pytest.raises(ValueError, match=message):
        arrange(inputs, names)


def test_a_mapping_for_a_numpy_function_is_refused() -> None:
    with pytest.raises(ValueError, match="a mapping of inputs is for torch tensors"):
        check_grad(lambda x: x ** 2, {"x": 1.0}, grad=lambda x: 2 * x)
