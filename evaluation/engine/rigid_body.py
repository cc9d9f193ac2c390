"""Rigid-body motions of a molecule (translations, rotations) and the vibrational complement.

Shared by the Hessian's known columns (:mod:`.hessian_symmetry`), the Eckart projection and
the Hessian-seeded optimiser (:mod:`mace4ir.evaluation.harmonic`). Mass-weighted coordinates.
"""

from __future__ import annotations

import numpy as np

LINEAR_TOLERANCE = (
    1e-3  # relative singular value below which a rotation is absent (linear molecule)
)


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
    """Orthonormal mass-weighted translations and rotations (3n, 5 or 6) about the centre of
    mass."""
    return orthonormal_span(rigid_motions(positions, masses))[0]


def internal_basis(rigid: np.ndarray) -> np.ndarray:
    """Orthonormal complement (3n, 3n - k) of the rigid-body space: the vibrational coordinates."""
    n3 = rigid.shape[0]
    q, _ = np.linalg.qr(np.hstack([rigid, np.eye(n3)]))
    return q[:, rigid.shape[1] :]
