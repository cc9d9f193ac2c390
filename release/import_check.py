"""Do models rebuilt from their spec give the numbers of the pickles they came from?

``mace4ir release import`` writes a model only after this check: the pickled and the rebuilt
pair are evaluated by the IR engine (mace-torch's own modules, ``fold=False``) on probe
structures covering every element of each model: a dimer per element and one random walk
through all elements. They need not be molecules, only the same input to both models;
models rebuilt from the same weights run the same code, so the tolerance only allows for
rounding.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

from mace4ir.errors import Mace4irError

RTOL = {"float32": 1e-6, "float64": 1e-12}  # of the largest magnitude of each quantity
BOND = 1.3  # Å between neighbouring probe atoms: inside every cutoff


def probes(atomic_numbers: list[int], seed: int = 0) -> list[Atoms]:
    """A dimer of each element (random orientation), then every element on a random walk;
    deterministic."""
    rng = np.random.default_rng(seed)
    dimers = [
        Atoms([z, z], positions=np.vstack([[0, 0, 0], _steps(rng, 1)])) for z in atomic_numbers
    ]
    walk = Atoms(list(atomic_numbers), positions=np.cumsum(_steps(rng, len(atomic_numbers)), 0))
    return [*dimers, walk]


def compare(original, rebuilt) -> dict[str, float]:
    """Max |difference| of energy (eV), forces (eV/Å) and dipole (e·Å) between two
    (EF handle, D handle) pairs; raises, naming the quantity, beyond rounding."""
    from mace4ir.evaluation.engine.ir_engine import IREngine

    a, b = (IREngine(ef, d, fold=False) for ef, d in (original, rebuilt))
    ef_probes, d_probes = probes(original[0].atomic_numbers), probes(original[1].atomic_numbers)
    values = [(_energy_forces(e, ef_probes), _dipoles(e, d_probes)) for e in (a, b)]
    (e1, f1), mu1 = values[0]
    (e2, f2), mu2 = values[1]
    diffs = {
        "energy_eV": _check("energy", e1, e2, original[0]),
        "forces_eV_A": _check("forces", f1, f2, original[0]),
        "dipole_eA": _check("dipole", mu1, mu2, original[1]),
    }
    return {**diffs, "n_probes": len(ef_probes) + len(d_probes)}


def _energy_forces(engine, structures) -> tuple[np.ndarray, np.ndarray]:
    graph, pos = engine.graph(structures, static=True), engine.positions(structures)
    energy, forces = engine.energy_forces(graph, pos)
    return energy.cpu().numpy(), forces.cpu().numpy()


def _dipoles(engine, structures) -> np.ndarray:
    graph, pos = engine.graph(structures, static=True), engine.positions(structures)
    return engine.dipoles_detached(graph, pos).cpu().numpy()


def _check(what: str, mine: np.ndarray, theirs: np.ndarray, handle) -> float:
    diff = float(np.abs(mine - theirs).max())
    scale = max(float(np.abs(theirs).max()), 1e-12)
    precision = str(handle.dtype).removeprefix("torch.")
    if not diff <= RTOL[precision] * scale:
        raise Mace4irError(
            f"{handle.source}: the model rebuilt from its spec gives other {what} than the "
            f"pickle (max difference {diff:.3g}, largest value {scale:.3g}); not imported"
        )
    return diff


def _steps(rng, n: int) -> np.ndarray:
    directions = rng.normal(size=(n, 3))
    return BOND * directions / np.linalg.norm(directions, axis=1, keepdims=True)
