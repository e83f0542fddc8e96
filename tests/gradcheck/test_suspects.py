"""Localisation returns its findings: suspect rows, whether the search kept everything, notes."""

from __future__ import annotations

import ast

import dataclasses

import numpy as np
import torch

from derivcheck.gradcheck.context import prepare
from derivcheck.gradcheck.result import Options
from derivcheck.gradcheck.suspects import Suspects, localise
from derivcheck.gradcheck.torch_function import TorchFunction
from derivcheck.gradcheck.vjp import directional_rows
from derivcheck.model import Quantity
from derivcheck.verdict import Source

F64 = torch.float64


def context(n: int):
    x = torch.randn(n, dtype=F64, generator=torch.Generator().manual_seed(1)).requires_grad_()
    return prepare(TorchFunction(lambda x: (x ** 3).sum(), x), None, Options())


def claimed(ctx, claim: np.ndarray) -> Suspects:
    ctx = dataclasses.replace(ctx, claim=claim)
    rows, A, ctx = directional_rows(ctx)
    return localise(ctx, rows, A)


def test_two_wrong_entries_of_a_long_gradient_are_named() -> None:
    ctx = context(1000)
    claim = 3 * ctx.fn.x ** 2
    claim[[17, 801]] += [0.5, -0.25]
    found = claimed(ctx, claim)
    assert sorted(r.index for r in found.rows) == [(0, 17), (0, 801)]
    assert all(r.quantity is Quantity.JACOBIAN and r.wrong == (Source.CLAIM,) for r in found.rows)
    assert [r.label for r in sorted(found.rows, key=lambda r: r.index)] == ["dout/dx[17]", "dout/dx[801]"]
    assert found.complete and found.notes == ()


def test_nothing_wrong_nothing_suspected() -> None:
    ctx = context(200)
    found = claimed(ctx, 3 * ctx.fn.x ** 2)
    assert found == Suspects((), True, ())


def test_a_gradient_wrong_everywhere_cannot_be_separated_and_says_so() -> None:
    ctx = context(400)
    found = claimed(ctx, 3 * ctx.fn.x ** 2 * 1.01 + 0.01)
    assert found.rows == () and not found.complete  # every block fails: more than the beam keeps
    (note,) = found.notes
    assert note.startswith("claim: the wrong entries could not be separated (blocks [")
    blocks = sorted(ast.literal_eval(note[note.index("["):-1]))  # worst first: sorted here
    assert blocks == [(0, 100), (100, 200), (200, 300), (300, 400)]
