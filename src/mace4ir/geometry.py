"""Pair distances and geometry checks of small isolated molecules (no periodic boundaries).

For molecules of a few dozen atoms, all N² distances with NumPy are cheaper than
building a neighbour list (and than SciPy's ``pdist`` call overhead), and exact.
"""

from __future__ import annotations

import numpy as np

from mace4ir.errors import Mace4irError

MIN_DISTANCE = 0.5  # Å; closer atoms are overlapping (shortest real bond, H2, is 0.74 Å)


def squared_distances(positions: np.ndarray) -> np.ndarray:
    """(N, N) squared distances, float64."""
    pos = np.asarray(positions, dtype=np.float64)
    diff = pos[:, None, :] - pos[None, :, :]
    return np.einsum("ijk,ijk->ij", diff, diff)


def min_distance(positions: np.ndarray) -> float:
    """Smallest distance between two different atoms (inf for one atom)."""
    n = len(positions)
    if n < 2:
        return float("inf")
    d2 = squared_distances(positions)
    d2[np.diag_indices(n)] = np.inf
    return float(np.sqrt(d2.min()))


def count_neighbors(positions: np.ndarray, cutoff: float) -> int:
    """Number of ordered pairs (i, j), i != j, closer than ``cutoff`` (= directed edges)."""
    n = len(positions)
    if n < 2:
        return 0
    return int(np.count_nonzero(squared_distances(positions) < cutoff * cutoff)) - n


def check_geometry(atoms, where: str, min_distance: float = MIN_DISTANCE) -> None:
    """Refuse empty, non-finite, periodic or overlapping structures, naming ``where``."""
    pos = atoms.get_positions()
    if len(atoms) == 0:
        raise Mace4irError(f"{where}: no atoms")
    if not np.all(np.isfinite(pos)):
        raise Mace4irError(f"{where}: positions contain NaN or infinity")
    if atoms.pbc.any():
        raise Mace4irError(
            f"{where}: periodic boundary conditions set; the IR engine handles isolated molecules "
            f"only"
        )
    if len(atoms) < 2:
        return
    d2 = squared_distances(pos)
    np.fill_diagonal(d2, np.inf)
    i, j = np.unravel_index(np.argmin(d2), d2.shape)
    if d2[i, j] < min_distance**2:
        s = atoms.get_chemical_symbols()
        raise Mace4irError(
            f"{where}: atoms {i} ({s[i]}) and {j} ({s[j]}) overlap: {np.sqrt(d2[i, j]):.3f} Å "
            f"apart "
            f"(minimum {min_distance} Å); check the structure's units (Bohr vs Å?)"
        )
