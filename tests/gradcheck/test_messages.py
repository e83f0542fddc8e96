"""What a failing check says: the path a forward pass cuts (``.item()``, ``.numpy()``,
``no_grad``, ``.detach()``), named with the input it cuts off; NaN and inf gradients said
plainly; a summary without empty parts."""

from __future__ import annotations

import pytest
import torch

from derivcheck import DerivativeMismatch, check_grad
from derivcheck.gradcheck.cuts import cut_causes, find_cuts
from derivcheck.gradcheck.torch_function import TorchFunction

F64 = torch.float64


def pair() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return (torch.randn(3, dtype=F64, generator=g, requires_grad=True),
            torch.randn(3, dtype=F64, generator=g, requires_grad=True))


def through_item(x, y):
    return (x * y.sum().item()).sum() + (y ** 2).sum()


def through_numpy(x, y):
    return (x * torch.from_numpy(y.detach().numpy() * 2)).sum() + y.sum()


def under_no_grad(x, y):
    with torch.no_grad():
        s = y.exp()
    return (x * s).sum() + y.sum()


def through_detach(x, y):
    return (x * y.detach().sin()).sum() + y.sum()


def through_data(x, y):
    return (x * y.data.cos()).sum() + y.sum()


@pytest.mark.parametrize(("func", "what"), [
    (through_item, ".item()"), (through_numpy, ".detach()"), (under_no_grad, "torch.no_grad() around exp"),
    (through_detach, ".detach()"), (through_data, ".data"),
])
def test_a_cut_path_is_named_with_the_input_it_cuts_off(func, what) -> None:
    with pytest.raises(DerivativeMismatch) as caught:
        check_grad(func, pair())
    causes = caught.value.result.causes
    assert causes[0].startswith(f"a path is cut: {what} on a value computed from 'y'"), causes
    assert {r.label.split("/d")[1][0] for r in caught.value.result.failing} == {"y"}  # x's gradient is right


def test_no_cut_is_claimed_for_a_wrong_formula() -> None:
    class Wrong(torch.autograd.Function):
        @staticmethod
        def forward(ctx, t):
            return t.sin()

        @staticmethod
        def backward(ctx, g):
            return g * 2.0

    with pytest.raises(DerivativeMismatch) as caught:
        check_grad(lambda t: Wrong.apply(t).sum(), pair()[0])
    assert not any("a path is cut" in c for c in caught.value.result.causes)


def test_find_cuts_reads_the_graph() -> None:
    x, y = pair()
    fn = TorchFunction(lambda a, b: a * b.detach(), (x, y))
    cuts = find_cuts(fn)
    assert [(c.what, c.inputs) for c in cuts] == [(".detach()", ("b",))]
    assert cut_causes(cuts, ["a"]) == []  # the cut reaches b; only a is wrong: not this cut
    assert "gradient of 'b' lacks every term" in cut_causes(cuts, ["b"])[0]


class NanBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, t):
        return t * 2

    @staticmethod
    def backward(ctx, g):
        return g * torch.tensor(float("nan"), dtype=g.dtype)


def test_a_nan_gradient_is_said_plainly() -> None:
    with pytest.raises(DerivativeMismatch) as caught:
        check_grad(lambda t: NanBackward.apply(t).sum(), pair()[0])
    message = str(caught.value)
    assert "reverse nan (wrong)" in message and "the gradient is nan where the reference is finite" in message
    assert "error 0 >" not in message


def test_the_summary_has_no_empty_parts() -> None:
    result = check_grad(lambda t: t.sum() * torch.rand(()), pair()[0], raises=False)
    assert result.verdict.value == "inconclusive"
    assert "; ;" not in result.message and ", ," not in result.message
