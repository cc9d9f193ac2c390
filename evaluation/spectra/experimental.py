"""Experimental spectra: NIST JCAMP-DX files and the processing that makes them comparable.

``read_jcamp`` uses the ``jcamp`` library (which applies XFACTOR/YFACTOR and decodes
compressed ASDF data: SQZ/DIF/DUP) and returns wavenumbers (cm^-1, ascending) and
absorbance (decadic). Transmittance (0..1 or %) becomes -log10(T); NIST quantitative
spectra in (micromol/mol)^-1 m^-1 (base 10) are decadic absorption coefficients,
already proportional to absorbance, and are returned unchanged.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from mace4ir.errors import DataFormatError, Mace4irError

log = logging.getLogger(__name__)

MIN_TRANSMITTANCE = 1e-4  # saturated bands are clipped here (absorbance 4)
_X_TO_CM1 = {
    "1/cm": lambda x: x,
    "cm-1": lambda x: x,
    "cm^-1": lambda x: x,
    "micrometers": lambda x: 1e4 / x,
    "um": lambda x: 1e4 / x,
    "nanometers": lambda x: 1e7 / x,
    "nm": lambda x: 1e7 / x,
}


def _y_to_absorbance(y: np.ndarray, yunits: str, path) -> np.ndarray:
    u = yunits.lower()
    if "transmittance" in u:
        if np.nanmax(y) > 5.0:  # percent transmittance
            y = y / 100.0
        return -np.log10(np.clip(y, MIN_TRANSMITTANCE, None))
    if "absorbance" in u or "base 10" in u:
        return y
    raise DataFormatError(
        f"{path}: unsupported YUNITS {yunits!r} (expected TRANSMITTANCE or ABSORBANCE)"
    )


def _table(data: dict, path) -> tuple[np.ndarray, np.ndarray]:
    """The (x, y) table, checked against the header: a truncated or garbled table must not
    pass as a shorter spectrum."""
    try:
        x = np.asarray(data["x"], dtype=np.float64).ravel()
        y = np.asarray(data["y"], dtype=np.float64).ravel()
    except (TypeError, ValueError) as exc:
        raise DataFormatError(f"{path}: XYDATA is not a table of numbers ({exc})") from None
    if len(x) != len(y):
        raise DataFormatError(
            f"{path}: the data table holds {len(y)} values for {len(x)} abscissae; the file is "
            f"truncated or garbled"
        )
    npoints = data.get("npoints")
    if npoints is not None and _number(npoints) != len(y):
        raise DataFormatError(
            f"{path}: NPOINTS={npoints} but the data table holds {len(y)} points; the file is "
            f"truncated or garbled"
        )
    return x, y


def _number(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def read_jcamp(path, return_metadata: bool = False):
    """(wavenumbers cm^-1 ascending, absorbance) of an IR JCAMP-DX file; optionally the header dict
    too."""
    import jcamp

    path = Path(path)
    if not path.is_file():
        raise Mace4irError(f"{path}: JCAMP-DX file not found")
    if "##END=" not in path.read_text(errors="replace").upper():
        raise DataFormatError(f"{path}: no ##END= line; the file is truncated")
    try:
        data = jcamp.readfile(str(path))
    except Exception as exc:  # noqa: BLE001 (the library raises many kinds)
        raise DataFormatError(f"{path}: not a readable JCAMP-DX file: {exc}") from None
    if "x" not in data or "y" not in data or len(data["x"]) == 0:
        raise DataFormatError(f"{path}: no XYDATA table found (is it a JCAMP-DX spectrum?)")
    dtype = str(data.get("data type", data.get("datatype", "INFRARED SPECTRUM")))
    if "INFRARED" not in dtype.upper():
        raise DataFormatError(f"{path}: DATA TYPE is {dtype!r}, not an infrared spectrum")
    xunits = str(data.get("xunits", "1/CM")).strip().lower()
    if xunits not in _X_TO_CM1:
        raise DataFormatError(f"{path}: unsupported XUNITS {data.get('xunits')!r}")
    x, y = _table(data, path)
    x = _X_TO_CM1[xunits](x)
    y = _y_to_absorbance(y, str(data.get("yunits", "")), path)
    keep = np.isfinite(x) & np.isfinite(y)
    order = np.argsort(x[keep])
    x, y = x[keep][order], y[keep][order]
    if len(x) < 2:
        raise DataFormatError(f"{path}: fewer than two valid data points")
    if return_metadata:
        meta = {k: v for k, v in data.items() if k not in ("x", "y", "children")}
        return x, y, meta
    return x, y


def baseline_correct(x, y, method: str = "rubberband"):
    """Subtract a baseline: ``rubberband`` (lower convex hull) or ``min`` (the minimum)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if method == "min":
        return y - y.min()
    if method != "rubberband":
        raise Mace4irError(f"unknown baseline method {method!r}; choose rubberband or min")
    from scipy.spatial import ConvexHull

    hull = ConvexHull(np.column_stack([x, y]))
    vertices = np.roll(hull.vertices, -hull.vertices.argmin())
    lower = vertices[
        : vertices.argmax() + 1
    ]  # counter-clockwise from min x to max x: the lower hull
    return y - np.interp(x, x[lower], y[lower])


def to_grid(x, y, grid):
    """Linear interpolation onto ``grid``; zero outside the measured range."""
    return np.interp(np.asarray(grid, dtype=np.float64), x, y, left=0.0, right=0.0)


def normalize(y, mode: str = "max", x=None):
    """Scale to unit maximum (``max``) or unit area (``area``, needs x)."""
    y = np.asarray(y, dtype=np.float64)
    if mode == "max":
        scale = np.max(np.abs(y))
    elif mode == "area":
        scale = np.trapezoid(np.abs(y), x) if x is not None else np.sum(np.abs(y))
    else:
        raise Mace4irError(f"unknown normalisation {mode!r}; choose max or area")
    return y / scale if scale > 0 else y


def comparable(x, y, grid, baseline: str | None = "rubberband", norm: str | None = "max"):
    """A measured spectrum made comparable: baseline-corrected, on ``grid``, normalised."""
    if baseline:
        y = baseline_correct(x, y, baseline)
    y = to_grid(x, y, grid)
    return normalize(y, norm, grid) if norm else y


def experimental_spectrum(
    path, grid, baseline: str | None = "rubberband", norm: str | None = "max"
):
    """A JCAMP spectrum made comparable: absorbance, baseline-corrected, on ``grid``, normalised."""
    x, y = read_jcamp(path)
    return comparable(x, y, grid, baseline, norm)
