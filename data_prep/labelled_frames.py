"""Labelled structures as extended XYZ: a user's own reference calculations, or the
frames an active-learning run labelled, in and out of the record format.

Reading accepts what ASE writes: energy as ``energy`` in the comment line or a
calculator result, forces as the ``forces`` array, the dipole as ``dipole`` (e·Å).
Every frame must have all three; a missing or non-finite label is an error naming
the file and the frame, never a silently dropped structure.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mace4ir.data_prep.prepared.records import make_record
from mace4ir.errors import DataFormatError, Mace4irError


def read_labelled_frames(path: str | Path, energy_key: str = "energy") -> list[dict]:
    """Records (internal units: Å, eV, eV/Å, e·Å) of every frame of an extxyz file."""
    from ase.io import iread

    path = Path(path)
    if not path.is_file():
        raise Mace4irError(f"{path}: labelled-structure file not found")
    records = []
    try:
        for i, atoms in enumerate(iread(str(path), index=":", format="extxyz")):
            records.append(_record(atoms, f"{path} frame {i}", f"{path.stem}-{i:06d}", energy_key))
    except (ValueError, KeyError, IndexError) as exc:
        raise DataFormatError(f"{path}: not a readable extended XYZ file: {exc}") from None
    if not records:
        raise DataFormatError(f"{path}: no frames")
    return records


def _label(atoms, name: str, calc_key: str):
    if name in atoms.info:
        return atoms.info[name]
    if name in atoms.arrays:
        return atoms.arrays[name]
    if atoms.calc is not None and calc_key in atoms.calc.results:
        return atoms.calc.results[calc_key]
    return None


def _record(atoms, where: str, key: str, energy_key: str) -> dict:
    labels = {
        "energy": _label(atoms, energy_key, "energy"),
        "forces": _label(atoms, "forces", "forces"),
        "dipole": _label(atoms, "dipole", "dipole"),
    }
    missing = [k for k, v in labels.items() if v is None]
    if missing:
        raise DataFormatError(
            f"{where}: no {', '.join(missing)} (each frame needs energy, forces and dipole)"
        )
    for name, value in labels.items():
        if not np.all(np.isfinite(np.asarray(value, dtype=np.float64))):
            raise DataFormatError(f"{where}: non-finite {name}")
    try:
        return make_record(
            atoms.numbers,
            atoms.positions,
            float(labels["energy"]),
            labels["forces"],
            labels["dipole"],
            str(atoms.info.get("key_hash", key)),
            atoms.info.get("smiles_hash"),
        )
    except ValueError as exc:
        raise DataFormatError(f"{where}: labels of the wrong shape: {exc}") from None


def write_labelled_frames(path: str | Path, records: list[dict]) -> None:
    """Write records as extxyz (atomically), readable by :func:`read_labelled_frames` and ASE."""
    from ase.io import write

    from mace4ir.data_prep.prepared.records import record_to_atoms

    path = Path(path)
    frames = []
    for rec in records:
        atoms = record_to_atoms(rec)
        frames.append(atoms)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    write(str(tmp), frames, format="extxyz")
    tmp.replace(path)
