"""The reference method an active-learning run labels frames with.

Labels are in the training data's convention: formation energies (total energy minus
the oracle's own isolated-atom energies, as the built-in sample and QCML store them),
forces and dipoles. ``xtb`` is GFN2-xTB (tblite), with the very atom references the
sample was made with; ``pbe0`` is PBE0 with PySCF (the QCML functional; basis
configurable, default def2-SVP) for small molecules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import numpy as np
from ase import Atoms, units

from mace4ir.elements import ATOM_UNPAIRED
from mace4ir.errors import ConfigError, Mace4irError

ORACLES = ("xtb", "pbe0")


@dataclass(frozen=True)
class OracleSpec:
    """What labels: picklable, so that worker processes build their own oracle."""

    name: str = "xtb"
    options: tuple = field(default_factory=tuple)  # (key, value) pairs: accuracy, basis, ...

    def __post_init__(self):
        if self.name not in ORACLES:
            raise ConfigError(f"unknown oracle {self.name!r}; choose one of {', '.join(ORACLES)}")

    @property
    def kwargs(self) -> dict:
        return dict(self.options)

    def describe(self) -> str:
        if self.name == "xtb":
            return "GFN2-xTB (tblite)"
        return f"PBE0/{self.kwargs.get('basis', 'def2-SVP')} (PySCF)"


def calculator(spec: OracleSpec, charge: int = 0, multiplicity: int = 1):
    """An ASE calculator of the oracle (energies eV, forces eV/Å, dipoles e·Å)."""
    if spec.name == "xtb":
        from mace4ir.evaluation.calculators.xtb import xtb_calculator

        accuracy = float(spec.kwargs.get("accuracy", 1e-4))
        return xtb_calculator(accuracy=accuracy, charge=charge, multiplicity=multiplicity)
    from mace4ir.evaluation.calculators.pyscf_dft import PySCFDFT

    return PySCFDFT(charge=charge, multiplicity=multiplicity, **spec.kwargs)


@cache
def atom_energy(spec: OracleSpec, z: int) -> float:
    """Isolated neutral atom in its ground-state spin (eV)."""
    if z not in ATOM_UNPAIRED:
        raise Mace4irError(f"no isolated-atom spin known for element Z={z}; cannot form labels")
    if spec.name == "xtb":
        from mace4ir.data_prep.sample import atom_reference_energy  # the sample's own references

        return atom_reference_energy(z) * units.Hartree
    atom = Atoms(numbers=[z], positions=[[0.0, 0.0, 0.0]])
    atom.calc = calculator(spec, multiplicity=ATOM_UNPAIRED[z] + 1)
    return float(atom.get_potential_energy())


def label(spec: OracleSpec, numbers, positions, calc=None) -> dict:
    """``{"energy": formation energy eV, "forces": eV/Å, "dipole": e·Å}`` of one geometry."""
    atoms = Atoms(numbers=numbers, positions=positions)
    atoms.calc = calc or calculator(spec)
    energy = atoms.get_potential_energy()
    forces, dipole = atoms.get_forces(), atoms.get_dipole_moment()
    reference = sum(atom_energy(spec, int(z)) for z in atoms.numbers)
    out = {"energy": float(energy - reference), "forces": forces, "dipole": dipole}
    if not all(np.all(np.isfinite(v)) for v in out.values()):
        raise Mace4irError(f"{atoms.get_chemical_formula()}: the oracle returned non-finite labels")
    return out
