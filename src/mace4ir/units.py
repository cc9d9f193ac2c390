"""Unit conversions. Inside mace4ir everything is Å, eV, eV/Å, e·Å, amu, fs, cm^-1.

Convert at the edges only (reading QCML, writing reports). Constants come from
ASE's CODATA 2014 set so that they agree with ASE calculators.
"""

from ase import units as _u

from mace4ir.errors import ConfigError

BOHR_TO_ANGSTROM = _u.Bohr  # 0.529177...
HARTREE_TO_EV = _u.Hartree  # 27.2114...
HARTREE_PER_BOHR_TO_EV_PER_ANGSTROM = _u.Hartree / _u.Bohr
E_BOHR_TO_E_ANGSTROM = _u.Bohr
DEBYE_TO_E_ANGSTROM = _u.Debye  # ASE's Debye is in e·Å
# 1 (D/Å)^2 amu^-1 in km/mol (standard IR intensity conversion)
DA2_AMU_TO_KM_MOL = 42.2561

# Conversion factors from a named source unit to the internal unit.
LENGTH = {"bohr": BOHR_TO_ANGSTROM, "angstrom": 1.0}
ENERGY = {"hartree": HARTREE_TO_EV, "ev": 1.0, "kcal/mol": _u.kcal / _u.mol}
FORCE = {
    "hartree/bohr": HARTREE_PER_BOHR_TO_EV_PER_ANGSTROM,
    "ev/angstrom": 1.0,
}
DIPOLE = {"e*bohr": E_BOHR_TO_E_ANGSTROM, "e*angstrom": 1.0, "debye": DEBYE_TO_E_ANGSTROM}


def factor(table: dict, name: str, what: str) -> float:
    """Conversion factor for a source unit ``name`` of kind ``what``; clear error if unknown."""
    key = name.lower().replace(" ", "")
    if key not in table:
        raise ConfigError(f"unknown {what} unit {name!r}; known: {', '.join(table)}")
    return table[key]
