"""PBE0 (the QCML level of theory, in a smaller basis) with PySCF, as an ASE calculator.

For small molecules: an active-learning oracle at DFT level, or a reference spectrum.
Closed-shell molecules use restricted Kohn-Sham; ``multiplicity`` > 1 (isolated atoms
for reference energies) unrestricted. Units out (ASE's): energy eV, forces eV/Å, dipole
e·Å. An SCF that does not converge raises :class:`SCFNotConverged` instead of returning
numbers from an unconverged density.
"""

from __future__ import annotations

from ase import units
from ase.calculators.calculator import Calculator, all_changes

from mace4ir.errors import Mace4irError

DEFAULT_BASIS = "def2-SVP"


class SCFNotConverged(Mace4irError):
    """The Kohn-Sham SCF did not converge for a geometry."""


class PySCFDFT(Calculator):
    implemented_properties = ["energy", "free_energy", "forces", "dipole"]
    default_parameters = {
        "xc": "PBE0",
        "basis": DEFAULT_BASIS,
        "charge": 0,
        "multiplicity": 1,
        "conv_tol": 1e-9,
        "max_cycle": 100,
        "grid_level": 3,
    }

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        mf = self._scf(self._molecule())
        energy = mf.kernel()
        if not mf.converged:
            raise SCFNotConverged(
                f"{self.atoms.get_chemical_formula()}: {self.parameters['xc']}/"
                f"{self.parameters['basis']} SCF not converged in "
                f"{self.parameters['max_cycle']} cycles"
            )
        self.results["energy"] = self.results["free_energy"] = float(energy) * units.Hartree
        self.results["dipole"] = mf.dip_moment(unit="AU", verbose=0) * units.Bohr
        if "forces" in properties:
            gradient = mf.nuc_grad_method().kernel()
            self.results["forces"] = -gradient * units.Hartree / units.Bohr

    def _molecule(self):
        try:
            from pyscf import gto
        except ImportError as exc:
            raise Mace4irError(f"PBE0 needs PySCF (pip install 'mace4ir[xtb]'): {exc}") from None
        p = self.parameters
        return gto.M(
            atom=[(int(z), tuple(r)) for z, r in zip(self.atoms.numbers, self.atoms.positions)],
            unit="Angstrom",
            basis=p["basis"],
            charge=int(p["charge"]),
            spin=int(p["multiplicity"]) - 1,
            verbose=0,
        )

    def _scf(self, mol):
        from pyscf import dft

        p = self.parameters
        mf = dft.RKS(mol) if int(p["multiplicity"]) == 1 else dft.UKS(mol)
        mf.xc, mf.conv_tol, mf.max_cycle = p["xc"], float(p["conv_tol"]), int(p["max_cycle"])
        mf.grids.level = int(p["grid_level"])
        return mf
