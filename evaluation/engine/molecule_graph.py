"""Many isolated molecules packed into one mace-torch input graph.

Edges come from mace-torch's own neighbour list (matscipy) with a *skin*: pairs
within ``cutoff + skin`` are kept. Edges longer than the model's r_max contribute
exactly zero (mace multiplies every radial feature by a polynomial cutoff that is 0
beyond r_max and its MLPs have no biases), so the graph stays valid until some atom
has moved more than ``skin / 2`` — the Verlet-list rule. Harmonic displacements and
most MD steps therefore reuse one graph.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from mace.data.neighborhood import get_neighborhood

from mace4ir.training.models import mace_import  # noqa: F401  (undo mace's torch.load setting)


def _edges(positions: np.ndarray, cutoff: float) -> np.ndarray:
    edge_index, _, _, _ = get_neighborhood(
        positions=positions, cutoff=cutoff, pbc=(False, False, False), cell=None
    )
    return edge_index


@dataclass
class MoleculeGraph:
    """Topology of a batch of molecules: element numbers, batch vector, edges."""

    numbers: torch.Tensor  # (n_atoms,) int64, all molecules concatenated
    batch: torch.Tensor  # (n_atoms,) molecule index of each atom
    ptr: torch.Tensor  # (n_mol + 1,) atom offsets
    edge_index: torch.Tensor  # (2, n_edges) sender, receiver
    cutoff: float  # Å, cutoff + skin used for the edges
    skin: float  # Å
    ref_positions: torch.Tensor  # positions the edges were built for
    cache: dict = field(
        default_factory=dict, repr=False
    )  # constant model inputs, per dtype / model

    @property
    def n_molecules(self) -> int:
        return int(self.ptr.numel() - 1)

    @property
    def n_atoms(self) -> int:
        return int(self.numbers.numel())

    @classmethod
    def build(
        cls, numbers_list, positions_list, r_max: float, skin: float, device
    ) -> MoleculeGraph:
        sizes = [len(z) for z in numbers_list]
        ptr = np.concatenate([[0], np.cumsum(sizes)])
        cutoff = float(r_max) + float(skin)
        edges = [
            _edges(np.asarray(p, dtype=np.float64), cutoff) + ptr[i]
            for i, p in enumerate(positions_list)
        ]
        dev = torch.device(device)
        return cls(
            numbers=torch.as_tensor(np.concatenate(numbers_list), dtype=torch.int64, device=dev),
            batch=torch.as_tensor(
                np.repeat(np.arange(len(sizes)), sizes), dtype=torch.int64, device=dev
            ),
            ptr=torch.as_tensor(ptr, dtype=torch.int64, device=dev),
            edge_index=torch.as_tensor(
                np.concatenate(edges, axis=1), dtype=torch.int64, device=dev
            ),
            cutoff=cutoff,
            skin=float(skin),
            ref_positions=torch.as_tensor(
                np.concatenate(positions_list), dtype=torch.float64, device=dev
            ),
        )

    def needs_rebuild(self, positions: torch.Tensor) -> bool:
        """True when some atom moved more than skin/2 since the edges were built."""
        if self.skin <= 0:
            return not torch.equal(
                positions.detach().to(self.ref_positions.dtype), self.ref_positions
            )
        moved = (
            (positions.detach().to(self.ref_positions.dtype) - self.ref_positions).norm(dim=1).max()
        )
        return bool(moved > 0.5 * self.skin)

    def rebuilt(self, positions: torch.Tensor) -> MoleculeGraph:
        pos = positions.detach().to(torch.float64).cpu().numpy()
        ptr = self.ptr.cpu().numpy()
        numbers = self.numbers.cpu().numpy()
        return MoleculeGraph.build(
            [numbers[ptr[i] : ptr[i + 1]] for i in range(len(ptr) - 1)],
            [pos[ptr[i] : ptr[i + 1]] for i in range(len(ptr) - 1)],
            self.cutoff - self.skin,
            self.skin,
            self.numbers.device,
        )

    def _constants(self, dtype, device) -> dict[str, torch.Tensor]:
        key = ("constants", dtype)
        if key not in self.cache:
            n_edges, n_mol = self.edge_index.shape[1], self.n_molecules
            self.cache[key] = {
                "edge_index": self.edge_index,
                "shifts": torch.zeros((n_edges, 3), dtype=dtype, device=device),
                "unit_shifts": torch.zeros((n_edges, 3), dtype=dtype, device=device),
                "cell": torch.zeros((3 * n_mol, 3), dtype=dtype, device=device),
                "batch": self.batch,
                "ptr": self.ptr,
                "head": torch.zeros(n_mol, dtype=torch.int64, device=device),
                "charges": torch.zeros(self.n_atoms, dtype=dtype, device=device),
            }
        return self.cache[key]

    def mace_input(
        self, positions: torch.Tensor, node_attrs: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """The dict a mace-torch model's forward() expects, for isolated molecules (no shifts, no
        cell)."""
        return {
            "positions": positions,
            "node_attrs": node_attrs,
            **self._constants(positions.dtype, positions.device),
        }
