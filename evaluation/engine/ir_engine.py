"""Torch-level evaluation of an EF + D model pair on a batch of molecules.

Everything here works on one packed graph (see :mod:`.graphs`): energies, forces,
dipoles (e·Å), dipole Jacobians (atomic polar tensors) and Hessians come out for
all molecules of the batch from one forward pass and a few *batched*
vector-Jacobian products (``is_grads_batched``, i.e. torch.vmap over the backward
pass) — no finite differences.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import mace.modules  # noqa: F401  (before e3nn, see training.models)
import numpy as np
import torch

from mace4ir.elements import element_columns
from mace4ir.evaluation.engine.hessian_symmetry import SplitBasis, split_basis
from mace4ir.evaluation.engine.kernels.fast_contraction import fold_contractions
from mace4ir.evaluation.engine.kernels.fast_convolution import fuse_convolutions
from mace4ir.evaluation.engine.kernels.fast_scatter import fast_scatter
from mace4ir.evaluation.engine.molecule_graph import MoleculeGraph
from mace4ir.training.models import mace_import  # noqa: F401  (undo mace's torch.load setting)


@dataclass
class ModelHandle:
    """A loaded mace-torch model with what the engine needs to feed it."""

    model: torch.nn.Module
    kind: str  # "ef" or "dipole"
    atomic_numbers: list[int]  # the model's element table, in one-hot order
    r_max: float  # Å
    source: str  # file it came from (for messages)

    def __post_init__(self):
        self.dtype = next(self.model.parameters()).dtype
        self._index = torch.from_numpy(element_columns(self.atomic_numbers))
        # Edges beyond r_max only vanish when the radial features are cut off.
        self.cutoff_exact = bool(
            getattr(getattr(self.model, "radial_embedding", None), "apply_cutoff", True)
        )
        for p in self.model.parameters():
            p.requires_grad_(False)

    def folded(self) -> ModelHandle:
        """A handle on a copy of the model in inference form (same numbers, faster): per-element
        folded contractions (:mod:`.fast_contraction`), fused edge convolutions
        (:mod:`.fast_convolution`)."""
        return dataclasses.replace(self, model=fuse_convolutions(fold_contractions(self.model)))

    def to(self, device) -> ModelHandle:
        self.model = self.model.to(device)
        self._index = self._index.to(device)
        return self

    def node_attrs(self, numbers: torch.Tensor) -> torch.Tensor:
        idx = self._index.to(numbers.device)[numbers]
        return torch.nn.functional.one_hot(idx, len(self.atomic_numbers)).to(self.dtype)


def _graph_inputs(handle: ModelHandle, graph: MoleculeGraph, positions: torch.Tensor) -> dict:
    key = ("node_attrs", id(handle))
    if key not in graph.cache:
        graph.cache[key] = handle.node_attrs(graph.numbers)
    return graph.mace_input(positions.to(handle.dtype), graph.cache[key])


def weights_digest(*models: torch.nn.Module) -> str:
    """SHA-256 of the models' weights and buffers: which models these are (the MD store keeps
    it, so a rerun with other models does not continue the trajectories of these)."""
    digest = hashlib.sha256()
    for model in models:
        for name, tensor in model.state_dict().items():
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


class IREngine:
    """EF + D models evaluated together on packed molecule graphs."""

    def __init__(
        self,
        ef: ModelHandle,
        dipole: ModelHandle,
        device="cpu",
        skin: float = 1.0,
        fold: bool = True,
    ):
        """``fold``: evaluate copies of the models in inference form (:meth:`ModelHandle.folded`);
        False runs mace-torch's modules as they are."""
        self.device = torch.device(device)
        self.weights_sha256 = weights_digest(ef.model, dipole.model)  # as loaded, not folded
        self.ef = (ef.folded() if fold else ef).to(self.device)
        self.dipole = (dipole.folded() if fold else dipole).to(self.device)
        exact = self.ef.cutoff_exact and self.dipole.cutoff_exact
        self.skin = float(skin) if exact else 0.0
        self.r_max = max(ef.r_max, dipole.r_max)

    # ---- graphs -------------------------------------------------------------
    def graph(self, atoms_list, static: bool = False) -> MoleculeGraph:
        """Packed graph; ``static`` (one geometry, e.g. a Hessian) needs no neighbour-list skin."""
        skin = 0.0 if static else self.skin
        return MoleculeGraph.build(
            [a.numbers for a in atoms_list],
            [a.get_positions() for a in atoms_list],
            self.r_max,
            skin,
            self.device,
        )

    def positions(self, atoms_list) -> torch.Tensor:
        pos = np.concatenate([a.get_positions() for a in atoms_list])
        return torch.as_tensor(pos, dtype=torch.float64, device=self.device)

    # ---- values ---------------------------------------------------------------
    def energy(self, graph: MoleculeGraph, positions: torch.Tensor) -> torch.Tensor:
        """Total energies (n_mol,) in eV, differentiable w.r.t. ``positions``."""
        with fast_scatter():
            out = self.ef.model(_graph_inputs(self.ef, graph, positions), compute_force=False)
        return out["energy"].to(torch.float64)

    def dipoles(self, graph: MoleculeGraph, positions: torch.Tensor) -> torch.Tensor:
        """Dipole moments (n_mol, 3) in e·Å, differentiable w.r.t. ``positions``."""
        with fast_scatter():
            out = self.dipole.model(_graph_inputs(self.dipole, graph, positions))
        return out["dipole"].to(torch.float64)

    def energy_forces(self, graph: MoleculeGraph, positions: torch.Tensor):
        """(energies (n_mol,) eV, forces (n_atoms, 3) eV/Å), detached."""
        with torch.enable_grad():
            pos = positions.detach().requires_grad_(True)
            energy = self.energy(graph, pos)
            (grad,) = torch.autograd.grad(energy.sum(), pos)
        return energy.detach(), -grad

    def dipoles_detached(self, graph: MoleculeGraph, positions: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.dipoles(graph, positions.detach())

    def dipole_jacobian(self, graph: MoleculeGraph, positions: torch.Tensor):
        """(dipoles (n_mol, 3), APTs (n_atoms, 3, 3)) with apt[i, a, b] = dμ_a / dr_ib in e
        (e·Å/Å)."""
        with torch.enable_grad():
            pos = positions.detach().requires_grad_(True)
            mu = self.dipoles(graph, pos)
            eye = torch.eye(3, dtype=mu.dtype, device=mu.device)
            seeds = eye[:, None, :].expand(
                3, mu.shape[0], 3
            )  # seed a selects component a of every molecule
            (jac,) = torch.autograd.grad(mu, pos, grad_outputs=seeds, is_grads_batched=True)
        return mu.detach(), jac.permute(1, 0, 2).contiguous()

    def dipole_velocity(
        self, graph: MoleculeGraph, positions: torch.Tensor, velocities: torch.Tensor
    ):
        """(μ, dμ/dt = Σ_i P_i·v_i) per molecule: the atomic-polar-tensor route (velocities in
        Å/fs)."""
        mu, apt = self.dipole_jacobian(graph, positions)
        per_atom = torch.einsum("iab,ib->ia", apt, velocities.to(apt.dtype))
        dmu = torch.zeros_like(mu).index_add_(0, graph.batch, per_atom)
        return mu, dmu

    def hessians(
        self,
        graph: MoleculeGraph,
        positions: torch.Tensor,
        chunk: int | None = -1,
        symmetry: bool = True,
    ):
        """Cartesian Hessians (eV/Å²), one (3n, 3n) array per molecule, by batched double backward.

        Seed k carries internal direction k of *every* molecule at once: cross-molecule blocks
        are zero, so max(3n - 6) vector-Jacobian products give all Hessians of the batch; the
        rigid-body columns come exactly from the gradient (:mod:`.hessian_symmetry`;
        ``symmetry=False`` differentiates along all 3n Cartesian directions instead). VJPs are
        vmapped in chunks of ``chunk`` seeds (bounds memory; None = all at once; -1 = the
        device's default, see :func:`default_chunk`).
        """
        chunk = default_chunk(self.device) if chunk == -1 else chunk
        starts, sizes = graph.ptr[:-1].tolist(), (graph.ptr[1:] - graph.ptr[:-1]).tolist()
        with torch.enable_grad():
            pos = positions.detach().requires_grad_(True)
            energy = self.energy(graph, pos)
            (grad,) = torch.autograd.grad(energy.sum(), pos, create_graph=True)
            bases = self._hessian_bases(grad.detach(), pos.detach(), starts, sizes, symmetry)
            n_seeds = max(b.internal.shape[1] for b in bases)
            seeds = torch.zeros(
                (n_seeds, graph.n_atoms * 3), dtype=torch.float64, device=self.device
            )
            for start, n, b in zip(starts, sizes, bases):
                k = b.internal.shape[1]
                seeds[:k, 3 * start : 3 * (start + n)] = torch.as_tensor(
                    b.internal.T, device=self.device
                )
            rows = _batched_vjp(grad.reshape(-1), pos, seeds, chunk) if n_seeds else seeds
        rows = rows.reshape(n_seeds, graph.n_atoms * 3).to(torch.float64).cpu().numpy()
        return [
            b.hessian(rows[: b.internal.shape[1], 3 * start : 3 * (start + n)].T)
            for start, n, b in zip(starts, sizes, bases)
        ]

    @staticmethod
    def _hessian_bases(grad, pos, starts, sizes, symmetry: bool) -> list[SplitBasis]:
        g, x = grad.to(torch.float64).cpu().numpy(), pos.to(torch.float64).cpu().numpy()
        if not symmetry:
            return [
                SplitBasis(np.zeros((3 * n, 0)), np.eye(3 * n), np.zeros((3 * n, 0))) for n in sizes
            ]
        return [split_basis(x[s : s + n], g[s : s + n]) for s, n in zip(starts, sizes)]


def default_chunk(device: torch.device) -> int:
    """Seeds per vmapped backward. On CPU vmap only adds memory traffic (batched copies and
    zero-fills in the slicing backwards): one seed at a time measured 1.7-2x faster for 9-15
    atom molecules (ef_small, float32), and single seeds run on all cores in parallel
    (:func:`_parallel_rows`). GPUs need the batch to fill the device."""
    return 1 if device.type == "cpu" else 96


def _batched_vjp(
    output: torch.Tensor, inputs: torch.Tensor, seeds: torch.Tensor, chunk: int | None
):
    chunk = chunk or seeds.shape[0]
    workers = min(torch.get_num_threads(), seeds.shape[0])
    if chunk == 1 and workers > 1 and inputs.device.type == "cpu":
        return _parallel_rows(output, inputs, seeds, workers)
    parts = []
    for i in range(0, seeds.shape[0], chunk):
        block = seeds[i : i + chunk].to(output.dtype)
        if chunk == 1:  # plain backward: no vmap machinery at all
            g = _vjp(output, inputs, block[0])[None]
        else:
            (g,) = torch.autograd.grad(
                output, inputs, grad_outputs=block, is_grads_batched=True, retain_graph=True
            )
        parts.append(g.detach())
    return torch.cat(parts)


def _vjp(output: torch.Tensor, inputs: torch.Tensor, seed: torch.Tensor) -> torch.Tensor:
    (g,) = torch.autograd.grad(
        output, inputs, grad_outputs=seed.to(output.dtype), retain_graph=True
    )
    return g.detach()


def _parallel_rows(
    output: torch.Tensor, inputs: torch.Tensor, seeds: torch.Tensor, workers: int
) -> torch.Tensor:
    """One vector-Jacobian product per seed, ``workers`` of them at a time in threads with one
    intra-op thread each. A Hessian row of a small molecule is thousands of small ops that
    one thread runs anyway (intra-op parallelism only splits the few large ones); whole rows
    side by side use every core: 1.3-1.6x faster rows for 9-24 atoms on 2 cores. The
    autograd engine releases the GIL and allows concurrent backward passes through one graph
    built with retain_graph; each row is computed by one thread, so rows do not depend on
    ``workers``."""
    with _intra_op_threads(1), ThreadPoolExecutor(workers) as pool:
        return torch.stack(list(pool.map(lambda seed: _vjp(output, inputs, seed), seeds)))


@contextlib.contextmanager
def _intra_op_threads(n: int):
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
