"""Normal-mode analysis: Eckart projection, frequencies, IR intensities, reduced masses.

Inputs are in ASE units: Hessian eV/Å², dipole derivatives ∂μ/∂x in e (e·Å per Å),
masses in amu. Outputs: frequencies in cm^-1 (imaginary modes as negative numbers),
intensities in (D/Å)²/amu and km/mol (1 (D/Å)²/amu = 42.2561 km/mol).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import units
from mace4ir.data_prep.units import DA2_AMU_TO_KM_MOL

# sqrt(eV / (Å² amu)) -> cm^-1
_OMEGA_TO_CM1 = units._hbar * 1e10 / np.sqrt(units._e * units._amu) / units.invcm
LINEAR_TOLERANCE = 1e-3  # relative singular value below which a rotation is absent (linear molecule)


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


def rigid_motions(positions: np.ndarray, masses: np.ndarray) -> np.ndarray:
    """Mass-weighted translations along x, y, z, then rotations about x, y, z around the centre
    of mass: (3n, 6) columns, not orthonormal (for a linear molecule one rotation vanishes)."""
    sqrt_m = np.sqrt(masses)
    centred = positions - masses @ positions / masses.sum()
    translations = [sqrt_m[:, None] * axis for axis in np.eye(3)]
    rotations = [sqrt_m[:, None] * np.cross(axis, centred) for axis in np.eye(3)]
    return np.array([v.ravel() for v in translations + rotations]).T


def orthonormal_span(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(basis (d, k), coefficients (m, k)): an orthonormal basis of the span of the columns of
    ``vectors`` (d, m), with vectors @ coefficients = basis; directions whose singular value is
    below LINEAR_TOLERANCE of the largest (a linear molecule's third rotation) are left out."""
    u, s, vt = np.linalg.svd(vectors, full_matrices=False)
    keep = s > LINEAR_TOLERANCE * s.max()
    return u[:, keep], vt[keep].T / s[keep]


def rigid_body_basis(positions: np.ndarray, masses: np.ndarray) -> np.ndarray:
    """Orthonormal mass-weighted translations and rotations (3n, 5 or 6) about the centre of mass."""
    return orthonormal_span(rigid_motions(positions, masses))[0]


def internal_basis(rigid: np.ndarray) -> np.ndarray:
    """Orthonormal complement (3n, 3n - k) of the rigid-body space: the vibrational coordinates."""
    n3 = rigid.shape[0]
    q, _ = np.linalg.qr(np.hstack([rigid, np.eye(n3)]))
    return q[:, rigid.shape[1] :]


def analyse(hessian: np.ndarray, dmu_dx: np.ndarray, masses: np.ndarray, positions: np.ndarray) -> Modes:
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


def project_dipole_derivatives(dmu_dx: np.ndarray, masses: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """∂μ/∂x (3n, 3) without its rigid-body (translation/rotation) part; vibrational intensities unchanged."""
    sqrt_m = np.repeat(np.sqrt(np.asarray(masses, dtype=np.float64)), 3)
    rigid = rigid_body_basis(positions, masses)
    mw = dmu_dx / sqrt_m[:, None]
    return ((np.eye(len(sqrt_m)) - rigid @ rigid.T) @ mw) * sqrt_m[:, None]
