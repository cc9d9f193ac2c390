"""Helpers for the fine-tuning, committee and active-learning tests: GFN2-xTB-labelled frames
in the sample's convention (formation energies) and a briefly trained foundation pair."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mace4ir.active_learning.oracle import OracleSpec, label
from mace4ir.data_prep.labelled_frames import write_labelled_frames
from mace4ir.data_prep.prepared.records import make_record
from mace4ir.molecules import load_molecule

XTB = OracleSpec("xtb")


def xtb_records(smiles: str, n: int, seed: int = 0, sigma: float = 0.05) -> list[dict]:
    """``n`` rattled copies of a molecule with GFN2-xTB formation energies, forces, dipoles."""
    atoms = load_molecule(smiles)
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        pos = atoms.positions + rng.normal(0.0, sigma, atoms.positions.shape)
        lab = label(XTB, atoms.numbers, pos)
        out.append(
            make_record(
                atoms.numbers, pos, lab["energy"], lab["forces"], lab["dipole"], f"{smiles}-{i}"
            )
        )
    return out


def xtb_extxyz(path: Path, smiles: str, n: int, seed: int = 0) -> Path:
    write_labelled_frames(path, xtb_records(smiles, n, seed))
    return path


TINY_TRAIN = dict(batch_size=8, num_workers=0, progress=False, tensorboard=False, log_every_steps=5)


def train_foundation(prepared: Path, out: Path, steps: int = 40) -> dict[str, Path]:
    """A tiny EF and dipole model trained a few steps on ``prepared`` (the replay data)."""
    from mace4ir.training import train

    runs = {}
    for kind, model in (("ef", "ef_tiny"), ("dipole", "dipole_tiny")):
        runs[kind] = out / kind
        if not (runs[kind] / "best_model.json").is_file():
            train(
                prepared,
                runs[kind],
                model=model,
                config="smoke",
                max_steps=steps,
                precision="float32",
                **TINY_TRAIN,
            )
    return runs
