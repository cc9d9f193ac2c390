"""The oracle's own view of each molecule: optimised geometry and harmonic spectrum.

PALIRS samples its first structures around the reference method's minimum, along the
reference normal modes; the same harmonic spectrum is the yardstick of the history's
frequency error. Computed once per molecule and kept in ``DIR/reference/`` (a rerun
reads it back), with the number of oracle calls it took.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
from ase import Atoms

from mace4ir.active_learning.oracle import OracleSpec, calculator
from mace4ir.atomic_write import write_json_atomic
from mace4ir.evaluation.harmonic.calculation import HarmonicResult, harmonic_ir

log = logging.getLogger(__name__)


def counted(calc):
    """``calc`` counting its single points in ``oracle_calls`` (each is an oracle call)."""
    inner = calc.calculate

    def calculate(*args, **kwargs):
        calc.oracle_calls += 1
        return inner(*args, **kwargs)

    calc.oracle_calls, calc.calculate = 0, calculate
    return calc


def reference(
    spec: OracleSpec, atoms: Atoms, folder: Path, name: str
) -> tuple[HarmonicResult, int]:
    """(the oracle's harmonic result at its minimum, oracle calls it took), cached in ``folder``."""
    path = Path(folder) / f"{name}.json"
    if path.is_file():
        return _load(path)
    calc = counted(calculator(spec))
    result = harmonic_ir(atoms, calc, optimizer="BFGS", method="fd")
    if len(result.imaginary_cm1):
        log.warning("%s: the oracle's minimum has imaginary modes %s", name, result.imaginary_cm1)
    _save(path, result, calc.oracle_calls)
    return result, calc.oracle_calls


def _save(path: Path, result: HarmonicResult, calls: int) -> None:
    data = result.to_dict()
    data.update(numbers=result.atoms.numbers.tolist(), oracle_calls=calls)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, data, indent=None)


def _load(path: Path) -> tuple[HarmonicResult, int]:
    d = json.loads(path.read_text())
    atoms = Atoms(numbers=d["numbers"], positions=d["positions_A"])
    arrays = {
        k: np.asarray(d[k])
        for k in ("frequencies_cm1", "intensities_km_mol", "intensities_D2A2amu")
    }
    result = HarmonicResult(
        modes=np.asarray(d["modes"]),
        reduced_masses=np.asarray(d["reduced_masses_amu"]),
        imaginary_cm1=np.asarray(d["imaginary_cm1"]),
        atoms=atoms,
        converged=d["converged"],
        linear=d["linear"],
        method=d["method"],
        **arrays,
    )
    return result, int(d["oracle_calls"])
