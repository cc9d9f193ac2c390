"""Element tables: a model's list of atomic numbers and the one-hot columns it implies."""

from __future__ import annotations

import numpy as np
from ase.data import chemical_symbols

from mace4ir.errors import Mace4irError

MAX_Z = 119  # one past the heaviest element ASE names

# Unpaired electrons of the free neutral atoms' ground states (Hund's rules), for isolated-atom
# reference energies (the sample's formation energies, active-learning oracles). Main groups only.
ATOM_UNPAIRED = {
    **{z: 0 for z in (2, 4, 10, 12, 18, 20, 30, 36, 38, 48, 54, 56)},
    **{z: 1 for z in (1, 3, 5, 9, 11, 13, 17, 19, 31, 35, 37, 49, 53, 55)},
    **{z: 2 for z in (6, 8, 14, 16, 32, 34, 50, 52)},
    **{z: 3 for z in (7, 15, 33, 51)},
}


def element_columns(atomic_numbers) -> np.ndarray:
    """Table Z -> one-hot column of an element table (``-1`` for elements not in it)."""
    table = np.full(MAX_Z, -1, dtype=np.int64)
    table[list(atomic_numbers)] = np.arange(len(atomic_numbers))
    return table


def check_elements(known_numbers, atomic_numbers, where: str) -> None:
    """Clear error when ``atomic_numbers`` holds elements outside the table ``known_numbers``."""
    known = [int(z) for z in known_numbers]
    unknown = sorted(set(int(z) for z in np.unique(atomic_numbers)) - set(known))
    if unknown:
        names = ", ".join(f"{chemical_symbols[z]} (Z={z})" for z in unknown)
        raise Mace4irError(f"{where}: element(s) {names} not in the model's element table {known}")
