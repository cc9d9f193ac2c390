"""Record dict -> mace-torch ``AtomicData`` graph, built on the fly for a model's r_max.

mace-torch's own path (``config_from_atoms`` -> ``AtomicData.from_config``) creates
about thirty tensors per structure (stress, virials, polarizability, ...) and a
neighbour list in an artificially enlarged periodic cell. Molecules need far less:
one matscipy neighbour list without a cell, a one-hot element table, the labels we
train on. The graph is still mace-torch's ``AtomicData`` and batches are still
``mace.tools.torch_geometric.Batch``, so the models see exactly what they expect.
"""

from __future__ import annotations

import mace.modules  # noqa: F401  (before e3nn, see models.py)
import numpy as np
import torch
from mace.data import AtomicData
from mace.tools.torch_geometric import Batch
from matscipy.neighbours import neighbour_list

from mace4ir.elements import check_elements, element_columns
from mace4ir.errors import Mace4irError
from mace4ir.training.models import mace_import  # noqa: F401  (undo mace's torch.load setting)
from mace4ir.training.models.build import DTYPES


class GraphBuilder:
    """Callable turning a record dict into an ``AtomicData`` (picklable for loader workers)."""

    def __init__(self, atomic_numbers: list[int], r_max: float, precision: str):
        self.atomic_numbers = list(atomic_numbers)
        self.r_max = float(r_max)
        self.dtype = DTYPES[precision]
        self.index = element_columns(self.atomic_numbers)

    def __call__(self, rec: dict, where: str = "record") -> AtomicData:
        z = rec["atomic_numbers"]
        idx = self.index[z]
        if (idx < 0).any():
            check_elements(self.atomic_numbers, z, f"{where} ({rec['key_hash']})")
        positions = np.asarray(rec["positions"], dtype=np.float64)
        sender, receiver = molecule_edges(positions, self.r_max)
        n, n_edges, dt = len(z), len(sender), self.dtype
        node_attrs = torch.zeros(n, len(self.atomic_numbers), dtype=dt)
        node_attrs[torch.arange(n), torch.from_numpy(idx)] = 1.0
        zeros_e3 = torch.zeros(n_edges, 3, dtype=dt)
        return AtomicData(
            edge_index=torch.from_numpy(np.stack((sender, receiver)).astype(np.int64)),
            node_attrs=node_attrs,
            positions=torch.from_numpy(positions).to(dt),
            shifts=zeros_e3,
            unit_shifts=zeros_e3,
            cell=torch.zeros(3, 3, dtype=dt),
            weight=None,
            head=torch.tensor(0, dtype=torch.long),
            energy_weight=None,
            forces_weight=None,
            stress_weight=None,
            virials_weight=None,
            dipole_weight=None,
            charges_weight=None,
            polarizability_weight=None,
            forces=torch.tensor(rec["forces"], dtype=dt),
            energy=torch.tensor(rec["energy"], dtype=dt),
            stress=None,
            virials=None,
            dipole=torch.tensor(rec["dipole"], dtype=dt).view(1, 3),
            charges=torch.zeros(
                n, dtype=dt
            ),  # AtomicDipolesMACE adds a fixed-charge baseline: none
            polarizability=None,
            elec_temp=None,
        )


def molecule_edges(positions: np.ndarray, cutoff: float) -> tuple[np.ndarray, np.ndarray]:
    """(sender, receiver) of every ordered pair closer than ``cutoff``, no periodicity.

    matscipy wraps a cell around the atoms when none is given; for a planar or linear
    geometry (water, or any normal-mode displacement of a planar molecule) that cell is
    singular. A padded box around the atoms avoids it and changes no pair."""
    low = positions.min(axis=0) - 1.0
    box = np.diag(positions.max(axis=0) - low + 1.0)
    return neighbour_list(
        "ij", positions=positions, cutoff=cutoff, cell=box, cell_origin=low, pbc=[False] * 3
    )


def collate(graphs: list[AtomicData]) -> Batch:
    """mace-torch's batch of graphs (adds ``batch`` and ``ptr``)."""
    if not graphs:
        raise Mace4irError("internal: empty batch")
    return Batch.from_data_list(graphs)


def num_atoms_of(batch: Batch) -> torch.Tensor:
    """Atoms per graph, shape (n_graphs,)."""
    return batch.ptr[1:] - batch.ptr[:-1]
