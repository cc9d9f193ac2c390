"""Filter QCML records (neutral singlets, no outliers, valid) and convert their units.

Every record gets exactly one outcome: kept, or rejected for the first reason that
applies, in this order: ``charged`` (charge != 0), ``not_singlet`` (multiplicity != 1),
``outlier`` (``is_outlier``), ``invalid`` (NaN/inf, inconsistent shapes, unknown
element, two atoms closer than ``min_distance``, a value that is not finite or beyond
``records.LIMITS`` after unit conversion, e.g. a float32 overflow). ``corrupt``
(unreadable TFRecord) is counted by the reader. Nothing is dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mace4ir import units as U
from mace4ir.data_prep.prepared.records import make_record, value_problem
from mace4ir.errors import DataFormatError
from mace4ir.geometry import min_distance as _min_distance

REASONS = ("charged", "not_singlet", "outlier", "invalid", "corrupt")
N_EXAMPLES = 5  # example key_hashes kept per rejection reason

# Sanity check of the length unit: the median distance of H atoms to their nearest
# neighbour is ~1.0-1.1 Å in organic molecules (C-H 1.09, N-H 1.01, O-H 0.96).
H_BOND_RANGE = (0.8, 1.5)  # Å
H_BOND_MIN_ATOMS = 20  # H atoms needed before the check is trusted
# Same idea for formation energies: |E_f| per atom is a few eV (QCML PBE0 ~3 eV/atom);
# Hartree read as eV gives ~0.1, eV read as Hartree ~80.
FORMATION_PER_ATOM_RANGE = (0.3, 25.0)  # eV, median of |E| / N


@dataclass(frozen=True)
class SourceUnits:
    positions: str = "bohr"
    energy: str = "hartree"
    forces: str = "hartree/bohr"
    dipole: str = "e*bohr"

    def factors(self) -> tuple[float, float, float, float]:
        return (
            U.factor(U.LENGTH, self.positions, "length"),
            U.factor(U.ENERGY, self.energy, "energy"),
            U.factor(U.FORCE, self.forces, "force"),
            U.factor(U.DIPOLE, self.dipole, "dipole"),
        )


@dataclass
class FilterCounts:
    """Rejection counts by reason, a few example key_hashes (with what was wrong, for
    invalid and corrupt records), and the kept count."""

    kept: int = 0
    rejected: dict = field(default_factory=lambda: {r: 0 for r in REASONS})
    examples: dict = field(default_factory=lambda: {r: [] for r in REASONS})
    details: list = field(default_factory=list)  # "key_hash: what is wrong" for invalid/corrupt

    def reject(self, reason: str, key: str, detail: str | None = None) -> None:
        self.rejected[reason] += 1
        if len(self.examples[reason]) < N_EXAMPLES:
            self.examples[reason].append(key)
            if detail:
                self.details.append(f"{key}: {detail}")

    def merge(self, other: FilterCounts) -> None:
        self.kept += other.kept
        for r in REASONS:
            self.rejected[r] += other.rejected[r]
            room = N_EXAMPLES - len(self.examples[r])
            self.examples[r].extend(other.examples[r][:room])
        self.details.extend(other.details[: 2 * N_EXAMPLES - len(self.details)])

    def to_dict(self) -> dict:
        return {
            "kept": self.kept,
            "rejected": dict(self.rejected),
            "examples": {k: list(v) for k, v in self.examples.items()},
            "details": list(self.details),
        }

    @classmethod
    def from_dict(cls, d: dict) -> FilterCounts:
        return cls(
            d["kept"],
            dict(d["rejected"]),
            {k: list(v) for k, v in d["examples"].items()},
            list(d["details"]),
        )


def _scalar(values, default=None):
    if values is None or len(values) == 0:
        return default
    return values[0]


def reject_reason(ex: dict) -> str | None:
    """The QCML-label reason to drop a record (charge, spin, outlier flag), or None."""
    if int(_scalar(ex.get("charge"), 0)) != 0:
        return "charged"
    if int(_scalar(ex.get("multiplicity"), 1)) != 1:
        return "not_singlet"
    if bool(_scalar(ex.get("is_outlier"), 0)):
        return "outlier"
    return None


def convert(ex: dict, energy_field: str, factors, min_distance: float) -> dict | str:
    """A record in Å/eV/eV/Å/e·Å, or a string saying why the record is invalid."""
    length, energy_f, force_f, dipole_f = factors
    for name in ("atomic_numbers", "positions", "pbe0_forces", "pbe0_dipole", energy_field):
        if not isinstance(ex.get(name), np.ndarray):
            return f"field {name!r} is empty or not numeric"
    z = ex["atomic_numbers"]
    n = z.shape[0]
    pos, forces, dipole, energy = (
        ex["positions"],
        ex["pbe0_forces"],
        ex["pbe0_dipole"],
        ex[energy_field],
    )
    if (
        n == 0
        or pos.shape[0] != 3 * n
        or forces.shape[0] != 3 * n
        or dipole.shape[0] != 3
        or energy.shape[0] != 1
    ):
        return (
            f"shape mismatch ({n} atoms, {pos.shape[0]} coords, {forces.shape[0]} forces, "
            f"{dipole.shape[0]} dipole)"
        )
    if z.min() < 1 or z.max() > 118:
        return f"unknown element in {sorted(set(z.tolist()))}"
    if not (
        np.isfinite(pos).all()
        and np.isfinite(forces).all()
        and np.isfinite(dipole).all()
        and np.isfinite(energy).all()
    ):
        return "NaN or inf value"
    pos = pos.reshape(n, 3) * np.float32(length)
    dmin = _min_distance(pos)
    if dmin < min_distance:
        return f"atoms {dmin:.3f} Å apart (< {min_distance} Å)"
    smiles = ex.get("smiles_hash")
    with np.errstate(over="ignore"):  # an overflow becomes inf, reported just below
        rec = make_record(
            z,
            pos,
            float(energy[0]) * energy_f,
            forces.reshape(n, 3) * np.float32(force_f),
            dipole * np.float32(dipole_f),
            ex["key_hash"],
            smiles[0].decode() if smiles else None,
        )
    problem = value_problem(rec)
    return f"{problem} after unit conversion" if problem else rec


def h_bond_lengths(rec: dict) -> np.ndarray:
    """Distance (Å) of every H atom to its nearest neighbour."""
    z, pos = rec["atomic_numbers"], rec["positions"]
    h = np.flatnonzero(z == 1)
    if len(h) == 0 or len(z) < 2:
        return np.empty(0)
    d = np.linalg.norm(pos[h, None, :] - pos[None, :, :], axis=-1)
    d[np.arange(len(h)), h] = np.inf
    return d.min(axis=1)


class UnitCheck:
    """Checks the first kept records of a shard for a wrong source unit, loudly.

    Lengths: the median H–X distance must be a bond length in Å. Energies (only
    for formation-energy fields): the median |E|/N must be a few eV.
    """

    def __init__(self, where: str, unit_name: str, energy_field: str = "", energy_unit: str = ""):
        self.where, self.unit_name = where, unit_name
        self.energy_field, self.energy_unit = energy_field, energy_unit
        self.lengths: list[np.ndarray] = []
        self.energies: list[float] = []
        self.n = 0
        self.done = False

    def add(self, rec: dict) -> None:
        if self.done:
            return
        d = h_bond_lengths(rec)
        self.lengths.append(d)
        self.energies.append(abs(rec["energy"]) / len(rec["atomic_numbers"]))
        self.n += len(d)
        if self.n >= 200 and len(self.energies) >= 20:
            self.check()

    def check_energy(self) -> None:
        if "formation" not in self.energy_field or len(self.energies) < 20:
            return
        median = float(np.median(self.energies))
        lo, hi = FORMATION_PER_ATOM_RANGE
        if not lo <= median <= hi:
            raise DataFormatError(
                f"{self.where}: median |{self.energy_field}| per atom is {median:.4g} eV after "
                f"converting from "
                f"{self.energy_unit!r} (expected {lo}–{hi} eV); the source energy unit is probably "
                f"wrong "
                f"(set units.energy, e.g. 'hartree' or 'ev')"
            )

    def check(self) -> None:
        """Raise DataFormatError if the median H–X distance is not a bond length in Å."""
        if self.done:
            return
        self.done = True
        self.check_energy()
        if self.n < H_BOND_MIN_ATOMS:
            return
        median = float(np.median(np.concatenate(self.lengths)))
        lo, hi = H_BOND_RANGE
        if not lo <= median <= hi:
            raise DataFormatError(
                f"{self.where}: median H–X bond length is {median:.3f} Å after converting "
                f"positions from "
                f"{self.unit_name!r} (expected {lo}–{hi} Å, ~1.09 Å for C–H); the source length "
                f"unit is "
                f"probably wrong (set units.positions, e.g. 'bohr' or 'angstrom')"
            )
