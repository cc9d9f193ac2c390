"""Normal-mode analysis: Eckart projection, frequencies, IR intensities, reduced masses.

Inputs are in ASE units: Hessian eV/Å², dipole derivatives ∂μ/∂x in e (e·Å per Å),
masses in amu. Outputs: frequencies in cm^-1 (imaginary modes as negative numbers),
intensities in (D/Å)²/amu and km/mol (1 (D/Å)²/amu = 42.2561 km/mol).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import units

from mace4ir.evaluation.engine.rigid_body import internal_basis, rigid_body_basis
from mace4ir.units import DA2_AMU_TO_KM_MOL

# sqrt(eV / (Å² amu)) -> cm^-1
_OMEGA_TO_CM1 = units._hbar * 1e10 / np.sqrt(units._e * units._amu) / units.invcm


@dataclass
class Modes:
    frequencies_cm1: np.ndarray  # (n_vib,), ascending, negative = imaginary
    intensities_D2A2amu: np.ndarray  # (n_vib,)
    modes: np.ndarray  # (n_vib, n_atoms, 3) Cartesian displacements, each normalised to 1
    reduced_masses: np.ndarray  # (n_vib,) amu
    linear: bool

    @property
    def intensities_km_mol(self) -> np.ndarray:
        return self.intensities_D2A2amu * DA2_AMU_TO_KM_MOL


def analyse(
    hessian: np.ndarray, dmu_dx: np.ndarray, masses: np.ndarray, positions: np.ndarray
) -> Modes:
    """Vibrational modes of a molecule from its Cartesian Hessian and dipole derivatives."""
    masses = np.asarray(masses, dtype=np.float64)
    inv_sqrt_m = np.repeat(masses**-0.5, 3)
    mw_hessian = inv_sqrt_m[:, None] * 0.5 * (hessian + hessian.T) * inv_sqrt_m[None, :]
    rigid = rigid_body_basis(positions, masses)
    internal = internal_basis(rigid)
    eigvals, eigvecs = np.linalg.eigh(internal.T @ mw_hessian @ internal)
    mw_modes = internal @ eigvecs  # (3n, n_vib), orthonormal mass-weighted normal coordinates
    freqs = np.sign(eigvals) * np.sqrt(np.abs(eigvals)) * _OMEGA_TO_CM1
    dmu_dq = (inv_sqrt_m[:, None] * mw_modes).T @ dmu_dx  # (n_vib, 3) in e / sqrt(amu)
    intensities = np.sum(dmu_dq**2, axis=1) / units.Debye**2  # (D/Å)²/amu
    cart = (inv_sqrt_m[:, None] * mw_modes).T  # (n_vib, 3n)
    norms = np.linalg.norm(cart, axis=1)
    reduced = 1.0 / norms**2  # 1 / Σ_i L_ik²/m_i
    n = len(masses)
    order = np.argsort(freqs)
    return Modes(
        frequencies_cm1=freqs[order],
        intensities_D2A2amu=intensities[order],
        modes=(cart / norms[:, None])[order].reshape(-1, n, 3),
        reduced_masses=reduced[order],
        linear=rigid.shape[1] == 5,
    )


def project_hessian(hessian: np.ndarray, masses: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Cartesian Hessian with translations and rotations projected out (Eckart), eV/Å²."""
    masses = np.asarray(masses, dtype=np.float64)
    sqrt_m = np.repeat(np.sqrt(masses), 3)
    rigid = rigid_body_basis(positions, masses)
    proj = np.eye(len(sqrt_m)) - rigid @ rigid.T
    mw = hessian / sqrt_m[:, None] / sqrt_m[None, :]
    mw = proj @ (0.5 * (mw + mw.T)) @ proj
    return mw * sqrt_m[:, None] * sqrt_m[None, :]


def project_dipole_derivatives(
    dmu_dx: np.ndarray, masses: np.ndarray, positions: np.ndarray
) -> np.ndarray:
    """∂μ/∂x (3n, 3) without its rigid-body (translation/rotation) part; vibrational intensities
    unchanged."""
    sqrt_m = np.repeat(np.sqrt(np.asarray(masses, dtype=np.float64)), 3)
    rigid = rigid_body_basis(positions, masses)
    mw = dmu_dx / sqrt_m[:, None]
    return ((np.eye(len(sqrt_m)) - rigid @ rigid.T) @ mw) * sqrt_m[:, None]
