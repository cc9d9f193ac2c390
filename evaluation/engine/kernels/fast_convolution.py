"""Inference form of mace-torch's edge convolution: gathers, a small GEMM and a batched GEMM per
input irrep.

An interaction block's ``conv_tp`` is an e3nn ``TensorProduct`` in "uvu" mode: for every
edge e = (j → i) and every path p = (ℓ1 ⊗ ℓ2 → ℓ3),

    m[e, p, c, m3] = w[e, p, c] · α_p Σ_{m1, m2} C^{ℓ1ℓ2ℓ3}[m1, m2, m3] x[j, c, ℓ1 m1] Y[e, ℓ2 m2]

and mace-torch sums the messages onto atom i. e3nn evaluates it path by path, slicing
and concatenating edge tensors (hundreds of small ops; in a Hessian's double backward
each slice's backward zero-fills the full edge tensor). All paths share one structure,
so :class:`FusedConvolution` groups the paths by their node-feature irrep b (P_b paths,
d_b components), stacks each group's Clebsch–Gordan blocks (with α_p) into one matrix C_b
and lays the edges out as rows r of ``width`` slots s, each row holding edges of one
receiving atom i(r) (padding slots get Y = 0; see :func:`receiver_slots`). With
q = (path, m1) of group b and its own output columns k = (path, m3), K_b of them:

    u_b[r, (s, q), c] = w[e_s, p, c] · x[j_s, m1, c]               (a broadcast product)
    A_b[r, (s, q), k] = Σ_m2 Y[e_s, m2] C_b[m2, q, k]              (one small GEMM)
    message[i, k, c] = Σ_{r of i} Σ_{s, q} A_b[r, (s, q), k] u_b[r, (s, q), c]   for k of group b
                  (one batched GEMM per group, groups side by side, then rows summed per atom)

so no edge tensor is sliced and the sum over edges is part of the GEMM. One row per atom
(width = largest in-degree) pads every atom to the busiest one — 31 % wasted slots for
caffeine; atoms with many edges therefore get several narrower rows when that saves slots.
Same numbers as e3nn (tested to 1e-12 in float64, values and derivatives to second
order); plain torch ops, so Hessians flow through it. Plugged in through mace-torch's
own ``conv_fusion`` hook (the block then calls ``conv_tp(x, Y, w, edge_index)``); used by
the IR engine only, on its own copy of a model.
"""

from __future__ import annotations

from itertools import accumulate
from typing import NamedTuple

import mace.modules  # noqa: F401  (before e3nn, see training.models)
import torch
from e3nn import o3

from mace4ir.evaluation.engine.kernels.last_tensor_cache import LastTensorCache
from mace4ir.training.models import mace_import  # noqa: F401  (undo mace's torch.load setting)


class FusedConvolution(torch.nn.Module):
    """Drop-in for a block's ``conv_tp`` + ``scatter_sum``: ``forward(x, Y, w, edge_index) -> (n,
    dim_out)``."""

    def __init__(self, tp: o3.TensorProduct):
        super().__init__()
        reason = unsupported_reason(tp)
        if reason:
            raise ValueError(f"cannot fuse {tp}: {reason}")
        self.mul = tp.irreps_in1[0].mul
        self.n_paths = len(tp.instructions)
        p = _PathTable(tp)
        self.d1, self.k = p.d1, p.k
        self.block_dims, self.block_paths, self.block_k = p.block_dims, p.block_paths, p.block_k
        for b, cg in enumerate(
            p.cg
        ):  # (D2, P_b·d_b·K): Y ↦ the block's per-edge (P_b·d_b, K) matrix
            self.register_buffer(f"cg{b}", cg)
        self.register_buffer(
            "path_order", torch.tensor(p.path_order)
        )  # paths grouped by input irrep
        self.register_buffer("in_perm", p.in_perm)  # e3nn layout -> (m1, channel)
        self.register_buffer("out_perm", p.out_perm)  # (k, channel) -> e3nn layout
        self.slot_width: int | None = None  # slots per row; None: chosen per graph (receiver_slots)
        self._slots = LastTensorCache(_edge_slots)  # the layout depends on the edge list only
        # a row's own tensor, out (K, c), against a slot's u (Q, c) and A (Q_b, K_b) per group:
        # the width trade-off
        q = [d * p for d, p in zip(self.block_dims, self.block_paths)]
        self.row_cost = (
            self.k
            * self.mul
            / (sum(q) * self.mul + sum(qb * kb for qb, kb in zip(q, self.block_k)))
        )

    def forward(self, node_feats, edge_attrs, tp_weights, edge_index):
        n, c = node_feats.shape[0], self.mul
        slots = self._slots(edge_index, n, self.slot_width, self.row_cost)
        n_slots = slots.edge.shape[0]
        rows = n_slots // slots.width
        sender = edge_index[0].index_select(0, slots.edge)
        x = node_feats.index_select(1, self.in_perm).reshape(n, self.d1, c).index_select(0, sender)
        w = tp_weights.reshape(-1, c).index_select(
            0, (slots.edge[:, None] * self.n_paths + self.path_order).reshape(-1)
        )
        y = edge_attrs.index_select(0, slots.edge) * slots.valid[:, None].to(edge_attrs.dtype)
        terms = []
        blocks = zip(
            torch.split(x, self.block_dims, 1),
            torch.split(w.reshape(n_slots, -1, c), self.block_paths, 1),
        )
        for b, (xb, wb) in enumerate(blocks):
            u = (wb[:, :, None, :] * xb[:, None, :, :]).reshape(rows, -1, c)  # (rows, W·P_b·d_b, c)
            a = torch.matmul(y, getattr(self, f"cg{b}").to(y.dtype)).reshape(
                rows, u.shape[1], self.block_k[b]
            )
            terms.append(
                RowProduct.apply(a, u)
            )  # (rows, K_b, c): Σ over the row's edges, the block's paths, m1
        out = (
            torch.cat(terms, 1) if len(terms) > 1 else terms[0]
        )  # (rows, K, c), columns block by block
        if slots.owner is not None:  # atoms with several rows
            out = out.new_zeros((n, self.k, c)).index_add(0, slots.owner, out)
        return out.reshape(n, -1).index_select(1, self.out_perm)


class RowProduct(torch.autograd.Function):
    """``bmm(a.transpose(1, 2), u)`` whose gradients come out in the layouts of ``a`` and ``u``.

    Plain bmm differentiates the transposed view into a transposed gradient; in a Hessian's
    double backward that makes the cotangent of the large u a strided tensor, and every
    product and sum over it 2-4x slower. The backward here is made of differentiable bmms,
    so second derivatives flow as before (same numbers)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(a, u):
        return torch.bmm(a.transpose(1, 2), u)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx, grad):
        a, u = ctx.saved_tensors
        return torch.bmm(u, grad.transpose(1, 2)), torch.bmm(a, grad)


class Slots(NamedTuple):
    """Edges laid out as rows of ``width`` slots; every row holds edges of one receiving atom."""

    edge: torch.Tensor  # (rows·width,) edge in each slot (0 for padding)
    valid: torch.Tensor  # (rows·width,) False for padding
    width: int
    owner: torch.Tensor | None  # (rows,) atom of each row; None when row r is atom r


ROW_COST = 2.0  # default cost of a row's own tensors in slots, for choosing the width


def _edge_slots(
    edge_index: torch.Tensor, n_nodes: int, width: int | None, row_cost: float
) -> Slots:
    return receiver_slots(edge_index[1], n_nodes, width, row_cost)


def receiver_slots(
    receivers: torch.Tensor, n_nodes: int, width: int | None = None, row_cost: float = ROW_COST
) -> Slots:
    """Rows of ``width`` slots: an atom with d incoming edges gets max(1, ⌈d / width⌉) rows,
    its edges in input order, the last row padded. ``width`` None: the one that minimises
    padded slots + ``row_cost`` per row (the largest in-degree when degrees are even)."""
    counts = torch.bincount(receivers, minlength=n_nodes)
    width = width or _best_width(counts, row_cost)
    rows_per_atom = ((counts + width - 1) // width).clamp(min=1)
    first_row = torch.cumsum(rows_per_atom, 0) - rows_per_atom
    order = torch.argsort(receivers, stable=True)
    by_atom = receivers[order]
    rank = (
        torch.arange(receivers.numel(), device=receivers.device)
        - (torch.cumsum(counts, 0) - counts)[by_atom]
    )
    slot = (first_row[by_atom] + rank // width) * width + rank % width
    n_rows = int(rows_per_atom.sum())
    edge = torch.zeros(n_rows * width, dtype=torch.long, device=receivers.device)
    valid = torch.zeros(n_rows * width, dtype=torch.bool, device=receivers.device)
    edge[slot] = order
    valid[slot] = True
    owner = (
        None
        if n_rows == n_nodes
        else torch.repeat_interleave(torch.arange(n_nodes, device=receivers.device), rows_per_atom)
    )
    return Slots(edge, valid, width, owner)


def _best_width(counts: torch.Tensor, row_cost: float) -> int:
    largest = int(counts.max()) if counts.numel() else 0
    if largest <= 1:
        return 1
    widths = torch.arange(
        largest, 0, -1, device=counts.device
    )  # widest first: ties keep fewer rows
    rows = ((counts[None, :] + widths[:, None] - 1) // widths[:, None]).clamp(min=1)
    return int(widths[torch.argmin((rows * (widths[:, None] + row_cost)).sum(1))])


def unsupported_reason(tp) -> str | None:
    """Why ``tp`` is not the kind of convolution :class:`FusedConvolution` reproduces (None: it
    is)."""
    if not isinstance(tp, o3.TensorProduct):
        return f"not an e3nn TensorProduct ({type(tp).__name__})"
    if tp.internal_weights or tp.shared_weights:
        return "weights are not per edge"
    muls = {m for m, _ in tp.irreps_in1}
    if len(muls) != 1 or any(m != 1 for m, _ in tp.irreps_in2):
        return "needs one multiplicity for the node features and 1 for the edge attributes"
    slots = [ins.i_out for ins in tp.instructions]
    if len(set(slots)) != len(slots) or len(slots) != len(tp.irreps_out):
        return "each output irrep must come from exactly one path"
    mul = muls.pop()
    for ins in tp.instructions:
        if (
            ins.connection_mode != "uvu"
            or not ins.has_weight
            or tp.irreps_out[ins.i_out].mul != mul
        ):
            return "only weighted 'uvu' paths with the node features' multiplicity are supported"
    return None


def _channel_last(irreps: o3.Irreps) -> torch.Tensor:
    """e3nn index of every (component, channel) entry: e3nn stores each irrep as (mul, 2ℓ+1)."""
    rows, start = [], 0
    for mul, ir in irreps:
        rows.append(start + torch.arange(mul)[None, :] * ir.dim + torch.arange(ir.dim)[:, None])
        start += mul * ir.dim
    return torch.cat(rows, dim=0).reshape(-1)


class _PathTable:
    """Every path's Clebsch–Gordan block (times e3nn's path weight), indexed for the fused product.

    Paths are grouped by their node-feature irrep b (``path_order``); block b's rows are
    (path, m1) for its P_b paths and d_b components, columns k = (path, m3) over all paths in
    output-slot order; ``cg[b]`` maps an edge's Y (D2) to block b's (P_b·d_b, K) matrix."""

    def __init__(self, tp: o3.TensorProduct):
        mul = tp.irreps_in1[0].mul
        self.d1 = tp.irreps_in1.dim // mul
        off2 = list(accumulate((ir.dim for _, ir in tp.irreps_in2), initial=0))
        self.block_dims = [ir.dim for _, ir in tp.irreps_in1]
        blocks = [
            [k for k, ins in enumerate(tp.instructions) if ins.i_in1 == b]
            for b in range(len(tp.irreps_in1))
        ]
        self.block_paths = [len(b) for b in blocks]
        self.path_order = [k for b in blocks for k in b]
        out_dim = [tp.irreps_out[ins.i_out].ir.dim for ins in tp.instructions]
        # columns k = (path, m3) in path_order: each block's columns are its own, contiguous
        k_start = dict(
            zip(self.path_order, accumulate((out_dim[k] for k in self.path_order), initial=0))
        )
        self.k = sum(out_dim)
        self.block_k = [sum(out_dim[k] for k in b) for b in blocks]
        self.cg = []
        for b, paths in enumerate(blocks):
            d_b, first = self.block_dims[b], k_start[paths[0]] if paths else 0
            cg = torch.zeros(
                tp.irreps_in2.dim, len(paths), d_b, self.block_k[b], dtype=torch.float64
            )
            for r, k in enumerate(paths):
                ins = tp.instructions[k]
                ir1, ir2, ir3 = (
                    tp.irreps_in1[ins.i_in1].ir,
                    tp.irreps_in2[ins.i_in2].ir,
                    tp.irreps_out[ins.i_out].ir,
                )
                w3j = ins.path_weight * o3.wigner_3j(
                    ir1.l, ir2.l, ir3.l, dtype=torch.float64
                )  # (m1, m2, m3)
                cg[
                    off2[ins.i_in2] : off2[ins.i_in2] + ir2.dim,
                    r,
                    :,
                    k_start[k] - first : k_start[k] - first + ir3.dim,
                ] = w3j.transpose(0, 1)
            self.cg.append(cg.reshape(tp.irreps_in2.dim, -1))
        self.in_perm = _channel_last(tp.irreps_in1)
        self.out_perm = _from_channel_last(tp, k_start, mul)


def _from_channel_last(tp: o3.TensorProduct, k_start: dict, mul: int) -> torch.Tensor:
    """For every e3nn output index, its entry in the (k, channel) layout of the fused product."""
    slot_start = list(accumulate((m * ir.dim for m, ir in tp.irreps_out), initial=0))
    perm = torch.empty(tp.irreps_out.dim, dtype=torch.long)
    for k, ins in enumerate(tp.instructions):
        dim = tp.irreps_out[ins.i_out].ir.dim
        comp, ch = (
            torch.arange(dim)[None, :],
            torch.arange(mul)[:, None],
        )  # e3nn: (channel, component)
        perm[slot_start[ins.i_out] + ch * dim + comp] = (k_start[k] + comp) * mul + ch
    return perm


def fuse_convolutions(model: torch.nn.Module) -> torch.nn.Module:
    """Swap, in place, every interaction block's ``conv_tp`` that :class:`FusedConvolution`
    reproduces; returns ``model``. Blocks already fused (or fused by mace-torch's own
    cuEquivariance/OpenEquivariance paths) are left alone."""
    for module in model.modules():
        tp = getattr(module, "conv_tp", None)
        if tp is None or hasattr(module, "conv_fusion") or unsupported_reason(tp):
            continue
        module.conv_tp = FusedConvolution(tp)
        module.conv_fusion = "mace4ir"
    return model
