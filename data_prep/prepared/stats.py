"""Streaming statistics of a split, mergeable across shards in a fixed order.

One pass over the records accumulates sums only, so shards can be processed by any
worker and merged afterwards with the same result:

* per-element structure counts;
* E0s by least squares ``E ≈ Σ_Z n_Z E0_Z``: the normal equations ``XᵀX`` and
  ``Xᵀy`` (118×118, exact, independent of the number of records);
* mean number of neighbours within ``r_max`` (edges / atoms, as mace-torch);
  molecules are not periodic, so all pair distances give the exact count;
* energy per atom (mean, std), force RMS over all components, and the mean
  interaction energy per atom after E0 subtraction, from ``Σ E/N`` and
  ``Σ n_Z/N`` (no second pass needed).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mace4ir.geometry import count_neighbors

NZ = 119  # index = atomic number


def _zeros():
    return field(default_factory=lambda: np.zeros(NZ))


@dataclass
class StatsAccumulator:
    r_max: float = 5.0
    n_structures: int = 0
    n_atoms: int = 0
    n_edges: int = 0
    sum_f2: float = 0.0
    sum_e_per_atom: float = 0.0
    sum_e_per_atom_sq: float = 0.0
    xtx: np.ndarray = field(default_factory=lambda: np.zeros((NZ, NZ)))
    xty: np.ndarray = _zeros()
    comp_per_atom: np.ndarray = _zeros()  # Σ n_Z / N
    element_structures: np.ndarray = field(default_factory=lambda: np.zeros(NZ, np.int64))

    def add(self, rec: dict) -> None:
        self.add_batch([rec])

    def add_batch(self, records: list[dict]) -> None:
        """Accumulate a list of records (vectorised over the records of a shard)."""
        if not records:
            return
        n_atoms = np.array([len(r["atomic_numbers"]) for r in records])
        energy = np.array([r["energy"] for r in records], dtype=np.float64)
        owner = np.repeat(np.arange(len(records)), n_atoms)
        z = np.concatenate([r["atomic_numbers"] for r in records])
        comp = (
            np.bincount(owner * NZ + z, minlength=len(records) * NZ)
            .reshape(len(records), NZ)
            .astype(np.float64)
        )
        forces = np.concatenate([r["forces"] for r in records]).astype(np.float64).ravel()
        e_per_atom = energy / n_atoms
        self.n_structures += len(records)
        self.n_atoms += int(n_atoms.sum())
        self.n_edges += sum(count_neighbors(r["positions"], self.r_max) for r in records)
        self.sum_f2 += float(forces @ forces)
        self.sum_e_per_atom += float(e_per_atom.sum())
        self.sum_e_per_atom_sq += float(e_per_atom @ e_per_atom)
        self.xtx += comp.T @ comp  # integer-valued: exact in float64
        self.xty += comp.T @ energy
        self.comp_per_atom += (comp / n_atoms[:, None]).sum(axis=0)
        self.element_structures += (comp > 0).sum(axis=0)

    def merge(self, other: StatsAccumulator) -> None:
        for name in (
            "n_structures",
            "n_atoms",
            "n_edges",
            "sum_f2",
            "sum_e_per_atom",
            "sum_e_per_atom_sq",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.xtx += other.xtx
        self.xty += other.xty
        self.comp_per_atom += other.comp_per_atom
        self.element_structures += other.element_structures

    # --- persistence (one small .npz per shard, for resumable runs) ---
    def save(self, path) -> None:
        import os

        tmp = f"{path}.tmp{os.getpid()}.npz"
        np.savez(tmp, **{k: np.asarray(v) for k, v in self.__dict__.items()})
        os.replace(tmp, path)

    @classmethod
    def load(cls, path) -> StatsAccumulator:
        with np.load(path) as data:
            kw = {k: data[k] for k in data.files}
        for k in ("n_structures", "n_atoms", "n_edges"):
            kw[k] = int(kw[k])
        for k in ("r_max", "sum_f2", "sum_e_per_atom", "sum_e_per_atom_sq"):
            kw[k] = float(kw[k])
        return cls(**kw)

    # --- results ---
    def elements(self) -> list[int]:
        return [int(z) for z in np.flatnonzero(self.element_structures)]

    def e0s(self) -> dict[int, float]:
        """Least-squares E0 per element from the normal equations (min-norm if degenerate)."""
        zs = self.elements()
        if not zs:
            return {}
        a = self.xtx[np.ix_(zs, zs)]
        b = self.xty[zs]
        sol = np.linalg.lstsq(a, b, rcond=None)[0]
        return {z: float(v) for z, v in zip(zs, sol)}

    def summary(self, e0s: dict[int, float]) -> dict:
        n = max(self.n_structures, 1)
        mean = self.sum_e_per_atom / n
        var = max(self.sum_e_per_atom_sq / n - mean**2, 0.0)
        e0_vec = np.zeros(NZ)
        for z, v in e0s.items():
            e0_vec[z] = v
        interaction = (self.sum_e_per_atom - float(self.comp_per_atom @ e0_vec)) / n
        return {
            "n_train": self.n_structures,
            "n_atoms": self.n_atoms,
            "force_rms": float(np.sqrt(self.sum_f2 / max(3 * self.n_atoms, 1))),
            "energy_per_atom_mean": mean,
            "energy_per_atom_std": float(np.sqrt(var)),
            "interaction_energy_per_atom_mean": float(interaction),
        }

    def avg_num_neighbors(self) -> float:
        return self.n_edges / max(self.n_atoms, 1)

    def element_counts(self) -> dict[str, int]:
        return {str(z): int(self.element_structures[z]) for z in self.elements()}
