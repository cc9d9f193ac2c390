"""Geometry optimisation seeded with the exact autograd Hessian of our EF model.

ASE's BFGS starts from H = 70·I and needs ~100-200 force calls to reach 1 meV/Å from
an MMFF geometry, most of them spent learning the soft modes. Starting it from the exact
Hessian instead makes the very first steps Newton steps: convergence in a handful of
force calls. The convergence test is ASE's own (max atomic force ≤ fmax).
"""

from __future__ import annotations

import logging

import numpy as np
from ase.optimize import BFGS

from mace4ir.evaluation.engine.rigid_body import rigid_body_basis
from mace4ir.evaluation.harmonic.progress import attach_progress

log = logging.getLogger(__name__)

RIGID_CURVATURE = 70.0  # eV/Å², ASE's BFGS default: rigid-body directions keep its behaviour
MIN_CURVATURE = (
    1e-2  # eV/Å²; |eigenvalues| below it (near-flat or noise) are lifted to avoid huge steps
)
SEEDED_STEPS = 100  # beyond this the seeded run is judged failed and plain BFGS takes over


def seed_hessian(hessian: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Positive-definite BFGS seed: exact curvature on internal coordinates, 70 eV/Å² on rigid
    motions.

    Away from a minimum the exact Hessian has negative or near-zero eigenvalues (rotations,
    soft torsions); BFGS would divide by them, so they are replaced by their magnitudes.
    """
    rigid = rigid_body_basis(positions, np.ones(len(positions)))  # unit masses: Cartesian space
    proj = np.eye(len(hessian)) - rigid @ rigid.T
    internal = proj @ (0.5 * (hessian + hessian.T)) @ proj
    omega, vectors = np.linalg.eigh(internal)
    omega = np.maximum(np.abs(omega), MIN_CURVATURE)
    seeded = (vectors * omega) @ vectors.T
    return proj @ seeded @ proj + RIGID_CURVATURE * rigid @ rigid.T


class SeededBFGS(BFGS):
    """ASE BFGS whose initial Hessian is given (eV/Å², (3n, 3n)) instead of alpha·I."""

    def __init__(self, atoms, hessian: np.ndarray, **kwargs):
        self._seed = np.array(hessian, dtype=np.float64)
        super().__init__(atoms, **kwargs)

    def initialize(self):
        super().initialize()
        self.H0 = self._seed.copy()


def optimize_with_hessian(atoms, calculator, fmax: float, steps: int):
    """(optimised copy, converged, n_steps, (H, ∂μ/∂x) still valid at the result or None).

    One exact Hessian at the start seeds BFGS; if the start is already converged that Hessian
    (and the dipole derivatives computed with it) is returned for reuse. Falls back to plain
    BFGS when the seeded run has not converged after SEEDED_STEPS steps.
    """
    work = atoms.copy()
    work.calc = calculator
    derivs = calculator.hessian_and_dipole_derivatives([work])[0]
    opt = SeededBFGS(work, seed_hessian(derivs[0], work.get_positions()), logfile=None)
    attach_progress(opt, work)
    converged = bool(opt.run(fmax=fmax, steps=min(steps, SEEDED_STEPS)))
    nsteps = int(opt.nsteps)
    if not converged and steps > nsteps:
        log.info(
            "%s: Hessian-seeded BFGS not converged in %d steps; continuing with BFGS",
            work.get_chemical_formula(),
            nsteps,
        )
        plain = BFGS(work, logfile=None)
        attach_progress(plain, work)
        converged = bool(plain.run(fmax=fmax, steps=steps - nsteps))
        nsteps += int(plain.nsteps)
    return work, converged, nsteps, (derivs if nsteps == 0 else None)
