"""Folded symmetric contractions: the same function as mace-torch's Contraction, with the same
first and second derivatives, for every body order; the caller's model is left untouched."""

import math
import pickle

import pytest
import torch
from ir_helpers import tiny_model
from mace.modules.symmetric_contraction import Contraction

from mace4ir.evaluation import load_molecule
from mace4ir.evaluation.calculators.mace_ir import handle_from_spec
from mace4ir.evaluation.engine.ir_engine import IREngine
from mace4ir.evaluation.engine.kernels.fast_contraction import (
    FoldedContraction,
    FoldedSymmetricContraction,
    batched_matvec,
    contraction_form,
    fold_contractions,
    monomials,
)


def contractions(model):
    return [
        c
        for m in model.modules()
        for c in getattr(m, "contractions", [])
        if isinstance(c, Contraction)
    ]


def test_batched_matvec_first_and_second_derivatives_match_finite_differences():
    gen = torch.Generator().manual_seed(3)
    a = torch.randn((4, 3, 5), generator=gen, dtype=torch.float64, requires_grad=True)
    x = torch.randn((4, 5), generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.allclose(batched_matvec(a, x), torch.einsum("bml,bl->bm", a, x), atol=1e-14)
    assert torch.autograd.gradcheck(batched_matvec, (a, x))
    assert torch.autograd.gradgradcheck(batched_matvec, (a, x))


@pytest.mark.parametrize("form", ["chain", "powers"])
@pytest.mark.parametrize("config", ["ef_tiny", "dipole_tiny"])
@pytest.mark.parametrize(
    "correlation", [1, 2, 3, pytest.param(4, marks=pytest.mark.slow)]
)  # 4: ~2 min each
def test_folded_contraction_equals_mace_with_derivatives(config, correlation, form):
    model, _ = tiny_model(config, correlation=correlation)
    gen = torch.Generator().manual_seed(1)
    for original in contractions(model):
        folded = FoldedContraction(original)
        folded.form = form
        n, c, n_ell = 7, original.num_features, original.U_tensors(1).shape[-2]
        n_el = original.weights_max.shape[0]
        x = torch.randn((n, c, n_ell), generator=gen, dtype=torch.float64, requires_grad=True)
        y = torch.nn.functional.one_hot(torch.tensor([0, 1, 1, 3, 2, 0, 3]) % n_el, n_el).double()
        want, got = original(x, y), folded(x, y)
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
        v = torch.randn(want.shape, generator=gen, dtype=torch.float64)
        w = torch.randn(x.shape, generator=gen, dtype=torch.float64)
        (g0, h0), (g1, h1) = (grad_and_hvp(out, x, v, w) for out in (want, got))
        torch.testing.assert_close(g1, g0, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(h1, h0, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("degree", [0, 1, 2, 3])
def test_distinct_monomials_carry_the_full_tensor_power(degree):
    """[x⊗…⊗x]·g over all L^d index tuples equals the distinct monomials (i ≤ j ≤ …, built as
    parent × last factor) times the merged rows of g — what the "powers" form relies on."""
    n_ell = 4
    gen = torch.Generator().manual_seed(degree)
    x = torch.randn(n_ell, generator=gen, dtype=torch.float64)
    g = torch.randn(n_ell**degree, generator=gen, dtype=torch.float64)
    full = torch.ones(1, dtype=torch.float64)
    for _ in range(degree):
        full = (full[:, None] * x[None, :]).reshape(-1)
    mono = monomials(n_ell, degree)
    distinct = torch.ones(1, dtype=torch.float64)
    for d in range(1, degree + 1):
        m = monomials(n_ell, d)
        distinct = distinct[m.parent] * x[m.last]
    assert len(distinct) == math.comb(n_ell + degree - 1, degree) and mono.merge.sum(0).eq(1).all()
    torch.testing.assert_close(distinct @ (mono.merge @ g), full @ g, rtol=1e-13, atol=1e-13)


def grad_and_hvp(out, x, v, w):
    """d(v·out)/dx and its derivative along w: what forces and Hessians need."""
    (g,) = torch.autograd.grad((out * v).sum(), x, create_graph=True)
    if not g.requires_grad:  # correlation 1: linear in x
        return g, torch.zeros_like(x)
    (hv,) = torch.autograd.grad(
        (g * w).sum(), x, retain_graph=True, allow_unused=True, materialize_grads=True
    )
    return g.detach(), hv


def symmetric_contractions(model):
    return [
        m.symmetric_contractions for m in model.modules() if hasattr(m, "symmetric_contractions")
    ]


@pytest.mark.parametrize("form", ["chain", "powers"])
def test_irreps_sharing_their_monomials_give_mace_s_symmetric_contraction(form):
    """MACE-EF's first product block contracts one x to 0e and 1o: folded, both share one set of
    monomials and one GEMM per element; values, gradients and Hessian-vector products unchanged."""
    model, _ = tiny_model("ef_tiny", seed=6, correlation=3)
    folded_model = fold_contractions(model)
    pairs = [
        (o, f)
        for o, f in zip(symmetric_contractions(model), symmetric_contractions(folded_model))
        if isinstance(f, FoldedSymmetricContraction)
    ]
    assert pairs and all(len(f.contractions) > 1 for _, f in pairs)
    gen = torch.Generator().manual_seed(2)
    for original, shared in pairs:
        with contraction_form(folded_model, form):
            c = original.contractions[0]
            n_el = c.weights_max.shape[0]
            x = torch.randn(
                (6, c.num_features, c.U_tensors(1).shape[-2]),
                generator=gen,
                dtype=torch.float64,
                requires_grad=True,
            )
            y = torch.nn.functional.one_hot(torch.tensor([2, 0, 1, 2, 3, 0]) % n_el, n_el).double()
            want, got = original(x, y), shared(x, y)
            torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
            v = torch.randn(want.shape, generator=gen, dtype=torch.float64)
            w = torch.randn(x.shape, generator=gen, dtype=torch.float64)
            (g0, h0), (g1, h1) = (grad_and_hvp(out, x, v, w) for out in (want, got))
            torch.testing.assert_close(g1, g0, rtol=1e-12, atol=1e-12)
            torch.testing.assert_close(h1, h0, rtol=1e-12, atol=1e-12)
    copied = pickle.loads(pickle.dumps(pairs[0][1]))  # the folded-tensor cache stays behind
    assert copied._folded == {} and len(copied.contractions) == len(pairs[0][1].contractions)


def test_attributes_that_are_not_one_hot_use_mace_s_own_module():
    model, _ = tiny_model("ef_tiny", correlation=3)
    original = contractions(model)[0]
    x = torch.randn((3, original.num_features, 16), dtype=torch.float64)
    y = torch.full((3, original.weights_max.shape[0]), 0.25, dtype=torch.float64)  # a soft mixture
    torch.testing.assert_close(FoldedContraction(original)(x, y), original(x, y), rtol=0, atol=0)


def test_engine_with_folding_gives_mace_s_numbers_and_leaves_the_model_alone():
    ef, ef_spec = tiny_model("ef_tiny", seed=2, correlation=3)
    d, d_spec = tiny_model("dipole_tiny", seed=3, correlation=3)
    n_before = len(contractions(ef)) + len(contractions(d))
    handles = handle_from_spec(ef, ef_spec, "EF"), handle_from_spec(d, d_spec, "D")
    plain, fast = IREngine(*handles, fold=False), IREngine(*handles)
    assert (
        len(contractions(ef)) + len(contractions(d)) == n_before > 0
    )  # the caller's models: unchanged
    assert not contractions(fast.ef.model) and not contractions(fast.dipole.model)
    assert fold_contractions(ef) is not ef
    mols = [load_molecule("CC(=O)N"), load_molecule("O")]
    graph, pos = plain.graph(mols, static=True), plain.positions(mols)
    e0, f0 = plain.energy_forces(graph, pos)
    e1, f1 = fast.energy_forces(graph, pos)
    torch.testing.assert_close(e1, e0, rtol=1e-12, atol=1e-10)
    fast.ef.model = pickle.loads(pickle.dumps(fast.ef.model))  # no caches travel with a copy
    torch.testing.assert_close(fast.energy_forces(graph, pos)[1], f1, rtol=0, atol=0)
    torch.testing.assert_close(f1, f0, rtol=1e-10, atol=1e-12)
    mu0, apt0 = plain.dipole_jacobian(graph, pos)
    mu1, apt1 = fast.dipole_jacobian(graph, pos)
    torch.testing.assert_close(mu1, mu0, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(apt1, apt0, rtol=1e-10, atol=1e-12)
    for h0, h1 in zip(plain.hessians(graph, pos), fast.hessians(graph, pos)):
        torch.testing.assert_close(torch.as_tensor(h1), torch.as_tensor(h0), rtol=1e-9, atol=1e-10)


def test_contraction_form_applies_inside_the_block_only_and_gives_the_same_energy():
    model = fold_contractions(tiny_model("ef_tiny", seed=4, correlation=3)[0])
    folded = [m for m in model.modules() if isinstance(m, FoldedContraction)]
    x = torch.randn((5, folded[0].original.num_features, 16), dtype=torch.float64)
    y = torch.nn.functional.one_hot(torch.tensor([0, 1, 2, 3, 1]), 4).double()
    powers = folded[0](x, y)
    with pytest.raises(RuntimeError), contraction_form(model, "chain"):
        assert all(m.form == "chain" for m in folded)
        torch.testing.assert_close(folded[0](x, y), powers, rtol=1e-12, atol=1e-12)
        raise RuntimeError("restored even when the block fails")
    assert all(m.form == "powers" for m in folded)
