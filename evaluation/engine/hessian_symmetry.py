"""Hessian columns known without differentiating: translations and rotations.

An energy that depends only on the relative geometry satisfies E(Q r + t) = E(r), so
its gradient g obeys g(Q r + t) = Q g(r). Differentiating at Q = 1, t = 0 gives, exactly
and at any geometry (not only at a minimum):

    H · t_a = 0                    for a uniform translation t_a along axis a,
    H · (ω × r_i)_i = (ω × g_i)_i  for an infinitesimal rotation about axis ω.

So a Hessian needs Hessian-vector products only on the 3n - 6 (linear: 3n - 5)
internal directions; the rigid-body columns follow from the gradient. With an
orthonormal basis P = [rigid | internal] of Cartesian space, H = (H P) Pᵀ.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mace4ir.evaluation.engine.rigid_body import internal_basis, orthonormal_span, rigid_motions


@dataclass
class SplitBasis:
    """Orthonormal rigid (3n, k) and internal (3n, 3n - k) directions, and H · rigid (3n, k)."""

    rigid: np.ndarray
    internal: np.ndarray
    h_rigid: np.ndarray

    def hessian(self, h_internal: np.ndarray) -> np.ndarray:
        """Full symmetric Hessian from H · internal (3n, 3n - k)."""
        hp = np.hstack([self.h_rigid, h_internal])
        h = hp @ np.hstack([self.rigid, self.internal]).T
        return 0.5 * (h + h.T)


def split_basis(positions: np.ndarray, gradient: np.ndarray) -> SplitBasis:
    """Rigid-body directions of a molecule (positions, dE/dr: (n, 3)) with their exact
    H-products."""
    motions = rigid_motions(positions, np.ones(len(positions)))  # unit masses: Cartesian directions
    # H kills translations; a rotation about the centroid differs from one about the origin by a
    # translation, so its product is ω × g all the same
    products = [np.zeros(gradient.size)] * 3 + [
        np.cross(axis, gradient).ravel() for axis in np.eye(3)
    ]
    rigid, coefficients = orthonormal_span(motions)
    h_rigid = np.array(products).T @ coefficients  # linear in the motions, like the basis itself
    return SplitBasis(rigid=rigid, internal=internal_basis(rigid), h_rigid=h_rigid)
