"""Tensor ops with the same values as torch's but derivatives that stay cheap in a double backward.

A Hessian row is the backward pass through a graph that itself contains a backward pass.
``torch.cat``'s backward slices its gradient, one slice per input; differentiating a slice
again (the Hessian row) allocates a zero tensor of the *whole* concatenation per input and
copies the slice in. :func:`concat` gives its backward as one ``split``, whose own backward
is a single ``cat``: no zero fill, fewer ops (measured on MACE-EF small's contractions).
"""

from __future__ import annotations

import torch


class _Concat(torch.autograd.Function):
    generate_vmap_rule = True  # GPU Hessians vmap the backward over seeds

    @staticmethod
    def forward(dim: int, *tensors: torch.Tensor) -> torch.Tensor:
        return torch.cat(tensors, dim)

    @staticmethod
    def setup_context(ctx, inputs, output):
        dim, *tensors = inputs
        ctx.dim, ctx.sizes = dim, [t.shape[dim] for t in tensors]

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return (None, *torch.split(grad, ctx.sizes, ctx.dim))


def concat(tensors: list[torch.Tensor] | tuple[torch.Tensor, ...], dim: int = 0) -> torch.Tensor:
    """``torch.cat(tensors, dim)`` whose backward is one split (see the module docstring)."""
    if len(tensors) == 1:
        return tensors[0]
    return _Concat.apply(dim, *tensors)
