"""Ops laid out for cheap Hessian rows: the same values and derivatives as plain torch code."""

import pytest
import torch

from mace4ir.evaluation.engine.kernels.fast_convolution import RowProduct
from mace4ir.evaluation.engine.kernels.hessian_ops import row_local
from mace4ir.evaluation.engine.kernels.powers_derivatives import monomial_order, powers_fold


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


def rowwise(x):
    """A made-up function of each row's 3 features (any number of leading row axes) -> 2 values."""
    return torch.stack(
        [torch.sin(x[..., 0]) * x[..., 1] + x[..., 2] ** 3, x[..., 0] ** 2 * torch.exp(x[..., 2])],
        -1,
    )


def evaluate_with_torch_func(x):
    """(values, () -> per-row Jacobians, gy -> per-row gradient-weighted Hessians) via torch.func:
    an independent route to what row_local is given."""
    flat = x.reshape(-1, x.shape[-1])

    def jacobian():
        return torch.func.vmap(torch.func.jacrev(rowwise))(flat).reshape(
            *x.shape[:-1], 2, x.shape[-1]
        )

    def curvature(gy):
        weighted = torch.func.vmap(torch.func.hessian(lambda r, g: (rowwise(r) * g).sum()))
        return weighted(flat, gy.reshape(-1, 2)).reshape(*x.shape, x.shape[-1])

    return rowwise(x), jacobian, curvature


def test_row_local_gives_the_function_s_values_and_derivatives_to_second_order():
    x = random(4, 3, 3, seed=1)
    ours = row_local(x, evaluate_with_torch_func)
    torch.testing.assert_close(ours, rowwise(x), rtol=0, atol=0)
    for a, b in zip(grads_and_hvps(ours.tanh(), (x,)), grads_and_hvps(rowwise(x).tanh(), (x,))):
        torch.testing.assert_close(a, b, rtol=1e-13, atol=1e-13)
    assert torch.autograd.gradgradcheck(lambda t: row_local(t, evaluate_with_torch_func), (x,))
    with torch.no_grad():  # no gradient to come: values only
        torch.testing.assert_close(
            row_local(x, lambda t: (rowwise(t), None, None)), rowwise(x), rtol=0, atol=0
        )


def test_row_local_refuses_third_derivatives_instead_of_giving_wrong_ones():
    x = random(2, 3, seed=2)
    (g,) = torch.autograd.grad(row_local(x, evaluate_with_torch_func).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="beyond the second"):
        torch.autograd.grad(g.sum(), x, create_graph=True)


@pytest.mark.parametrize("degree", [0, 1, 2, 3])
def test_powers_fold_coefficients_give_the_polynomial_s_jacobian_and_curvature(degree):
    """y_m(x) = Σ_ν Σ_i G[ν, (m, i)] x^ν x_i written out monomial by monomial; the fold's J and K
    coefficients against the monomials equal autograd's Jacobian and Hessian of it."""
    n_ell, m, c = 3, 2, 2
    order = monomial_order(n_ell, degree)
    g = torch.randn(
        (c, len(order), m * n_ell),
        generator=torch.Generator().manual_seed(degree),
        dtype=torch.float64,
    )
    fold = powers_fold(g, n_ell, degree)
    x = torch.randn(
        n_ell, generator=torch.Generator().manual_seed(10 + degree), dtype=torch.float64
    )

    def powers(v, tuples):
        return torch.stack([torch.prod(v[list(t)]) if t else v.new_ones(()) for t in tuples])

    def poly(v, ch):
        return (powers(v, order) @ g[ch]).reshape(m, n_ell) @ v

    low = [t for t in order if len(t) < degree]
    for ch in range(c):
        want_j = torch.autograd.functional.jacobian(lambda v: poly(v, ch), x)  # (m, L)
        got_j = (powers(x, order) @ fold.jac[ch]).reshape(m, n_ell)
        torch.testing.assert_close(got_j, want_j, rtol=1e-12, atol=1e-12)
        for k in range(m):
            want_h = torch.autograd.functional.hessian(lambda v: poly(v, ch)[k], x)
            coef = fold.curv[ch].reshape(len(low), m, n_ell, n_ell)[:, k]
            got_h = (
                torch.einsum("s,sjl->jl", powers(x, low), coef) if low else torch.zeros_like(want_h)
            )
            torch.testing.assert_close(got_h, want_h, rtol=1e-12, atol=1e-12)


def test_row_product_equals_bmm_to_second_order_and_keeps_the_inputs_layouts():
    a, u = random(3, 5, 4, seed=4), random(3, 5, 2, seed=5)
    torch.testing.assert_close(
        RowProduct.apply(a, u), torch.bmm(a.transpose(1, 2), u), rtol=1e-14, atol=1e-14
    )
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
    a, u = random(3, 5, 4, seed=6), random(3, 5, 3, seed=7)
    out = RowProduct.apply(a, u).tanh().sum() + row_local(u, evaluate_with_torch_func).sin().sum()
    (g,) = torch.autograd.grad(out, u, create_graph=True)
    seeds = torch.randn((4, *g.shape), dtype=torch.float64)
    (batched,) = torch.autograd.grad(
        g, u, grad_outputs=seeds, is_grads_batched=True, retain_graph=True
    )
    for k in range(4):
        (one,) = torch.autograd.grad(g, u, grad_outputs=seeds[k], retain_graph=True)
        torch.testing.assert_close(batched[k], one, rtol=1e-12, atol=1e-12)
