"""Inference form of mace-torch's symmetric contraction, with the weights folded in per element.

mace-torch's ``Contraction`` computes, for every atom b of element e,

    out[b, c] = Σ_{i,j,l} (Σ_k U3[.., i, j, l, k] W3[e, k, c]) x[b, c, l] x[b, c, j] x[b, c, i]
              + (the same with U2·W2 and U1·W1 for the lower body orders)

and contracts ``U`` with the weights again for every atom on every call; that
product dominates a forward pass on CPU (two thirds for MACE-EF small). With frozen
weights the bracket depends on the element only, so :class:`FoldedContraction`
computes it once per element present and then only contracts with the features,
atoms grouped by element. Same numbers (to rounding), about ten times less work,
and plain torch ops, so first and second derivatives flow as before.

Two evaluation orders of the same polynomial (``FoldedContraction.form``):

* ``"powers"`` (default): s[b, c, m, i] = [x⊗x, x, 1] · G (one bmm per element against the
  folded tensor rearranged), then one mat-vec with x. x⊗x is symmetric, so only its distinct
  monomials x_i x_j (i ≤ j; 136 instead of 256 for ℓ ≤ 3) are formed, with the rows of G
  for (i, j) and (j, i) summed (~45 % fewer FLOPs than the chain). Every (atom, channel)
  is then an explicit polynomial whose Jacobian and curvature coefficients are fixed linear
  maps of G (:mod:`.powers_derivatives`, computed once per element): a forward pass that a
  gradient will follow also forms every row's Jacobian (one more bmm), the gradient is one
  broadcast product, a gradient with create_graph also forms every row's gradient-weighted
  curvature, and a Hessian row passes the contraction with two small batched products
  instead of a double backward through it (:func:`~.hessian_ops.row_local`). Derivatives
  beyond the second are refused. On a CPU: forces 25-30 % and dipole Jacobians 2x faster
  than the chain, caffeine's Hessian rows ~40 %.
* ``"chain"``: contract the last ℓ index first — one bmm against [x, 1], then mat-vecs,
  differentiated by autograd (any order; nothing stored per row).
  :func:`contraction_form` switches a model's contractions inside a block.

Used by the IR engine only, on its own copy of a model (weights frozen);
training keeps mace-torch's module untouched.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import itertools
from typing import NamedTuple

import torch
from mace.modules.symmetric_contraction import Contraction, SymmetricContraction

from mace4ir.evaluation.engine.kernels.hessian_ops import row_local
from mace4ir.evaluation.engine.kernels.last_tensor_cache import LastTensorCache
from mace4ir.evaluation.engine.kernels.powers_derivatives import PowersFold, powers_fold
from mace4ir.training.models import mace_import  # noqa: F401  (undo mace's torch.load setting)


class FoldedContraction(torch.nn.Module):
    """Drop-in for a frozen ``Contraction``: ``forward(x (b, c, L), y one-hot (b, E)) -> (b, c *
    m)``."""

    def __init__(self, contraction: Contraction):
        super().__init__()
        corr = contraction.correlation
        weights = [contraction.weights_max] + list(
            contraction.weights
        )  # body order corr, corr-1, ..., 1
        self.original = contraction  # fallback for element attributes that are not one-hot
        self.body_orders = list(range(corr, 0, -1))
        self._u = {nu: contraction.U_tensors(nu).detach() for nu in self.body_orders}
        self._w = {nu: w.detach() for nu, w in zip(self.body_orders, weights)}
        self._folded: dict[tuple, list[torch.Tensor]] = {}
        # atoms grouped by element, remembered for the last y (the same tensor for every call on a
        # graph)
        self._groups = LastTensorCache(element_groups)
        self.m = self._u[1].reshape(-1, *self._u[1].shape[-2:]).shape[0]  # 2l+1 of the output irrep
        self.form = "powers"  # or "chain" (see the module docstring)

    def __getstate__(self):  # copy/pickle without the folded tensors
        return {**super().__getstate__(), "_folded": {}}

    def _fold(self, element: int, like: torch.Tensor) -> list[torch.Tensor]:
        """Per-element weights folded into U, laid out for :meth:`_contract`.

        [ (c, L+1, m·L^(corr-1)): U_corr·W (last ℓ index first) with U_(corr-1)·W as the extra row,
          then (c, m·L^ν) for ν = corr-2 … 1 ].
        """
        key = (element, like.dtype, like.device)
        if key not in self._folded:
            folded = [
                f.reshape(f.shape[0], -1) for f in self._weighted_u(element, like)
            ]  # (c, m·L^ν)
            n_ell = self._u[1].shape[-2]
            top = (
                folded[0].reshape(folded[0].shape[0], -1, n_ell).transpose(1, 2)
            )  # (c, L, m·L^(corr-1))
            rest = folded[1:] if len(folded) > 1 else [torch.zeros_like(top[:, 0])]
            self._folded[key] = [torch.cat([top, rest[0][:, None]], 1).contiguous()] + rest[1:]
        return self._folded[key]

    def _fold_powers(self, element: int, like: torch.Tensor) -> torch.Tensor:
        """G (c, Σ_ν M(ν-1), m·L): row block ν holds U_ν·W as [monomials of (i2…iν), (m, i1)],
        highest ν first; M(d) distinct monomials of degree d (see :func:`monomials`)."""
        n_ell, blocks = self._u[1].shape[-2], []
        for nu, f in zip(self.body_orders, self._weighted_u(element, like)):
            f = f.reshape(f.shape[0], self.m, n_ell, -1)  # (c, m, i1, (i2…iν))
            f = f.permute(0, 3, 1, 2).reshape(f.shape[0], f.shape[3], -1)  # (c, (i2…iν), (m, i1))
            merge = monomials(n_ell, nu - 1).merge.to(f)
            blocks.append(torch.einsum("kr,crq->ckq", merge, f))  # rows of equal monomials summed
        return torch.cat(blocks, 1).contiguous()

    def _powers(self, element: int, like: torch.Tensor) -> PowersFold:
        """G with its derivative coefficients (:mod:`.powers_derivatives`), cached per element."""
        key = ("powers", element, like.dtype, like.device)
        if key not in self._folded:
            self._folded[key] = self._with_derivatives(self._fold_powers(element, like))
        return self._folded[key]

    def _with_derivatives(self, g: torch.Tensor) -> PowersFold:
        """G (c, rows, ··L) of this contraction's body orders with its Jacobian and curvature
        coefficients."""
        return powers_fold(g, self._u[1].shape[-2], self.body_orders[0] - 1)

    def _weighted_u(self, element: int, like: torch.Tensor) -> list[torch.Tensor]:
        """Σ_k U_ν[m, i1…iν, k] W_ν[element, k, c] as (c, m, L^ν), for ν = corr … 1."""
        out = []
        for nu in self.body_orders:
            u = self._u[nu].to(like)
            u = u.reshape(self.m, -1, u.shape[-1])  # (m, L^ν, k)
            out.append(torch.einsum("mpk,kc->cmp", u, self._w[nu][element].to(like)))
        return out

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        groups = self._groups(y)
        if groups is None:
            return self.original(x, y)
        if self.form == "powers":
            return self._forward_powers(x, groups)
        order, inverse, elements, counts = groups
        parts = torch.split(x.index_select(0, order), counts)
        out = [
            self._contract(xe, self._fold(e, x), self.body_orders[0])
            for e, xe in zip(elements, parts)
        ]
        return torch.cat(out).index_select(0, inverse).reshape(x.shape[0], -1)

    def _forward_powers(self, x: torch.Tensor, groups) -> torch.Tensor:
        folded = [self._powers(e, x) for e in groups[2]]
        return contract_powers(x, groups, folded, self.body_orders[0], self.m).reshape(
            x.shape[0], -1
        )

    @staticmethod
    def _contract(x: torch.Tensor, folded: list[torch.Tensor], correlation: int) -> torch.Tensor:
        """x (n, c, L) of one element -> (n, c, m): one bmm for the top two body orders, then
        correlation - 1 batched mat-vecs, each followed by the next lower body order's term."""
        xc = x.transpose(0, 1)  # (c, n, L)
        c, n, n_ell = xc.shape
        t = torch.bmm(torch.cat([xc, xc.new_ones((c, n, 1))], 2), folded[0])  # (c, n, m·L^(corr-1))
        for k in range(correlation - 1):
            t = batched_matvec(t.reshape(c * n, -1, n_ell), xc.reshape(c * n, n_ell)).reshape(
                c, n, -1
            )
            if k + 1 < len(folded):
                t = t + folded[k + 1][:, None]
        return t.transpose(0, 1)


def element_groups(y: torch.Tensor):
    """(order, inverse, elements, counts) of atoms sorted by element, or None unless ``y`` is
    one-hot."""
    element = y.argmax(dim=1)
    if not torch.equal(torch.nn.functional.one_hot(element, y.shape[1]).to(y.dtype), y):
        return None
    order = torch.argsort(element, stable=True)
    elements, counts = torch.unique_consecutive(element[order], return_counts=True)
    return order, torch.argsort(order), elements.tolist(), counts.tolist()


def contract_powers(
    x: torch.Tensor, groups, folded: list[PowersFold], correlation: int, m: int
) -> torch.Tensor:
    """The "powers" order for atoms grouped by element: x (n, c, L) and per element its
    :class:`PowersFold` -> (n, c, m). Every (atom, channel) row is its own polynomial, so its
    derivatives come from the fold's coefficients (:func:`row_local`), not from autograd."""
    return row_local(
        x,
        functools.partial(_powers_rows, groups=groups, folded=folded, correlation=correlation, m=m),
    )


def _powers_rows(x: torch.Tensor, groups, folded: list[PowersFold], correlation: int, m: int):
    """(values (n, c, m), () ↦ Jacobians (n, c, m, L), gy ↦ curvatures (n, c, L, L)) for
    :func:`row_local`."""
    order, inverse, _, counts = groups
    xs = x.index_select(0, order).transpose(0, 1)  # (c, n, L), atoms sorted by element
    c, n, n_ell = xs.shape
    x_flat = xs.reshape(c * n, n_ell)
    powers = [x_flat.new_ones((c * n, 1)), x_flat][:correlation]  # degrees 0 and 1
    for degree in range(2, correlation):  # distinct monomials of each degree, in sorted order
        mono = monomials(n_ell, degree)
        powers.append(powers[-1][:, mono.parent] * x_flat[:, mono.last])
    p = torch.cat(powers[::-1], 1).reshape(c, n, -1)  # (c, n, R): degree D … 0
    parts = torch.split(p, counts, dim=1)

    def per_element(rows, field: str) -> torch.Tensor:
        return torch.cat([torch.bmm(r, getattr(f, field)) for r, f in zip(rows, folded)], 1)

    def in_atom_order(t: torch.Tensor, *shape: int) -> torch.Tensor:
        return t.reshape(c, n, *shape).transpose(0, 1).index_select(0, inverse)

    s = per_element(parts, "g").reshape(c * n, m, n_ell)
    values = torch.bmm(s, x_flat[:, :, None])
    n_low = folded[0].curv.shape[1] // m

    def curvature(gy: torch.Tensor) -> torch.Tensor:  # gy (n, c, m) -> Σ_m gy_m ∇²y_m
        g = gy.index_select(0, order).transpose(0, 1)  # (c, n, m)
        z = (p[..., p.shape[-1] - n_low :, None] * g[..., None, :]).reshape(c, n, n_low * m)
        return in_atom_order(per_element(torch.split(z, counts, dim=1), "curv"), n_ell, n_ell)

    def jacobian() -> torch.Tensor:
        return in_atom_order(per_element(parts, "jac"), m, n_ell)

    return in_atom_order(values, m), jacobian, curvature


class FoldedSymmetricContraction(torch.nn.Module):
    """Drop-in for mace-torch's ``SymmetricContraction`` whose contractions are all folded and
    share body orders: in the "powers" order the monomials of x are formed once for all
    output irreps (MACE-EF small's first layer: 0e and 1o), and one GEMM per element
    contracts them with every irrep's folded tensor side by side."""

    def __init__(self, contractions: torch.nn.ModuleList):
        super().__init__()
        self.contractions = contractions
        ms = [c.m for c in contractions]
        self.m = sum(ms)
        c = contractions[0].original.weights_max.shape[-1]  # channels
        offsets = list(itertools.accumulate(ms, initial=0))
        # (n, c, m_total) flattened -> mace's layout: irrep by irrep, each (c, m_i)
        perm = [
            ch * self.m + offsets[i] + k
            for i, mi in enumerate(ms)
            for ch in range(c)
            for k in range(mi)
        ]
        self.register_buffer("out_perm", torch.tensor(perm), persistent=False)
        self._folded: dict[tuple, torch.Tensor] = {}

    def __getstate__(self):
        return {**super().__getstate__(), "_folded": {}}

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        first = self.contractions[0]
        groups = first._groups(y) if first.form == "powers" else None
        if groups is None:
            return torch.cat([c(x, y) for c in self.contractions], dim=-1)
        folded = [self._fold(e, x) for e in groups[2]]
        out = contract_powers(x, groups, folded, first.body_orders[0], self.m)
        return out.reshape(x.shape[0], -1).index_select(1, self.out_perm)

    def _fold(self, element: int, like: torch.Tensor) -> PowersFold:
        key = (element, like.dtype, like.device)
        if key not in self._folded:
            per_irrep = [c._fold_powers(element, like) for c in self.contractions]
            # the contractions share body orders and L (accepts), so the first's tables serve all
            self._folded[key] = self.contractions[0]._with_derivatives(
                torch.cat(per_irrep, 2).contiguous()
            )
        return self._folded[key]

    @staticmethod
    def accepts(contractions) -> bool:
        return (
            len(contractions) > 1
            and all(isinstance(c, FoldedContraction) for c in contractions)
            and len({(tuple(c.body_orders), c._u[1].shape[-2]) for c in contractions}) == 1
        )


class Monomials(NamedTuple):
    """The distinct monomials of degree d in L variables: sorted index tuples (i ≤ j ≤ …)."""

    parent: torch.Tensor  # (M(d),) index of the monomial without its last factor among degree d-1
    last: torch.Tensor  # (M(d),) its last factor's variable
    merge: (
        torch.Tensor
    )  # (M(d), L^d) 1 where a row-major index tuple is a permutation of the monomial


@functools.cache
def monomials(n_ell: int, degree: int) -> Monomials:
    """Index tables of the distinct monomials of ``degree`` in ``n_ell`` variables (cached)."""

    def sorted_tuples(d):
        return list(itertools.combinations_with_replacement(range(n_ell), d))

    tuples = sorted_tuples(degree)
    index = {t: k for k, t in enumerate(tuples)}
    lower = {t: k for k, t in enumerate(sorted_tuples(degree - 1))} if degree else {(): 0}
    merge = torch.zeros((len(tuples), n_ell**degree), dtype=torch.float64)
    for r, t in enumerate(itertools.product(range(n_ell), repeat=degree)):
        merge[index[tuple(sorted(t))], r] = 1.0
    parent = torch.tensor([lower[t[:-1]] for t in tuples], dtype=torch.int64)
    last = torch.tensor([t[-1] if t else 0 for t in tuples], dtype=torch.int64)
    return Monomials(parent, last, merge)


class _BatchedMatVec(torch.autograd.Function):
    """y[b] = A[b] @ x[b]. Autograd's own backward for A forms the outer product gy xᵀ with a
    K=1 batched GEMM, ~50x slower on CPU than the broadcast product used here. The backward
    is built from differentiable ops (itself included), so Hessians flow through it."""

    @staticmethod
    def forward(ctx, a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(a, x)
        return torch.bmm(a, x.unsqueeze(-1)).squeeze(-1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        a, x = ctx.saved_tensors
        grad_a = grad.unsqueeze(-1) * x.unsqueeze(-2) if ctx.needs_input_grad[0] else None
        grad_x = batched_matvec(a.transpose(1, 2), grad) if ctx.needs_input_grad[1] else None
        return grad_a, grad_x


def batched_matvec(a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """(B, M, L) @ (B, L) -> (B, M), with a fast backward (see :class:`_BatchedMatVec`)."""
    return _BatchedMatVec.apply(a, x)


def fold_contractions(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``model`` whose symmetric contractions are :class:`FoldedContraction` (inference
    only)."""
    model = copy.deepcopy(model)
    for module in model.modules():
        contractions = getattr(module, "contractions", None)
        if isinstance(contractions, torch.nn.ModuleList):
            for i, c in enumerate(contractions):
                if type(c) is Contraction:
                    contractions[i] = FoldedContraction(c)
    for module in list(model.modules()):
        block = getattr(module, "symmetric_contractions", None)
        if type(block) is SymmetricContraction and FoldedSymmetricContraction.accepts(
            block.contractions
        ):
            module.symmetric_contractions = FoldedSymmetricContraction(block.contractions)
    return model


@contextlib.contextmanager
def contraction_form(model: torch.nn.Module, form: str):
    """Evaluate ``model``'s folded contractions in ``form`` ("chain" or "powers") inside the
    block."""
    mods = [m for m in model.modules() if isinstance(m, FoldedContraction)]
    before = [m.form for m in mods]
    for m in mods:
        m.form = form
    try:
        yield
    finally:
        for m, f in zip(mods, before):
            m.form = f
