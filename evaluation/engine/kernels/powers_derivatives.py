"""Exact first and second derivatives of the folded contraction's "powers" polynomial.

In the "powers" order (:mod:`.fast_contraction`) a contraction is, for every row (atom b,
channel c) of element e, a polynomial of degree D + 1 (D = correlation - 1) in the row's
L features x:

    y_m(x) = Σ_ν Σ_i G[ν, (m, i)] x^ν x_i          (ν: distinct monomials of degree ≤ D)

Its derivatives are polynomials in the same monomials whose coefficients are fixed linear
maps of G. With μ = ν + e_i (the monomial x^ν x_i):

    ∂y_m/∂x_j        = Σ_ρ x^ρ J[ρ, (m, j)],    J[μ - e_j, (m, j)] += μ_j G[ν, (m, i)]
    ∂²y_m/∂x_j ∂x_l  = Σ_σ x^σ K[σ, m, (j, l)],  K[μ - e_j - e_l, m, (j, l)] += μ_j (μ_l - δ_jl)
    G[ν, (m, i)]

(ρ of degree ≤ D, σ of degree ≤ D - 1). So a row's Jacobian comes from the monomials that
the forward pass forms anyway, with one more GEMM per element against J, and its
gradient-weighted curvature Σ_m gy_m ∇²y_m from one GEMM of (low-degree monomials ⊗ gy)
against K: a Hessian then needs no double backward through the polynomial
(:func:`mace4ir.evaluation.engine.kernels.hessian_ops.row_local`).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections import Counter
from typing import NamedTuple

import torch


class PowersFold(NamedTuple):
    """One element's polynomial and its derivative coefficients, per channel."""

    g: torch.Tensor  # (c, R, m·L): values, R monomials of degree D … 0
    jac: torch.Tensor  # (c, R, m·L): ∂y_m/∂x_j as [monomials, (m, j)]
    curv: torch.Tensor  # (c, R_low·m, L·L): ∇²y_m as [(low monomial, m), (j, l)]


def monomial_order(n_ell: int, degree: int) -> list[tuple[int, ...]]:
    """The distinct monomials of degree ``degree`` … 0 as sorted index tuples, in the order of
    the "powers" form's rows (highest degree first, each degree in sorted order)."""
    return [
        t
        for d in range(degree, -1, -1)
        for t in itertools.combinations_with_replacement(range(n_ell), d)
    ]


class _Tables(NamedTuple):
    jac: torch.Tensor  # sparse (R·L, R·L): (ν, i) -> (ρ, j)
    curv: torch.Tensor  # sparse (R·L, R_low·L·L): (ν, i) -> (σ, j, l)
    n_low: int  # R_low, monomials of degree ≤ D - 1 (the last R_low rows)


@functools.cache
def derivative_tables(n_ell: int, degree: int) -> _Tables:
    """The fixed maps from G's coefficients to J's and K's (see the module docstring)."""
    order = monomial_order(n_ell, degree)
    index = {t: k for k, t in enumerate(order)}
    n_low = len(order) - math.comb(n_ell + degree - 1, degree)  # all but the top degree
    low_start = len(order) - n_low
    jac, curv = [], []  # (source, target, coefficient)
    for r, nu in enumerate(order):
        for i in range(n_ell):
            mu = Counter(nu + (i,))
            for j, mj in mu.items():
                rest = _without(mu, j)  # μ - e_j
                jac.append((r * n_ell + i, index[_sorted(rest)] * n_ell + j, mj))
                for ell, ml in rest.items():
                    sigma = _sorted(_without(rest, ell))
                    target = ((index[sigma] - low_start) * n_ell + j) * n_ell + ell
                    curv.append((r * n_ell + i, target, mj * ml))
    size = len(order) * n_ell
    return _Tables(_sparse(jac, (size, size)), _sparse(curv, (size, n_low * n_ell * n_ell)), n_low)


def _without(mu: Counter, j: int) -> Counter:
    """The exponents of x^μ / x_j (μ_j > 0)."""
    rest = Counter(mu)
    rest[j] -= 1
    return +rest  # drops zero counts


def _sorted(mu: Counter) -> tuple[int, ...]:
    return tuple(sorted(mu.elements()))


def _sparse(entries, shape) -> torch.Tensor:
    index = (
        torch.tensor([(src, dst) for src, dst, _ in entries], dtype=torch.long).reshape(-1, 2).t()
    )
    coef = torch.tensor([c for _, _, c in entries], dtype=torch.float64)
    return torch.sparse_coo_tensor(index, coef, shape, check_invariants=True).coalesce()


def powers_fold(g: torch.Tensor, n_ell: int, degree: int) -> PowersFold:
    """G (c, R, m·L) of one element with its J and K (computed once per element, then cached)."""
    c, n_rows, width = g.shape
    m = width // n_ell
    tables = derivative_tables(n_ell, degree)
    coeffs = (
        g.reshape(c, n_rows, m, n_ell).permute(0, 2, 1, 3).reshape(c * m, n_rows * n_ell)
    )  # [(c, m), (ν, i)]
    jac = (
        _apply(tables.jac, coeffs)
        .reshape(c, m, n_rows, n_ell)
        .permute(0, 2, 1, 3)
        .reshape(c, n_rows, width)
    )
    curv = (
        _apply(tables.curv, coeffs).reshape(c, m, tables.n_low, n_ell * n_ell).permute(0, 2, 1, 3)
    )
    return PowersFold(
        g, jac.contiguous(), curv.reshape(c, tables.n_low * m, n_ell * n_ell).contiguous()
    )


def _apply(table: torch.Tensor, coeffs: torch.Tensor) -> torch.Tensor:
    """coeffs (B, S) @ table (S, T) for a sparse table, in float64 (exact integer coefficients)."""
    out = torch.sparse.mm(table.t().to(coeffs.device), coeffs.t().to(torch.float64)).t()
    return out.to(coeffs.dtype)
