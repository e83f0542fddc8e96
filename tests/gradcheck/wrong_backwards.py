"""Backward passes wrong in known ways, shared by the mixed-precision tests on the CPU and on CUDA."""

from __future__ import annotations

import torch


class OnePercent(torch.autograd.Function):
    """sin, with a backward 1% too large."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.sin()

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * x.cos() * 1.01


class Squares(torch.autograd.Function):
    """x**2 with a backward that squares 300 x on the way: inf in float16 (max 65504), fine elsewhere."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        big = x * 300.0
        return g * 2 * (big * big) / (300.0 * 300.0 * x)
