"""Pair distances of small isolated molecules (no periodic boundaries).

For molecules of a few dozen atoms, all N² distances with NumPy are cheaper than
building a neighbour list (and than SciPy's ``pdist`` call overhead), and exact.
"""

from __future__ import annotations

import numpy as np


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
