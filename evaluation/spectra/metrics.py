"""Comparing spectra (on one common wavenumber grid) and harmonic mode lists.

Spectrum metrics take two intensity arrays sampled on the same grid:
pearson, spearman, cosine (1 = identical shape), sis (spectral information
similarity 1/(1+SID) after Gaussian broadening; 1 = identical), wasserstein (earth
mover's distance in cm^-1 between the normalised spectra; 0 = identical), mimyria
(Σ|A−B| / Σ|A+B| after normalising each to unit area; 0 = identical, 1 = disjoint).
``mode_mae`` matches two harmonic mode lists one-to-one (Hungarian assignment on
frequency difference) and reports frequency and intensity MAE.
"""

from __future__ import annotations

import numpy as np
from scipy import stats
from scipy.ndimage import gaussian_filter1d
from scipy.optimize import linear_sum_assignment

from mace4ir.errors import Mace4irError

EPS = 1e-12


def _pair(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise Mace4irError(
            f"spectra must be 1-D arrays on the same grid, got shapes {a.shape} and {b.shape}"
        )
    return a, b


def pearson(a, b) -> float:
    a, b = _pair(a, b)
    return float(stats.pearsonr(a, b)[0])


def spearman(a, b) -> float:
    a, b = _pair(a, b)
    return float(stats.spearmanr(a, b)[0])


def cosine(a, b) -> float:
    a, b = _pair(a, b)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + EPS))


def _probability(a):
    a = np.clip(a, 0.0, None) + EPS
    return a / a.sum()


def sid(a, b) -> float:
    """Spectral information divergence Σ p·log(p/q) + q·log(q/p) of the normalised spectra."""
    p, q = _probability(a), _probability(b)
    return float(np.sum(p * np.log(p / q)) + np.sum(q * np.log(q / p)))


def sis(a, b, grid=None, sigma_cm1: float = 5.0) -> float:
    """Spectral information similarity 1/(1+SID) after Gaussian broadening by ``sigma_cm1``."""
    a, b = _pair(a, b)
    step = float(np.mean(np.diff(grid))) if grid is not None else 1.0
    if sigma_cm1 > 0:
        a, b = gaussian_filter1d(a, sigma_cm1 / step), gaussian_filter1d(b, sigma_cm1 / step)
    return 1.0 / (1.0 + sid(a, b))


def wasserstein(a, b, grid) -> float:
    """Earth mover's distance (cm^-1) between the spectra as distributions over the grid."""
    a, b = _pair(a, b)
    return float(
        stats.wasserstein_distance(grid, grid, np.clip(a, 0, None) + EPS, np.clip(b, 0, None) + EPS)
    )


def mimyria(a, b) -> float:
    """Mimyria score Σ|A−B| / Σ|A+B| of area-normalised spectra (0 identical, 1 no overlap)."""
    a, b = _pair(a, b)
    a, b = a / (np.abs(a).sum() + EPS), b / (np.abs(b).sum() + EPS)
    return float(np.sum(np.abs(a - b)) / (np.sum(np.abs(a + b)) + EPS))


def compare_spectra(a, b, grid) -> dict:
    """All spectrum metrics of ``a`` (prediction) against ``b`` (reference) on ``grid``."""
    return {
        "pearson": pearson(a, b),
        "spearman": spearman(a, b),
        "cosine": cosine(a, b),
        "sis": sis(a, b, grid),
        "wasserstein_cm1": wasserstein(a, b, grid),
        "mimyria": mimyria(a, b),
    }


def mode_mae(freq_pred, int_pred, freq_ref, int_ref) -> dict:
    """Frequency and intensity MAE after an optimal one-to-one mode assignment (Hungarian).

    Modes are matched by minimal total |Δν|; with unequal numbers of modes only the
    matched pairs count. Intensities in whatever unit both lists share.
    """
    fp, ip = np.asarray(freq_pred, float), np.asarray(int_pred, float)
    fr, ir = np.asarray(freq_ref, float), np.asarray(int_ref, float)
    if fp.shape != ip.shape or fr.shape != ir.shape:
        raise Mace4irError(
            "mode_mae: each frequency list needs an intensity list of the same length"
        )
    if len(fp) == 0 or len(fr) == 0:
        raise Mace4irError("mode_mae: empty mode list")
    rows, cols = linear_sum_assignment(np.abs(fp[:, None] - fr[None, :]))
    return {
        "frequency_mae_cm1": float(np.mean(np.abs(fp[rows] - fr[cols]))),
        "intensity_mae": float(np.mean(np.abs(ip[rows] - ir[cols]))),
        "intensity_pearson": pearson(ip[rows], ir[cols]) if len(rows) > 1 else float("nan"),
        "n_matched": len(rows),
        "assignment": [(int(r), int(c)) for r, c in zip(rows, cols)],
    }


def compare_on_band(pred, ref, low: float = 400.0, high: float = 4000.0) -> dict:
    """:func:`compare_spectra` of two spectra (objects with ``wavenumbers_cm1`` and
    ``intensity``, e.g. MD spectra) on ``ref``'s grid between ``low`` and ``high`` cm^-1;
    ``pred`` is interpolated onto it. Adds ``grid``, ``pred`` and ``ref`` (the compared curves)."""
    band = (ref.wavenumbers_cm1 >= low) & (ref.wavenumbers_cm1 <= high)
    grid = np.asarray(ref.wavenumbers_cm1)[band]
    on_grid = np.interp(grid, pred.wavenumbers_cm1, pred.intensity)
    scores = compare_spectra(on_grid, np.asarray(ref.intensity)[band], grid)
    return {**scores, "grid": grid, "pred": on_grid, "ref": np.asarray(ref.intensity)[band]}
