"""Checks that a molecule can be given to a neutral-singlet model, with clear errors."""

from __future__ import annotations

import numpy as np
from ase.data import chemical_symbols
from mace4ir.data_prep.errors import Mace4irError
from mace4ir.training.models import check_elements
from scipy.spatial.distance import pdist, squareform

MIN_DISTANCE = 0.5  # Å; closer atoms are overlapping (shortest real bond, H2, is 0.74 Å)
_MULTIPLICITY_KEYS = ("multiplicity", "spin_multiplicity", "mult")


def molecule_name(atoms, index: int | None = None) -> str:
    name = atoms.info.get("name") or atoms.get_chemical_formula()
    return f"molecule {name}" if index is None else f"molecule #{index} ({name})"


def check_charge_and_spin(atoms, where: str, charge: int = 0, multiplicity: int = 1) -> None:
    """Refuse charged or open-shell requests: the models are trained on neutral singlets only."""
    charge = int(atoms.info.get("charge", charge))
    mult = next((int(atoms.info[k]) for k in _MULTIPLICITY_KEYS if k in atoms.info), multiplicity)
    if charge != 0:
        raise Mace4irError(f"{where}: total charge {charge} requested, but the model describes neutral molecules only")
    if mult != 1:
        raise Mace4irError(f"{where}: spin multiplicity {mult} requested, but the model describes closed-shell singlets only")
    if int(np.sum(atoms.numbers)) % 2:
        raise Mace4irError(
            f"{where}: odd number of electrons ({int(np.sum(atoms.numbers))}) in a neutral molecule: "
            "an open-shell radical, which the neutral-singlet model cannot describe"
        )


def check_geometry(atoms, where: str, min_distance: float = MIN_DISTANCE) -> None:
    pos = atoms.get_positions()
    if len(atoms) == 0:
        raise Mace4irError(f"{where}: no atoms")
    if not np.all(np.isfinite(pos)):
        raise Mace4irError(f"{where}: positions contain NaN or infinity")
    if atoms.pbc.any():
        raise Mace4irError(f"{where}: periodic boundary conditions set; the IR engine handles isolated molecules only")
    if len(atoms) < 2:
        return
    dist = squareform(pdist(pos))
    np.fill_diagonal(dist, np.inf)
    i, j = np.unravel_index(np.argmin(dist), dist.shape)
    if dist[i, j] < min_distance:
        s = atoms.get_chemical_symbols()
        raise Mace4irError(
            f"{where}: atoms {i} ({s[i]}) and {j} ({s[j]}) overlap: {dist[i, j]:.3f} Å apart "
            f"(minimum {min_distance} Å); check the structure's units (Bohr vs Å?)"
        )


def check_molecule(atoms, known_numbers, where: str, charge: int = 0, multiplicity: int = 1) -> None:
    """All checks: elements known to the model, geometry, neutral singlet."""
    check_geometry(atoms, where)
    check_elements({"atomic_numbers": list(known_numbers)}, atoms.numbers, where)
    check_charge_and_spin(atoms, where, charge, multiplicity)


def element_names(numbers) -> str:
    return ", ".join(chemical_symbols[int(z)] for z in numbers)
