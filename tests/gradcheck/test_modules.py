"""check_grad on nn.Modules: parameters checked and named, ``params=`` globs, the module (and the
modules a function closes over) left exactly as found, state-writing forwards, dropout."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch._C._functorch import is_functorch_wrapped_tensor

from derivcheck import DerivativeMismatch, Inconclusive, check_grad
from derivcheck.gradcheck.modules import StateGuard, select
from derivcheck.verdict import Verdict

F64 = torch.float64


def data(*shape: int, seed: int = 0, grad: bool = False) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64).requires_grad_(grad)


class Tap(torch.autograd.Function):
    """Identity forward; the backward scales one entry of the gradient (a planted 1% bug)."""

    @staticmethod
    def forward(ctx, w, i, j):
        ctx.ij = (i, j)
        return w.clone()

    @staticmethod
    def backward(ctx, g):
        g = g.clone()
        g[ctx.ij] *= 1.01
        return g, None, None


class Net(torch.nn.Module):
    def __init__(self, bug: tuple[int, int] | None = None) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.layer = torch.nn.Linear(3, 4)
        self.head = torch.nn.Linear(4, 1)
        self.bug = bug

    def forward(self, x):
        w = self.layer.weight if self.bug is None else Tap.apply(self.layer.weight, *self.bug)
        return self.head(torch.tanh(F.linear(x, w, self.layer.bias))).sum()


def snapshot(model: torch.nn.Module) -> dict:
    return {
        "state": {k: (v, v.detach().clone()) for k, v in model.state_dict(keep_vars=True).items()},
        "training": [m.training for m in model.modules()],
        "attributes": [dict(vars(m)) for m in model.modules()],
        "hooks": [(dict(m._forward_hooks), dict(m._forward_pre_hooks), dict(m._backward_hooks)) for m in model.modules()],
    }


def assert_unchanged(model: torch.nn.Module, before: dict) -> None:
    after = snapshot(model)
    assert after["training"] == before["training"]
    assert after["hooks"] == before["hooks"]
    assert len(after["attributes"]) == len(before["attributes"])
    for now, then in zip(after["attributes"], before["attributes"]):
        assert now.keys() == then.keys()
        assert all(now[k] is then[k] for k in then), [k for k in then if now[k] is not then[k]]
    for key, (tensor, value) in before["state"].items():
        current = after["state"][key][0]
        assert current is tensor and torch.equal(current.detach(), value), key
        assert not is_functorch_wrapped_tensor(current) and not current.is_complex()
    for m in model.modules():
        for value in vars(m).values():
            if isinstance(value, torch.Tensor):
                assert not is_functorch_wrapped_tensor(value) and not value.is_complex()


def test_every_parameter_is_checked_and_named() -> None:
    model = Net().double()
    result = check_grad(model, data(5, 3))
    assert result.ok and result.n_inputs == 3 * 4 + 4 + 4 + 1
    labels = {r.label for r in result.rows}
    assert {"dout/dlayer.weight[3, 2]", "dout/dhead.bias[0]", "dout/dlayer.bias[3]"} <= labels


def test_a_one_percent_bug_in_one_weight_entry_is_named() -> None:
    model = Net(bug=(2, 1)).double()
    with pytest.raises(DerivativeMismatch, match=r"layer\.weight\[2, 1\]") as caught:
        check_grad(model, data(5, 3))
    result = caught.value.result
    assert {r.label for r in result.failing} == {"dout/dlayer.weight[2, 1]"}
    assert any("confined to one entry: layer.weight[2, 1]" in c for c in result.causes)
    row = result.failing[0]
    assert row.reverse / row.numeric == pytest.approx(1.01, rel=1e-9)


def test_inputs_that_require_grad_are_checked_beside_the_parameters() -> None:
    model = Net().double()
    result = check_grad(model, data(2, 3, grad=True))
    assert result.ok and result.n_inputs == 21 + 6
    assert any(r.label.endswith("/dx[1, 2]") for r in result.rows)


def test_params_selects_by_name_or_glob() -> None:
    model = Net().double()
    result = check_grad(model, data(5, 3), params=["head.*"])
    labels = [r.label for r in result.rows if r.label.startswith("dout/")]
    assert result.n_inputs == 5 and labels and all("/dhead." in label for label in labels)
    assert check_grad(model, data(5, 3), params="layer.bias").n_inputs == 4
    with pytest.raises(ValueError, match=r"params: 'fc9\.\*' matches no parameter"):
        check_grad(model, data(5, 3), params=["fc9.*"])
    with pytest.raises(ValueError, match="params= selects parameters of an nn.Module"):
        check_grad(lambda x: x.sum(), data(3, grad=True), params=["w"])
    assert select([("a.w", None), ("b.w", None)], ["*.w"]) == ["a.w", "b.w"]


def test_frozen_parameters_are_held_fixed() -> None:
    model = Net().double()
    model.layer.requires_grad_(False)
    assert check_grad(model, data(5, 3)).n_inputs == 5
    model.requires_grad_(False)
    with pytest.raises(ValueError, match="nothing to check: no parameter of Net requires grad and no input does"):
        check_grad(model, data(5, 3))
    assert check_grad(model, data(5, 3, grad=True)).n_inputs == 15


def test_the_module_is_left_exactly_as_found() -> None:
    model = Net().double()
    model.train()
    calls = []
    model.head.register_forward_hook(lambda m, i, o: calls.append(1))
    model.extra = torch.ones(2, dtype=F64)
    before = snapshot(model)
    rng = torch.get_rng_state()
    check_grad(model, data(5, 3, grad=True))
    assert_unchanged(model, before)
    assert torch.equal(torch.get_rng_state(), rng)
    assert calls  # the hooks ran (on the copy): they are part of what the module computes


def test_batch_norm_statistics_are_not_updated_by_the_check() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2)).double()
    before = snapshot(model)
    assert check_grad(lambda x: model(x), data(3, 2, grad=True)).ok  # through a closure: put back
    assert_unchanged(model, before)
    check_grad(model, data(3, 2), params=["1.*"], raises=False)
    assert_unchanged(model, before)


class SiftLike(torch.nn.Module):
    """Writes state in forward as kornia's SIFT descriptor does (``self.pk = self.pk.to(dtype)``)."""

    def __init__(self) -> None:
        super().__init__()
        self.pk = torch.ones(1, 1, 3, 3) / 9

    def forward(self, x):
        self.pk = self.pk.to(x.dtype).to(x.device)
        self.last = x * 2  # an input-derived tensor kept in the module: vmap would leave a wrapper here
        return F.conv2d(x, self.pk, padding=1).tanh()


@pytest.mark.parametrize("how", ["module", "lambda", "bound method"])
def test_a_forward_that_writes_state_leaves_nothing_behind(how: str) -> None:
    model = SiftLike().double()
    pk = model.pk
    x = data(1, 1, 5, 5, grad=True)
    func = {"module": model, "lambda": lambda t: model(t), "bound method": model.forward}[how]
    result = check_grad(func, x)
    assert result.ok
    assert model.pk is pk and "last" not in vars(model)
    assert any("writes self.pk" in n or "writes self.last" in n for n in result.notes)
    assert result.mode is not None and torch.isfinite(model(x)).all()  # the next call runs
    assert not is_functorch_wrapped_tensor(model.last) and not model.last.is_complex()


class Accumulates(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.h = torch.zeros(3, dtype=F64)

    def forward(self, x):
        self.h = 0.5 * self.h + x
        return (self.h ** 2).sum()


def test_a_forward_whose_state_changes_the_next_call_is_not_deterministic() -> None:
    model = Accumulates()
    with pytest.raises(Inconclusive, match=r"not deterministic: its forward writes self\.h") as caught:
        check_grad(model, data(3, grad=True))
    assert "; ;" not in caught.value.result.message
    assert torch.equal(model.h, torch.zeros(3, dtype=F64))  # never run: checked on a copy
    h = model.h
    with pytest.raises(Inconclusive, match="not deterministic"):
        check_grad(lambda x: model(x), data(3, grad=True))
    assert model.h is h  # through a closure: put back


def test_dropout_in_training_mode_is_inconclusive_with_advice_and_passes_in_eval_mode() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Dropout(0.5)).double()
    result = check_grad(model, data(4, 3), raises=False)
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "model.eval()" in result.message and model.training
    closure = check_grad(lambda x: model(x), data(4, 3, grad=True), raises=False)
    assert closure.verdict is Verdict.INCONCLUSIVE and "Sequential is in training mode" in closure.message
    assert check_grad(model.eval(), data(4, 3)).ok


def test_a_guard_restores_reassigned_and_added_attributes() -> None:
    model = SiftLike()
    pk = model.pk
    guard = StateGuard([model])
    model(torch.ones(1, 1, 3, 3, dtype=F64))
    guard.after_call()
    assert model.pk is pk and "last" not in vars(model)
    assert sorted(guard.written) == ["self.last", "self.pk"]


class ConvertsInner(torch.nn.Module):
    """kornia's ``get_laf_descriptors``: ``patch_descriptor.to(img)`` on every call (``Module.to``
    swaps each parameter's ``.data`` in place: under forward-mode vmap torch itself crashed)."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = torch.nn.Conv2d(1, 1, 3, bias=False).double()
        self.seen_wrapped: list[bool] = []

    def forward(self, x):
        self.seen_wrapped.append(is_functorch_wrapped_tensor(x))
        self.inner.to(x)
        return self.inner(x).tanh().sum()


@pytest.mark.parametrize("how", ["module", "lambda"])
def test_a_forward_that_converts_its_modules_is_evaluated_plainly_and_left_as_found(how: str) -> None:
    model = ConvertsInner()
    weight, data_before = model.inner.weight, model.inner.weight.detach().clone()
    result = check_grad(model if how == "module" else (lambda t: model(t)), data(1, 1, 6, 6, grad=True))
    assert result.ok
    assert any("converts its modules in place" in n for n in result.notes)
    if how == "lambda":  # the user's own module ran: never under vmap or functorch's jvp
        assert model.seen_wrapped and not any(model.seen_wrapped)
    assert model.inner.weight is weight and weight.dtype == F64 and not weight.is_complex()
    assert torch.equal(weight.detach(), data_before)


def test_a_guard_puts_back_data_converted_in_place() -> None:
    model = torch.nn.Linear(2, 2).double()
    weight, before = model.weight, model.weight.detach().clone()
    guard = StateGuard([model])
    with pytest.warns(UserWarning, match="Complex modules"):
        model.to(torch.complex128)  # what a complex-step evaluation of ``self.to(x)`` does
    assert weight.is_complex()
    guard.after_call()
    assert model.weight is weight and weight.dtype == F64 and torch.equal(weight.detach(), before)
    assert guard.converted


class CountsItsCalls(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(3, dtype=F64))
        self.calls = torch.nn.Parameter(torch.zeros((), dtype=F64), requires_grad=False)

    def forward(self, x):
        self.calls.add_(1.0)  # an in-place write to one of its own parameters
        return (self.w * x).sum()


def test_a_forward_that_writes_a_parameter_in_place_is_named() -> None:
    model = CountsItsCalls()
    result = check_grad(lambda t: model(t), data(3, grad=True))
    assert result.ok
    assert any("the forward changed calls in place" in n for n in result.notes)
