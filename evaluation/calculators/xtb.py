"""GFN2-xTB reference calculator (tblite) with an SCF tight enough for derivatives.

tblite's default SCF accuracy (1.0) is too loose for Hessians and dipole
derivatives (see DESIGN.md: up to 0.09 e error on CH2Cl2); 1e-4 gives ~1e-5.
Dipoles come out in e·Å (ASE convention; tblite's docs call them Debye).
"""

from __future__ import annotations

from functools import partial

from mace4ir.errors import Mace4irError

DEFAULT_ACCURACY = 1e-4


def xtb_calculator(
    accuracy: float = DEFAULT_ACCURACY,
    method: str = "GFN2-xTB",
    charge: int = 0,
    multiplicity: int = 1,
    **kwargs,
):
    """A tblite ASE calculator (energy eV, forces eV/Å, dipole e·Å)."""
    try:
        from tblite.ase import TBLite
    except ImportError as exc:  # optional dependency (pip install mace4ir[xtb])
        raise Mace4irError(
            f"GFN2-xTB needs the tblite package (pip install 'mace4ir[xtb]'): {exc}"
        ) from None
    params = dict(
        method=method, accuracy=accuracy, charge=charge, multiplicity=multiplicity, verbosity=0
    )
    params.update(kwargs)
    return TBLite(**params)


def xtb_factory(accuracy: float = DEFAULT_ACCURACY, **params):
    """A callable making a new GFN2-xTB calculator per call: MD replicas each need their own
    (tblite keeps SCF state per calculator). ``params`` as for :func:`xtb_calculator`."""
    return partial(xtb_calculator, accuracy=accuracy, **params)


def is_xtb(calculator) -> bool:
    return type(calculator).__name__ == "TBLite"


def for_molecule(calculator, atoms):
    """GFN2-xTB takes charge and spin per molecule (``atoms.info``, as ``load_molecule`` sets
    them); models refuse anything but neutral singlets, so other calculators are left as they
    are."""
    if is_xtb(calculator):
        calculator.set(
            charge=int(atoms.info.get("charge", 0)),
            multiplicity=int(atoms.info.get("multiplicity", 1)),
        )
    return calculator
