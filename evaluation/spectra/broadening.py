"""Line spectra (stick frequencies + intensities) broadened onto a wavenumber grid.

Each line keeps its area: a line of intensity I km/mol becomes a peak whose
integral over the grid (in cm^-1) is I, so the broadened spectrum is in
km/mol per cm^-1 (same convention as the MD spectra of :mod:`.autocorrelation`).
"""

from __future__ import annotations

import numpy as np

from mace4ir.errors import Mace4irError

DEFAULT_GRID = (400.0, 4000.0, 1.0)  # cm^-1: start, stop, step
SHAPES = ("gaussian", "lorentzian")


def wavenumber_grid(
    start: float = DEFAULT_GRID[0], stop: float = DEFAULT_GRID[1], step: float = DEFAULT_GRID[2]
):
    return np.arange(start, stop + 0.5 * step, step)


def broaden(
    frequencies, intensities, grid=None, fwhm: float = 20.0, shape: str = "gaussian"
) -> tuple:
    """(grid, spectrum): area-preserving Gaussian or Lorentzian lines of full width ``fwhm`` cm^-1.

    Imaginary modes (negative frequencies) are left out of the spectrum.
    """
    if shape not in SHAPES:
        raise Mace4irError(f"unknown line shape {shape!r}; choose one of {SHAPES}")
    if fwhm <= 0:
        raise Mace4irError(f"line width must be positive, got fwhm={fwhm} cm^-1")
    grid = wavenumber_grid() if grid is None else np.asarray(grid, dtype=np.float64)
    freqs = np.asarray(frequencies, dtype=np.float64)
    ints = np.asarray(intensities, dtype=np.float64)
    keep = freqs > 0
    x = grid[:, None] - freqs[keep][None, :]
    if shape == "gaussian":
        sigma = fwhm / (2.0 * np.sqrt(2.0 * np.log(2.0)))
        lines = np.exp(-0.5 * (x / sigma) ** 2) / (sigma * np.sqrt(2.0 * np.pi))
    else:
        gamma = 0.5 * fwhm
        lines = gamma / np.pi / (x**2 + gamma**2)
    return grid, lines @ ints[keep]
