"""Ops whose backward is laid out for double backward: the same values and derivatives as torch's."""

import torch
from mace4ir.evaluation.fast_convolution import RowProduct
from mace4ir.evaluation.hessian_ops import concat


def random(*shape, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=gen, dtype=torch.float64, requires_grad=True)


def grads_and_hvps(out, inputs, seed=9):
    """d(v·out)/d(inputs) and their derivatives along random directions."""
    gen = torch.Generator().manual_seed(seed)
    v = torch.randn(out.shape, generator=gen, dtype=out.dtype)
    grads = torch.autograd.grad((out * v).sum(), inputs, create_graph=True)
    dot = sum((g * torch.randn(g.shape, generator=gen, dtype=g.dtype)).sum() for g in grads)
    return grads + torch.autograd.grad(dot, inputs, allow_unused=True, materialize_grads=True)


def test_concat_equals_torch_cat_to_second_order():
    a, b, c = random(2, 3, 4, seed=1), random(2, 1, 4, seed=2), random(2, 5, 4, seed=3)
    torch.testing.assert_close(concat([a, b, c], 1), torch.cat([a, b, c], 1), rtol=0, atol=0)
    assert concat([a], 1) is a
    ours = grads_and_hvps(concat([a, b, c], -2).sin(), (a, b, c))  # sin: non-zero second derivatives
    torch_s = grads_and_hvps(torch.cat([a, b, c], -2).sin(), (a, b, c))
    for x, y in zip(ours, torch_s):
        torch.testing.assert_close(x, y, rtol=1e-14, atol=1e-14)
    assert torch.autograd.gradgradcheck(lambda *t: concat(t, 1).sin(), (a, b, c))


def test_row_product_equals_bmm_to_second_order_and_keeps_the_inputs_layouts():
    a, u = random(3, 5, 4, seed=4), random(3, 5, 2, seed=5)
    torch.testing.assert_close(RowProduct.apply(a, u), torch.bmm(a.transpose(1, 2), u), rtol=1e-14, atol=1e-14)
    ours = grads_and_hvps(RowProduct.apply(a, u).tanh(), (a, u))
    torch_s = grads_and_hvps(torch.bmm(a.transpose(1, 2), u).tanh(), (a, u))
    for x, y in zip(ours, torch_s):
        torch.testing.assert_close(x, y, rtol=1e-13, atol=1e-13)
    assert torch.autograd.gradgradcheck(RowProduct.apply, (a, u))
    # the reason it exists: gradients come out contiguous in the inputs' own layouts
    out = RowProduct.apply(a, u)
    ga, gu = torch.autograd.grad(out, (a, u), torch.ones_like(out))
    assert ga.is_contiguous() and gu.is_contiguous()


def test_both_ops_vmap_over_seeds_as_gpu_hessians_do():
    a, u = random(3, 5, 4, seed=6), random(3, 5, 2, seed=7)
    out = RowProduct.apply(a, u).tanh().sum() + concat([u, u * u], 1).sin().sum()
    (g,) = torch.autograd.grad(out, u, create_graph=True)
    seeds = torch.randn((4, *g.shape), dtype=torch.float64)
    (batched,) = torch.autograd.grad(g, u, grad_outputs=seeds, is_grads_batched=True, retain_graph=True)
    for k in range(4):
        (one,) = torch.autograd.grad(g, u, grad_outputs=seeds[k], retain_graph=True)
        torch.testing.assert_close(batched[k], one, rtol=1e-12, atol=1e-12)
