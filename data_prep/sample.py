"""A QCML-format sample with real GFN2-xTB labels (tblite), written as a TFDS directory.

The real QCML cannot be downloaded here, so the project makes its own data in the
same format: same TFDS layout, config and field names, atomic units and float32
protobuf floats. Conformers are sampled around a few dozen small molecules at
temperatures between 0 and 1000 K, as QCML did; each gets a GFN2-xTB single point
(energy, forces, dipole). A small share of records is charged, triplet or flagged
``is_outlier`` so that the filter has something to drop.

Level of theory: GFN2-xTB (tblite), *not* PBE0, although the fields keep QCML's
``pbe0_*`` names so that the reader sees the real format. ``pbe0_formation_energy``
is the total energy minus GFN2-xTB energies of the isolated atoms (recorded in
``metadata.json``).

Conformer sampling: isotropic, mass-weighted Gaussian displacements of the
GFN2-xTB-relaxed geometry, variance ``kT / (m ω²)`` of an Einstein oscillator with
ω = 1500 cm⁻¹ (≈0.1 Å for H at 1000 K), then a random rotation.
"""

from __future__ import annotations

import hashlib
import logging
import math
import sys
from concurrent.futures import ProcessPoolExecutor
from functools import cache
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.data import atomic_masses

from mace4ir.data_prep.qcml import layout as fmt
from mace4ir.elements import ATOM_UNPAIRED
from mace4ir.errors import Mace4irError
from mace4ir.owned_folder import OwnedFolder, claim
from mace4ir.smiles import embed_smiles
from mace4ir.workers import exit_with_parent

log = logging.getLogger(__name__)

LEVEL_OF_THEORY = "GFN2-xTB (tblite)"
XTB_ACCURACY = 1e-3  # tblite SCF accuracy; the default 1.0 is too loose for forces
EINSTEIN_CM1 = 1500.0
T_MAX = 1000.0  # K, the range QCML sampled
OUTLIER_T = 6000.0  # K: strongly distorted geometries, flagged is_outlier
FRACTIONS = {"charged": 0.03, "triplet": 0.03, "outlier": 0.02}  # the rest are neutral singlets

# name -> SMILES. 16 elements: H Li B C N O F Na Mg Al Si P S Cl Br I.
# Molecules NOT listed here (e.g. methylsilane, fluoroethene, dimethyl sulfoxide,
# iodoethane) are held out, for IR tests on unseen molecules.
SAMPLE_MOLECULES = {
    "water": "O",
    "methane": "C",
    "ammonia": "N",
    "methanol": "CO",
    "ethanol": "CCO",
    "acetone": "CC(C)=O",
    "acetonitrile": "CC#N",
    "formamide": "NC=O",
    "acetic acid": "CC(=O)O",
    "ethylene": "C=C",
    "benzene": "c1ccccc1",
    "pyridine": "c1ccncc1",
    "fluoromethane": "CF",
    "1,1-difluoroethane": "CC(F)F",
    "chloromethane": "CCl",
    "chloroform": "ClC(Cl)Cl",
    "bromomethane": "CBr",
    "bromoethane": "CCBr",
    "iodomethane": "CI",
    "silane": "[SiH4]",
    "tetramethylsilane": "C[Si](C)(C)C",
    "trimethylsilanol": "C[Si](C)(C)O",
    "phosphine": "P",
    "trimethylphosphine": "CP(C)C",
    "trimethyl phosphate": "COP(=O)(OC)OC",
    "methanethiol": "CS",
    "dimethyl sulfide": "CSC",
    "thiophene": "c1ccsc1",
    "trimethylborane": "CB(C)C",
    "boric acid": "OB(O)O",
    "methyllithium": "C[Li]",
    "lithium fluoride": "[Li]F",
    "sodium chloride": "[Na]Cl",
    "sodium methoxide": "CO[Na]",
    "dimethylmagnesium": "C[Mg]C",
    "magnesium chloride": "Cl[Mg]Cl",
    "trimethylaluminium": "C[Al](C)C",
    "aluminium chloride": "Cl[Al](Cl)Cl",
}


def _require(module: str, extra: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise Mace4irError(
            f"the sample needs {module.split('.')[0]}: pip install 'mace4ir[{extra}]'"
        ) from None


def _one_thread():
    """One OpenMP/BLAS thread for every xTB call: tblite's threaded reductions differ run to run
    in the last bits and a relaxed reference geometry amplifies that; records must not depend on
    the machine or the worker count (parallelism comes from worker processes)."""
    return _require("threadpoolctl", "xtb").threadpool_limits(limits=1)


def xtb_singlepoint(numbers, positions_bohr, charge: int = 0, uhf: int = 0) -> dict:
    """GFN2-xTB energy (Ha), gradient (Ha/Bohr) and dipole (e·Bohr), all atomic units."""
    Calculator = _require("tblite.interface", "xtb").Calculator

    calc = Calculator(
        "GFN2-xTB", np.asarray(numbers), np.asarray(positions_bohr, float), charge=charge, uhf=uhf
    )
    calc.set("verbosity", 0)
    calc.set("accuracy", XTB_ACCURACY)
    with _one_thread():
        res = calc.singlepoint()
    return {
        "energy": float(res.get("energy")),
        "gradient": res.get("gradient"),
        "dipole": res.get("dipole"),
    }


@cache
def atom_reference_energy(z: int) -> float:
    """GFN2-xTB energy (Ha) of the isolated neutral atom in its ground-state spin."""
    if z not in ATOM_UNPAIRED:
        raise Mace4irError(f"no atom reference spin for element Z={z}")
    return xtb_singlepoint([z], np.zeros((1, 3)), uhf=ATOM_UNPAIRED[z])["energy"]


@cache
def reference_geometry(smiles: str) -> Atoms:
    """RDKit geometry relaxed with GFN2-xTB (loose, 0.05 eV/Å: a sampling centre, not a minimum)."""
    from ase.optimize import BFGS

    TBLite = _require("tblite.ase", "xtb").TBLite
    atoms = embed_smiles(smiles)
    atoms.calc = TBLite(method="GFN2-xTB", accuracy=XTB_ACCURACY, verbosity=0)
    with _one_thread():
        BFGS(atoms, logfile=None).run(fmax=0.05, steps=200)
    atoms.calc = None
    return atoms


def thermal_displacement(atoms: Atoms, temperature: float, rng: np.random.Generator) -> np.ndarray:
    """Positions (Å) displaced as independent Einstein oscillators at ``temperature`` K, randomly
    rotated."""
    omega = 2 * math.pi * units._c * 100 * EINSTEIN_CM1  # rad/s
    k_si = atomic_masses[atoms.numbers] * units._amu * omega**2  # N/m
    kt_si = units._k * temperature
    sigma = np.sqrt(kt_si / k_si) * 1e10  # Å
    pos = atoms.positions + rng.normal(size=(len(atoms), 3)) * sigma[:, None]
    pos -= pos.mean(axis=0)
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.diag(r))  # uniform random orthogonal matrix
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    return pos @ q.T


def record_kind(u: float) -> str:
    """Kind of record for a uniform random number: normal, charged, triplet or outlier."""
    edge = 0.0
    for kind, frac in FRACTIONS.items():
        edge += frac
        if u < edge:
            return kind
    return "normal"


def _hash(text: str, n: int = 16) -> str:
    return hashlib.blake2b(text.encode(), digest_size=n // 2).hexdigest()


def make_conformer(index: int, seed: int) -> dict:
    """One sample record (all QCML fields of the three bundled configs), deterministic in (index,
    seed)."""
    rng = np.random.default_rng([seed, index])
    names = list(SAMPLE_MOLECULES)
    name = names[int(rng.integers(len(names)))]
    smiles = SAMPLE_MOLECULES[name]
    kind = record_kind(float(rng.random()))
    temperature = OUTLIER_T if kind == "outlier" else float(rng.uniform(0.0, T_MAX))
    atoms = reference_geometry(smiles)
    pos_bohr = thermal_displacement(atoms, temperature, rng) / units.Bohr
    charge = int(rng.choice([-1, 1])) if kind == "charged" else 0
    uhf = 2 if kind == "triplet" else abs(charge)
    res = xtb_singlepoint(atoms.numbers, pos_bohr, charge=charge, uhf=uhf)
    e_atoms = sum(atom_reference_energy(int(z)) for z in atoms.numbers)
    key_hash = _hash(f"{seed}|{index}|{smiles}|{charge}|{uhf}")
    return {
        "key_hash": key_hash,
        "atomic_numbers": atoms.numbers.astype(np.int64),
        "positions": pos_bohr.astype(np.float32),
        "charge": charge,
        "multiplicity": uhf + 1,
        "is_outlier": np.bool_(kind == "outlier"),
        "pbe0_energy": np.float64(res["energy"]),
        "pbe0_formation_energy": np.float64(res["energy"] - e_atoms),
        "pbe0_forces": (-np.asarray(res["gradient"])).astype(np.float32),
        "pbe0_dipole": np.asarray(res["dipole"], np.float32),
        "pbe0_quadrupole": np.zeros((3, 3), np.float32),  # not computed; kept for the layout
        "smiles": smiles,
        "smiles_hash": _hash(smiles),
        "chemical_formula": atoms.get_chemical_formula(),
        "num_atoms": len(atoms),
        "num_heavy_atoms": int((atoms.numbers > 1).sum()),
        "conformation_seq": index,
        "conformation_parent_seq": names.index(name),
        "molecular_weight": np.float32(atoms.get_masses().sum()),
        "temperature": temperature,
    }


def _make_range(args) -> list[dict]:
    start, stop, seed = args
    return [make_conformer(i, seed) for i in range(start, stop)]


def compute_conformers(
    n_records: int, seed: int, workers: int = 1, progress: bool = False
) -> list[dict]:
    """All sample records in index order (identical for any worker count)."""
    from tqdm import tqdm

    chunk = 50
    ranges = [(a, min(a + chunk, n_records), seed) for a in range(0, n_records, chunk)]
    bar = tqdm(total=n_records, unit="conf", desc="GFN2-xTB", disable=not progress)
    out: list[dict] = []
    if workers <= 1:
        for r in ranges:
            out.extend(_make_range(r))
            bar.update(r[1] - r[0])
    else:
        ctx = get_context("fork" if "torch" not in sys.modules else "spawn")  # no fork after torch
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=exit_with_parent) as pool:
            for r, recs in zip(ranges, pool.map(_make_range, ranges)):
                out.extend(recs)
                bar.update(r[1] - r[0])
    bar.close()
    return out


def sample_metadata(n_records: int, seed: int, elements: list[int]) -> dict:
    return {
        "generator": "mace4ir.data_prep.sample",
        "level_of_theory": LEVEL_OF_THEORY,
        "note": "QCML-format sample: fields keep QCML's pbe0_* names but hold GFN2-xTB values",
        "xtb_accuracy": XTB_ACCURACY,
        "units": {
            "positions": "bohr",
            "energy": "hartree",
            "forces": "hartree/bohr",
            "dipole": "e*bohr",
        },
        "formation_energy": "total energy minus GFN2-xTB energies of the isolated atoms",
        "atom_reference_energies_hartree": {str(z): atom_reference_energy(z) for z in elements},
        "atom_reference_unpaired_electrons": {str(z): ATOM_UNPAIRED[z] for z in elements},
        "conformer_sampling": {
            "method": (
                "mass-weighted Gaussian (Einstein oscillator) displacements + random rotation"
            ),
            "einstein_frequency_cm1": EINSTEIN_CM1,
            "temperature_range_K": [0.0, T_MAX],
            "outlier_temperature_K": OUTLIER_T,
        },
        "record_fractions": FRACTIONS,
        "molecules": SAMPLE_MOLECULES,
        "n_records": n_records,
        "seed": seed,
    }


def _make_room(owned: OwnedFolder, n_shards: int) -> None:
    """Before the (slow) calculations: refuse to touch files the sample did not write, and
    remove shards of an earlier sample with another sharding."""
    for config in fmt.BUNDLED_CONFIGS:
        folder = fmt.config_dir(owned.path, config)
        rel = folder.relative_to(owned.path).as_posix()
        owned.require_free(*(f"{rel}/{name}" for name in fmt.config_files(n_shards)))
        for old in fmt.stale_shards(folder, n_shards) if folder.is_dir() else []:
            owned.remove(old.relative_to(owned.path))


def write_sample(
    out: str | Path,
    n_records: int = 3000,
    seed: int = 0,
    records_per_shard: int = 100,
    workers: int = 1,
    progress: bool = False,
    force: bool = False,
) -> Path:
    """Write a QCML-format TFDS data_dir under ``out`` and return ``out``.

    Configs ``dft_force_field``, ``dft_multipole_moments`` and ``dft_metadata``, each
    ``ceil(n_records / records_per_shard)`` shards, aligned record by record. ``out`` must
    be new, empty or an earlier sample (``force``: any folder, whose files are kept).
    """
    if n_records < 1:
        raise Mace4irError(f"n_records must be positive, got {n_records}")
    out = Path(out)
    _make_room(claim(out, "sample", force), -(-n_records // records_per_shard))
    rows = compute_conformers(n_records, seed, workers, progress)
    shards = [rows[a : a + records_per_shard] for a in range(0, n_records, records_per_shard)]
    elements = sorted({int(z) for r in rows for z in r["atomic_numbers"]})
    meta = sample_metadata(n_records, seed, elements)
    description = (
        f"QCML-format sample written by mace4ir: {n_records} conformers of {len(SAMPLE_MOLECULES)} "
        f"molecules, level of theory {LEVEL_OF_THEORY} (not PBE0), atomic units."
    )
    for config, features in fmt.BUNDLED_CONFIGS.items():
        fmt.write_config(out, config, features, shards, description, metadata=meta)
    log.info("wrote %d GFN2-xTB records (%d shards) to %s", n_records, len(shards), out)
    return out
