"""Helpers for the training tests: a small prepared directory with real GFN2-xTB labels.

Written with the data-prep stage's own shard writers and manifest layout, so the
training tests do not depend on the whole prep pipeline; ~2 s for 100 structures.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mace4ir.data_prep.prepared.records import encode_record, make_record
from mace4ir.data_prep.prepared.shards import write_lmdb_shard, write_wds_shard

MOLECULES = (
    "H2O",
    "CH4",
    "NH3",
    "C2H6",
    "CH3OH",
    "C2H4",
    "HCOOH",
    "CH3CHO",
    "C2H2",
    "H2CO",
    "CH3CH2OH",
)


def _label(names, n, seed, nan_index=None):
    from ase.build import molecule
    from tblite.ase import TBLite

    rng = np.random.default_rng(seed)
    records = []
    for i in range(n):
        atoms = molecule(names[i % len(names)])
        atoms.positions += rng.normal(0.0, 0.08, atoms.positions.shape)
        atoms.calc = TBLite(method="GFN2-xTB", accuracy=1e-3, verbosity=0)
        energy = float("nan") if i == nan_index else atoms.get_potential_energy()
        records.append(
            make_record(
                atoms.numbers,
                atoms.positions,
                energy,
                atoms.get_forces(),
                atoms.get_dipole_moment(),
                f"key{seed}-{i:05d}",
                f"mol{i % len(names)}",
            )
        )
    return records


def _statistics(train, zs):
    counts = np.array([[np.sum(r["atomic_numbers"] == z) for z in zs] for r in train], float)
    energies = np.array([r["energy"] for r in train])
    finite = np.isfinite(energies)
    e0 = np.linalg.lstsq(counts[finite], energies[finite], rcond=None)[0]
    n_atoms = counts.sum(1)
    forces = np.concatenate([r["forces"].ravel() for r in train])
    per_atom = energies[finite] / n_atoms[finite]
    stats = {
        "force_rms": float(np.sqrt(np.mean(forces**2))),
        "interaction_energy_per_atom_mean": float(
            np.mean((energies - counts @ e0)[finite] / n_atoms[finite])
        ),
        "energy_per_atom_mean": float(per_atom.mean()),
        "energy_per_atom_std": float(per_atom.std()),
        "n_train": len(train),
    }
    return e0, stats, counts


def make_prepared(
    out, n=100, n_val=20, n_test=20, shard_size=16, seed=0, names=MOLECULES, nan_index=None
) -> Path:
    """A prepared directory (manifest.json + LMDB + WebDataset shards) of ``n`` rattled
    molecules."""
    out = Path(out)
    records = _label(names, n, seed, nan_index)
    splits = {
        "val": records[:n_val],
        "test": records[n_val : n_val + n_test],
        "train": records[n_val + n_test :],
    }
    zs = sorted({int(z) for r in records for z in r["atomic_numbers"]})
    e0, stats, counts = _statistics(splits["train"], zs)
    half = len(splits["train"]) // 2
    manifest = {
        "splits": {},
        "subsets": {str(half): half, str(len(splits["train"])): len(splits["train"])},
        "rejected": {"charged": 0, "not_singlet": 0, "outlier": 0, "invalid": 0, "corrupt": 0},
        "e0s": {str(z): float(v) for z, v in zip(zs, e0)},
        "elements": {str(z): int(np.sum(counts[:, k] > 0)) for k, z in enumerate(zs)},
        "avg_num_neighbors": float(
            np.mean([len(r["atomic_numbers"]) - 1 for r in splits["train"]])
        ),
        "r_max": 5.0,
        "statistics": stats,
        "units": {"energy": "eV", "forces": "eV/Å", "dipole": "e·Å", "positions": "Å"},
        "energy_field": "gfn2_xtb_energy",
        "seed": seed,
        "split_by": "record",
        "source": "tests/train_helpers.py",
    }
    for split, recs in splits.items():
        entries = {"lmdb": [], "webdataset": []}
        for start in range(0, len(recs), shard_size):
            encoded = [encode_record(r) for r in recs[start : start + shard_size]]
            k = start // shard_size
            lmdb_rel, tar_rel = (
                f"{split}/lmdb/shard-{k:05d}.lmdb",
                f"{split}/webdataset/shard-{k:05d}.tar",
            )
            (out / lmdb_rel).parent.mkdir(parents=True, exist_ok=True)
            (out / tar_rel).parent.mkdir(parents=True, exist_ok=True)
            entries["lmdb"].append({"path": lmdb_rel, **write_lmdb_shard(out / lmdb_rel, encoded)})
            items = [(start + j, b) for j, b in enumerate(encoded)]
            entries["webdataset"].append({"path": tar_rel, **write_wds_shard(out / tar_rel, items)})
        manifest["splits"][split] = {"count": len(recs), "shards": entries}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return out


TINY = dict(
    batch_size=8,
    num_workers=0,
    log_every_steps=1,
    progress=False,
    tensorboard=False,
    scheduler={"warmup_steps": 2},
)
