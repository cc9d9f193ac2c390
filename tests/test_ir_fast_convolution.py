"""Fused edge convolutions: the same function as e3nn's TensorProduct + mace-torch's scatter_sum,
with the same first and second derivatives, for every interaction block we build."""

import copy
import pickle

import pytest
import torch
from e3nn import o3
from ir_helpers import tiny_model
from mace.tools.scatter import scatter_sum  # before e3nn (see training.models)

from mace4ir.evaluation.engine.kernels.fast_convolution import (
    FusedConvolution,
    fuse_convolutions,
    receiver_slots,
)
from mace4ir.evaluation.engine.kernels.last_tensor_cache import LastTensorCache


def model(config: str, hidden: str | None = None, seed: int = 0):
    overrides = {"hidden_irreps": hidden} if hidden else {}
    return tiny_model(config, seed=seed, elements=(1, 6, 8), **overrides)[0]


def random_graph(gen, n: int, e: int):
    """Random edges, with an atom that receives none and one pair listed twice."""
    edges = torch.randint(0, n - 1, (2, e), generator=gen)  # atom n-1 receives nothing
    edges[:, -1] = edges[:, 0]
    return edges


def reference(tp, x, y, w, edges):
    return scatter_sum(tp(x[edges[0]], y, w), edges[1], dim=0, dim_size=x.shape[0])


@pytest.mark.parametrize("width", [None, 2])  # 2: atoms with more edges get several rows
@pytest.mark.parametrize(
    "config,hidden", [("ef_tiny", None), ("dipole_tiny", None), ("ef_tiny", "4x0e+4x1o+4x2e")]
)
def test_fused_convolution_equals_e3nn_with_first_and_second_derivatives(config, hidden, width):
    gen = torch.Generator().manual_seed(5)
    blocks = [b for b in model(config, hidden).interactions]
    assert blocks
    for block in blocks:
        tp = block.conv_tp
        fused = FusedConvolution(tp)
        fused.slot_width = width
        n, e = 6, 17
        edges = random_graph(gen, n, e)
        x, y, w = (
            torch.randn(shape, generator=gen, dtype=torch.float64, requires_grad=True)
            for shape in ((n, tp.irreps_in1.dim), (e, tp.irreps_in2.dim), (e, tp.weight_numel))
        )
        want, got = reference(tp, x, y, w, edges), fused(x, y, w, edges)
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
        assert got[n - 1].abs().max() == 0  # an atom without incoming edges gets no message
        v = torch.randn(want.shape, generator=gen, dtype=torch.float64)
        directions = [torch.randn(t.shape, generator=gen, dtype=torch.float64) for t in (x, y, w)]
        g0, h0 = grads_and_hvps(want, (x, y, w), v, directions)
        g1, h1 = grads_and_hvps(got, (x, y, w), v, directions)
        for a, b in zip(g1 + h1, g0 + h0):
            torch.testing.assert_close(a, b, rtol=1e-11, atol=1e-12)


def grads_and_hvps(out, inputs, v, directions):
    """d(v·out)/d(inputs) and their derivatives along ``directions``: what forces and Hessians
    need."""
    grads = torch.autograd.grad((out * v).sum(), inputs, create_graph=True)
    dot = sum((g * d).sum() for g, d in zip(grads, directions))
    hvps = torch.autograd.grad(
        dot, inputs, retain_graph=True, allow_unused=True, materialize_grads=True
    )
    return [g.detach() for g in grads], list(hvps)


def test_receiver_slots_lay_edges_out_in_rows_of_one_atom():
    receivers = torch.tensor([2, 0, 2, 2, 0])
    one_row = receiver_slots(
        receivers, 4, width=3
    )  # one row per atom, padded to the largest in-degree
    assert one_row.owner is None
    assert one_row.valid.tolist() == [
        True,
        True,
        False,
        False,
        False,
        False,
        True,
        True,
        True,
        False,
        False,
        False,
    ]
    assert one_row.edge[one_row.valid].tolist() == [
        1,
        4,
        0,
        2,
        3,
    ]  # atom 0's edges, then atom 2's, in input order
    split = receiver_slots(receivers, 4, width=2)  # atom 2's three edges need two rows
    assert split.owner.tolist() == [0, 1, 2, 2, 3]
    assert split.valid.tolist() == [True, True, False, False, True, True, True, False, False, False]
    assert split.edge[split.valid].tolist() == [1, 4, 0, 2, 3]
    empty = receiver_slots(torch.zeros(0, dtype=torch.long), 3)  # no edges at all
    assert empty.width == 1 and empty.owner is None and not empty.valid.any()
    # the automatic width splits the busiest atoms when that saves padding: caffeine's in-degrees
    caffeine = [
        11,
        11,
        12,
        12,
        12,
        12,
        13,
        13,
        14,
        14,
        14,
        14,
        14,
        16,
        17,
        18,
        18,
        18,
        19,
        20,
        21,
        23,
        23,
        23,
    ]
    auto = receiver_slots(torch.repeat_interleave(torch.arange(24), torch.tensor(caffeine)), 24)
    assert auto.width < 23 and len(auto.edge) < 24 * 23 and int(auto.valid.sum()) == sum(caffeine)
    assert receiver_slots(torch.arange(9).repeat(8), 9).width == 8  # even degrees: one row each
    # a cheap row (about 1.4-1.6 slots: ef_small's second layer) buys less padding than a dear one
    # (3.56: its first)
    paracetamol = torch.repeat_interleave(
        torch.arange(20),
        torch.tensor(
            [9, 10, 11, 11, 12, 12, 13, 13, 13, 14, 14, 14, 15, 16, 17, 17, 17, 18, 19, 19]
        ),
    )
    wide, narrow = (
        receiver_slots(paracetamol, 20, row_cost=3.56),
        receiver_slots(paracetamol, 20, row_cost=1.39),
    )
    assert (wide.width, len(wide.edge)) == (19, 380) and (narrow.width, len(narrow.edge)) == (
        7,
        336,
    )


def test_each_convolution_weighs_a_row_against_a_slot_by_its_own_tensor_sizes():
    for block in model("ef_tiny").interactions:
        fused = FusedConvolution(block.conv_tp)
        tp, c, k = block.conv_tp, fused.mul, fused.k
        q = [d * p for d, p in zip(fused.block_dims, fused.block_paths)]
        assert sum(q) == sum(tp.irreps_in1[ins.i_in1].ir.dim for ins in tp.instructions)
        # each input-irrep group produces only its own paths' output columns
        assert (
            fused.block_k
            == [
                sum(tp.irreps_out[ins.i_out].ir.dim for ins in tp.instructions if ins.i_in1 == b)
                for b in range(len(tp.irreps_in1))
            ]
            and sum(fused.block_k) == k
        )
        # a row's out (K, c) against a slot's u (Q, c) and A (Q_b, K_b) per group
        assert fused.row_cost == pytest.approx(
            k * c / (sum(q) * c + sum(a * b for a, b in zip(q, fused.block_k)))
        )


def test_tensor_products_it_does_not_reproduce_are_refused_and_left_alone():
    shared = o3.TensorProduct(
        "4x0e",
        "1x0e+1x1o",
        "4x0e+4x1o",
        [(0, 0, 0, "uvu", True), (0, 1, 1, "uvu", True)],
        shared_weights=True,
    )
    with pytest.raises(ValueError, match="weights are not per edge"):
        FusedConvolution(shared)
    summed = o3.TensorProduct(
        "4x0e+4x1o",
        "1x0e+1x1o",
        "4x1o",
        [(0, 1, 0, "uvu", True), (1, 0, 0, "uvu", True)],
        shared_weights=False,
        internal_weights=False,
    )
    with pytest.raises(ValueError, match="exactly one path"):
        FusedConvolution(summed)
    holder = torch.nn.Module()
    holder.conv_tp = summed
    fuse_convolutions(holder)
    assert holder.conv_tp is summed and not hasattr(holder, "conv_fusion")


def test_fused_model_gives_mace_s_energies_and_forces_and_survives_copies():
    original = model("ef_tiny", seed=1)
    fused = fuse_convolutions(copy.deepcopy(original))
    assert all(isinstance(b.conv_tp, FusedConvolution) for b in fused.interactions)
    assert not any(isinstance(b.conv_tp, FusedConvolution) for b in original.interactions)
    fused = pickle.loads(pickle.dumps(fused))
    data = water_dimer_batch()
    want = original(dict(data), compute_force=True)
    got = fused(dict(data), compute_force=True)
    torch.testing.assert_close(got["energy"], want["energy"], rtol=1e-12, atol=1e-10)
    torch.testing.assert_close(got["forces"], want["forces"], rtol=1e-10, atol=1e-12)


def water_dimer_batch():
    """mace-torch input dict for a water dimer (H, C, O table: one-hot H=0, O=2)."""
    pos = torch.tensor(
        [
            [0.0, 0.0, 0.0],
            [0.96, 0.0, 0.0],
            [-0.24, 0.93, 0.0],
            [2.9, 0.1, 0.2],
            [3.4, 0.8, 0.0],
            [3.3, -0.7, 0.3],
        ],
        dtype=torch.float64,
    )
    elements = torch.tensor([2, 0, 0, 2, 0, 0])
    i, j = torch.meshgrid(torch.arange(6), torch.arange(6), indexing="ij")
    keep = (i != j) & ((pos[i] - pos[j]).norm(dim=-1) < 5.0)
    edge_index = torch.stack([i[keep], j[keep]])
    return {
        "positions": pos.requires_grad_(True),
        "node_attrs": torch.nn.functional.one_hot(elements, 3).double(),
        "edge_index": edge_index,
        "shifts": torch.zeros((edge_index.shape[1], 3), dtype=torch.float64),
        "unit_shifts": torch.zeros((edge_index.shape[1], 3), dtype=torch.float64),
        "cell": torch.zeros((3, 3), dtype=torch.float64),
        "batch": torch.zeros(6, dtype=torch.long),
        "ptr": torch.tensor([0, 6]),
        "charges": torch.zeros(6, dtype=torch.float64),
    }


def test_vmapped_hessian_rows_through_fused_models_equal_one_at_a_time():
    """GPUs batch Hessian seeds with torch.vmap (is_grads_batched): the fused path must vmap."""
    from mace4ir.evaluation import load_molecule
    from mace4ir.evaluation.calculators.mace_ir import handle_from_spec
    from mace4ir.evaluation.engine.ir_engine import IREngine

    handles = [
        handle_from_spec(*tiny_model(name, seed=i), kind)
        for i, (name, kind) in enumerate((("ef_tiny", "EF"), ("dipole_tiny", "D")))
    ]
    engine = IREngine(*handles)
    assert all(isinstance(b.conv_tp, FusedConvolution) for b in engine.ef.model.interactions)
    mols = [load_molecule("CC(=O)N"), load_molecule("O")]
    graph, pos = engine.graph(mols, static=True), engine.positions(mols)
    for one, batched in zip(
        engine.hessians(graph, pos, chunk=1), engine.hessians(graph, pos, chunk=5)
    ):
        torch.testing.assert_close(
            torch.as_tensor(batched), torch.as_tensor(one), rtol=1e-10, atol=1e-10
        )


def test_the_edge_layout_is_computed_once_per_edge_list_and_again_when_it_changes():
    calls = []
    cache = LastTensorCache(lambda t, n: calls.append(n) or t.sum() * n)
    edges = torch.tensor([[0, 1, 2], [1, 2, 0]])
    assert cache(edges, 3) == cache(edges, 3) == 18 and calls == [3]  # same tensor, same arguments
    assert cache(edges, 2) == 12 and calls == [3, 2]  # other arguments
    assert (
        cache(edges.clone(), 2) == 12 and len(calls) == 3
    )  # another tensor (a rebuilt neighbour list)
    edges[0, 0] = 5  # changed in place
    assert cache(edges, 2) == 22 and len(calls) == 4
    assert pickle.loads(pickle.dumps(LastTensorCache(len)))._last is None
    fused = FusedConvolution(model("ef_tiny").interactions[1].conv_tp)
    copied = pickle.loads(pickle.dumps(fused))  # a fused model still pickles, its cache left behind
    assert copied._slots._last is None and copied._slots.fn is fused._slots.fn
