"""Causes read off judged rows: each function returns what it finds, nothing is recorded elsewhere."""

from __future__ import annotations

import numpy as np
import torch

from derivcheck.gradcheck.context import prepare
from derivcheck.gradcheck.evidence import direction_causes, ratio_from_directions, suspect_causes, value_of
from derivcheck.gradcheck.result import Options
from derivcheck.gradcheck.torch_function import TorchFunction
from derivcheck.model import Quantity
from derivcheck.verdict import ClaimValue, Entry, Source, Tolerances, Verdict, judge

F64 = torch.float64


def row(index, numeric: float, reverse: float, quantity: Quantity = Quantity.VJP, claim: float | None = None):
    claims = () if claim is None else (ClaimValue("grad", "grad(...)", claim),)
    return judge(Entry(quantity=quantity, point=0, index=index, label=f"row {index}", reverse=reverse,
                       numeric=numeric, numeric_error=1e-12, method="central-richardson", claims=claims,
                       scale=abs(numeric)), Tolerances())


def test_one_ratio_on_every_direction_is_named_and_needs_two_directions() -> None:
    doubled = [row((0, d), v, 2 * v) for d, v in enumerate([1.5, -0.25, 3.0])]
    assert direction_causes(doubled) == ["a factor of 2 too many: computed = 2 x reference on every wrong entry"]
    assert ratio_from_directions(doubled[:1], Source.REVERSE) is None
    assert direction_causes([row((0, 0), 1.0, 1.0), row((0, 1), 2.0, 2.0)]) == []


def test_ratios_that_differ_say_nothing() -> None:
    mixed = [row((0, 0), 1.0, 2.0), row((0, 1), 1.0, 3.0)]
    assert all(r.verdict is Verdict.MISMATCH for r in mixed)
    assert direction_causes(mixed) == [None]


def test_suspects_in_one_input_are_confined_to_it() -> None:
    x = torch.randn(6, dtype=F64, generator=torch.Generator().manual_seed(0)).requires_grad_()
    ctx = prepare(TorchFunction(lambda x: (x ** 2).sum(), x), None, Options())
    suspects = [row((0, 4), 1.0, -1.0, Quantity.JACOBIAN)]
    causes = suspect_causes(ctx, suspects, None, complete=True)
    assert causes == ["sign flipped: computed = -1 x reference", "the error is confined to one entry: x[4]"]


def test_value_of_reads_each_source() -> None:
    r = row((0, 0), 1.0, 2.0, claim=np.float64(3.0))
    assert (value_of(r, Source.REVERSE), value_of(r, Source.CLAIM)) == (2.0, 3.0)
