"""One conformer record in internal units, and its compact binary encoding.

A record is a dict::

    atomic_numbers  int64 (N,)
    positions       float32 (N, 3)   Å
    energy          float            eV (the configured energy field, e.g. formation energy)
    forces          float32 (N, 3)   eV/Å
    dipole          float32 (3,)     e·Å
    key_hash        str              QCML's record id
    smiles_hash     str or None      molecule id (None when unknown)

The same bytes are stored as LMDB values and as WebDataset members (``<index>.m4r``),
so both formats hold bit-identical records. Layout (little endian)::

    b"M4R1" | uint32 N | float64 energy | float32[3] dipole | uint16 len(key) | uint16 len(smiles)
    | uint8[N] Z | float32[3N] positions | float32[3N] forces | key utf-8 | smiles utf-8

QCML stores float32 values, so float32 storage loses nothing; energies are kept as
float64 because formation energies in eV are summed over many atoms downstream.
"""

from __future__ import annotations

import struct

import numpy as np

from mace4ir.errors import DataFormatError

MAGIC = b"M4R1"
_HEAD = struct.Struct("<4sId3fHH")
WDS_EXTENSION = "m4r"


def make_record(
    atomic_numbers, positions, energy, forces, dipole, key_hash, smiles_hash=None
) -> dict:
    """Build a record dict with canonical dtypes and shapes."""
    z = np.asarray(atomic_numbers, dtype=np.int64).reshape(-1)
    n = z.shape[0]
    return {
        "atomic_numbers": z,
        "positions": np.asarray(positions, dtype=np.float32).reshape(n, 3),
        "energy": float(energy),
        "forces": np.asarray(forces, dtype=np.float32).reshape(n, 3),
        "dipole": np.asarray(dipole, dtype=np.float32).reshape(3),
        "key_hash": str(key_hash),
        "smiles_hash": None if smiles_hash in (None, "") else str(smiles_hash),
    }


# Largest magnitude a stored value may have, in stored units. Far beyond any molecule (a 0.5 Å
# contact gives forces of ~100 eV/Å), yet small enough that squares and sums over a batch stay
# finite in float32: a value past it is an overflow, a wrong unit or damage, not chemistry.
LIMITS = {"positions": 1e4, "energy": 1e8, "forces": 1e5, "dipole": 1e4}
UNITS = {"positions": "Å", "energy": "eV", "forces": "eV/Å", "dipole": "e·Å"}


def value_problem(rec: dict) -> str | None:
    """What is wrong with a record's values (non-finite or beyond :data:`LIMITS`), or None."""
    for name, limit in LIMITS.items():
        values = np.asarray(rec[name], dtype=np.float64)
        if not np.isfinite(values).all():
            return f"{name} not finite in {UNITS[name]}"
        biggest = float(np.abs(values).max(initial=0.0))
        if biggest > limit:
            return f"{name} up to {biggest:.3g} {UNITS[name]} (limit {limit:.0e})"
    return None


def encode_record(rec: dict) -> bytes:
    z = np.asarray(rec["atomic_numbers"])
    if z.min(initial=1) < 1 or z.max(initial=1) > 118:
        raise DataFormatError(f"record {rec['key_hash']}: atomic numbers outside 1..118")
    key = rec["key_hash"].encode()
    smiles = (rec.get("smiles_hash") or "").encode()
    head = _HEAD.pack(
        MAGIC,
        z.shape[0],
        rec["energy"],
        *np.asarray(rec["dipole"], np.float32),
        len(key),
        len(smiles),
    )
    return b"".join(
        (
            head,
            z.astype(np.uint8).tobytes(),
            np.ascontiguousarray(rec["positions"], np.float32).tobytes(),
            np.ascontiguousarray(rec["forces"], np.float32).tobytes(),
            key,
            smiles,
        )
    )


def decode_record(buf: bytes, where: str = "record") -> dict:
    """Decode bytes written by :func:`encode_record`; ``where`` names the source in errors."""
    if len(buf) < _HEAD.size or buf[:4] != MAGIC:
        raise DataFormatError(f"{where}: not a mace4ir record (bad magic or too short)")
    magic, n, energy, dx, dy, dz, nkey, nsmi = _HEAD.unpack_from(buf)
    expected = _HEAD.size + n + 24 * n + nkey + nsmi
    if len(buf) != expected:
        raise DataFormatError(
            f"{where}: record length {len(buf)} != expected {expected} for {n} atoms"
        )
    off = _HEAD.size
    z = np.frombuffer(buf, np.uint8, n, off).astype(np.int64)
    off += n
    pos = np.frombuffer(buf, np.float32, 3 * n, off).reshape(n, 3)
    off += 12 * n
    forces = np.frombuffer(buf, np.float32, 3 * n, off).reshape(n, 3)
    off += 12 * n
    key = buf[off : off + nkey].decode()
    smiles = buf[off + nkey : off + nkey + nsmi].decode() or None
    return {
        "atomic_numbers": z,
        "positions": pos,
        "energy": energy,
        "forces": forces,
        "dipole": np.array([dx, dy, dz], dtype=np.float32),
        "key_hash": key,
        "smiles_hash": smiles,
    }


def record_to_atoms(rec: dict):
    """An ``ase.Atoms`` with energy/dipole/key_hash in ``info`` and forces in ``arrays``."""
    from ase import Atoms

    atoms = Atoms(numbers=rec["atomic_numbers"], positions=rec["positions"].astype(np.float64))
    atoms.info["energy"] = rec["energy"]
    atoms.info["dipole"] = rec["dipole"].astype(np.float64)
    atoms.info["key_hash"] = rec["key_hash"]
    if rec.get("smiles_hash"):
        atoms.info["smiles_hash"] = rec["smiles_hash"]
    atoms.arrays["forces"] = rec["forces"].astype(np.float64)
    return atoms


def records_equal(a: dict, b: dict) -> bool:
    """Exact equality of two records (arrays compared bitwise)."""
    return (
        a["key_hash"] == b["key_hash"]
        and a.get("smiles_hash") == b.get("smiles_hash")
        and a["energy"] == b["energy"]
        and all(
            np.array_equal(a[k], b[k]) for k in ("atomic_numbers", "positions", "forces", "dipole")
        )
    )
