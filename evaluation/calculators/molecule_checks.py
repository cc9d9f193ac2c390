"""Checks that a molecule can be given to a neutral-singlet model, with clear errors."""

from __future__ import annotations

import numpy as np

from mace4ir.elements import check_elements
from mace4ir.errors import Mace4irError
from mace4ir.geometry import check_geometry

_MULTIPLICITY_KEYS = ("multiplicity", "spin_multiplicity", "mult")


def molecule_name(atoms, index: int | None = None) -> str:
    name = atoms.info.get("name") or atoms.get_chemical_formula()
    return f"molecule {name}" if index is None else f"molecule #{index} ({name})"


def check_charge_and_spin(atoms, where: str, charge: int = 0, multiplicity: int = 1) -> None:
    """Refuse charged or open-shell requests: the models are trained on neutral singlets only."""
    charge = int(atoms.info.get("charge", charge))
    mult = next((int(atoms.info[k]) for k in _MULTIPLICITY_KEYS if k in atoms.info), multiplicity)
    if charge != 0:
        raise Mace4irError(
            f"{where}: total charge {charge} requested, but the model describes neutral molecules "
            f"only"
        )
    if mult != 1:
        raise Mace4irError(
            f"{where}: spin multiplicity {mult} requested, but the model describes closed-shell "
            f"singlets only"
        )
    if int(np.sum(atoms.numbers)) % 2:
        raise Mace4irError(
            f"{where}: odd number of electrons ({int(np.sum(atoms.numbers))}) in a neutral "
            f"molecule: "
            "an open-shell radical, which the neutral-singlet model cannot describe"
        )


def check_molecule(
    atoms, known_numbers, where: str, charge: int = 0, multiplicity: int = 1
) -> None:
    """All checks: elements known to the model, geometry, neutral singlet."""
    check_geometry(atoms, where)
    check_elements(known_numbers, atoms.numbers, where)
    check_charge_and_spin(atoms, where, charge, multiplicity)
