"""Ops with the same values and derivatives as plain torch code whose Hessian rows are cheap.

A Hessian row is the backward pass through a graph that itself contains a backward pass, so
every op of the model is differentiated twice per row. :func:`row_local` takes a function
whose rows are independent (MACE's symmetric contractions: one polynomial per atom and
channel) out of that: its per-row Jacobians and gradient-weighted curvatures are computed
once per Hessian, and every row then passes it with two small batched products.
"""

from __future__ import annotations

import torch


class _RowLocal(torch.autograd.Function):
    """y = f(x) for a function whose rows are independent: y[..., :] depends on x[..., :] of
    the same row only (all axes but the last are rows). ``evaluate(x)`` gives the values and
    two functions: () ↦ every row's Jacobian J (rows, m, L), gy ↦ K = Σ_m gy_m ∇²y_m (rows, L, L).

    A gradient is then Jᵀ·gy; a gradient taken with create_graph (the first half of a
    Hessian) is recorded as :class:`_JacobianTranspose` with K computed once, so every
    Hessian row passes this node with two small batched products instead of a double
    backward through f's own ops."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, evaluate):
        y, jacobian, curvature = evaluate(x.detach())
        ctx.curvature = curvature
        ctx.save_for_backward(x, jacobian())
        return y

    @staticmethod
    def backward(ctx, gy: torch.Tensor):
        x, jac = ctx.saved_tensors
        if (
            not torch.is_grad_enabled()
        ):  # a plain gradient, or a Hessian row passing the forward graph
            return _jt_times(jac, gy), None
        with torch.no_grad():
            curvature = ctx.curvature(gy.detach())
        return _JacobianTranspose.apply(gy, x, jac, curvature), None


class _JacobianTranspose(torch.autograd.Function):
    """g = Jᵀ·gy of :class:`_RowLocal`, differentiable once: ∂g/∂gy = J, ∂g/∂x = K."""

    generate_vmap_rule = True  # GPU Hessians vmap the backward over seeds

    @staticmethod
    def forward(gy, x, jac, curvature):
        return _jt_times(jac, gy)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs[2:])

    @staticmethod
    def backward(ctx, v: torch.Tensor):
        if torch.is_grad_enabled():
            raise RuntimeError("row_local: derivatives beyond the second are not available")
        jac, curvature = ctx.saved_tensors
        return (jac * v[..., None, :]).sum(-1), (curvature * v[..., None, :]).sum(-1), None, None


def _jt_times(jac: torch.Tensor, gy: torch.Tensor) -> torch.Tensor:
    """Jᵀ·gy per row as a broadcast product (batched GEMMs of these tiny sizes are slow on a
    CPU)."""
    return (jac * gy[..., :, None]).sum(-2)


def row_local(x: torch.Tensor, evaluate) -> torch.Tensor:
    """y = f(x) for a row-wise function given by ``evaluate(x) -> (y, () ↦ J, gy ↦ K)`` (see
    :class:`_RowLocal`): exact first and second derivatives, each Hessian row cheap. Without
    a gradient to come (no grad mode, or x not requiring one) only the values are formed."""
    if torch.is_grad_enabled() and x.requires_grad:
        return _RowLocal.apply(x, evaluate)
    return evaluate(x)[0]
