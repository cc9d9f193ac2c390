"""Which mode of one harmonic analysis is which mode of another.

Sorting by frequency (or a Hungarian assignment on frequencies alone) swaps modes whose
frequencies are close but whose motions differ, and then compares the intensity of one
motion with that of another. Matching by shape does not: each mode goes to the mode it
overlaps most, an assignment problem on |overlap| of the mass-weighted mode vectors
(scipy's Hungarian solver). Both analyses must describe the same atoms in the same order,
at nearly the same geometry.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from mace4ir.evaluation.spectra.metrics import mode_mae, pearson


def match_modes(reference: np.ndarray, modes: np.ndarray, masses: np.ndarray) -> np.ndarray:
    """Index into ``modes`` of the mode matching each ``reference`` mode (both (n_vib, n, 3))."""
    w = np.sqrt(masses)[None, :, None]

    def unit(m):
        v = (m * w).reshape(len(m), -1)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    overlap = np.abs(unit(reference) @ unit(modes).T)
    _, cols = linear_sum_assignment(-overlap)
    return cols


def compare_harmonic(pred, ref) -> dict:
    """Harmonic results (``HarmonicResult``) of a model and a reference for one molecule:
    ``frequency_mae_cm1`` with modes assigned by frequency (Hungarian, as mode_mae), and,
    with modes matched by shape, ``frequency_mae_shape_cm1`` and ``intensity_pearson``."""
    by_freq = mode_mae(
        pred.frequencies_cm1, pred.intensities_km_mol, ref.frequencies_cm1, ref.intensities_km_mol
    )
    order = match_modes(ref.modes, pred.modes, ref.atoms.get_masses())
    return {
        "frequency_mae_cm1": by_freq["frequency_mae_cm1"],
        "frequency_mae_shape_cm1": float(
            np.mean(np.abs(pred.frequencies_cm1[order] - ref.frequencies_cm1))
        ),
        "intensity_pearson": pearson(pred.intensities_km_mol[order], ref.intensities_km_mol),
    }
