"""Turning user input into an ase.Atoms: a structure file (anything ase.io reads) or a SMILES
string.

SMILES go through RDKit: hydrogens added, 3-D embedding (ETKDG, fixed seed) and an
MMFF94 pre-optimisation. The molecule's charge and spin multiplicity are stored in
``atoms.info`` so that calculators can refuse what they cannot describe.
"""

from __future__ import annotations

from pathlib import Path

from mace4ir.errors import Mace4irError

EMBED_SEED = 42


def load_molecule(spec: str, name: str | None = None, index: int | str = 0):
    """ase.Atoms from a structure file path or a SMILES string (info: name, charge,
    multiplicity)."""
    path = Path(str(spec))
    if path.is_file():
        atoms = _read_file(path, index)
        atoms.info.setdefault("name", name or path.stem)
    elif _looks_like_path(str(spec)):
        raise Mace4irError(f"{spec}: structure file not found")
    else:
        atoms = from_smiles(str(spec), name)
    atoms.info.setdefault("charge", 0)
    atoms.info.setdefault("multiplicity", 1)
    return atoms


def _looks_like_path(spec: str) -> bool:
    return (
        "/" in spec
        and not any(c in spec for c in "=#()[]@")
        or Path(spec).suffix.lower()
        in (".xyz", ".extxyz", ".pdb", ".mol", ".sdf", ".traj", ".cif", ".json", ".in")
    )


def _read_file(path: Path, index):
    from ase.io import read

    try:
        atoms = read(str(path), index=index)
    except Exception as exc:  # noqa: BLE001 (ase raises many kinds for bad files)
        raise Mace4irError(f"{path}: cannot read a structure: {exc}") from None
    if len(atoms) == 0:
        raise Mace4irError(f"{path}: the structure has no atoms")
    atoms.pbc = False
    return atoms


def from_smiles(smiles: str, name: str | None = None, seed: int = EMBED_SEED):
    """3-D structure of a SMILES string (RDKit ETKDG embedding + MMFF94 optimisation)."""
    from mace4ir.smiles import embed_smiles

    atoms = embed_smiles(smiles, seed=seed)
    atoms.info["name"] = name or smiles
    return atoms
