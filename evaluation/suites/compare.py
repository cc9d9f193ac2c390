"""Compare one molecule's predicted spectra with its references.

References: ``experimental`` (NIST JCAMP-DX), ``harmonic`` (DFT modes file), ``spectrum``
(two-column CSV), and ``run`` (the same molecule in another bench output, e.g. a GFN2-xTB
reference run). Mode-resolved errors (frequency/intensity MAE after a one-to-one Hungarian
assignment) need modes on both sides; spectral metrics compare spectra on a common grid.

Units: frequencies cm^-1; intensity MAE in (D/Å)²/amu (as in the paper) and km/mol;
spectra are normalised to unit maximum on the grid before the spectral metrics.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from mace4ir.errors import DataFormatError

SPECTRAL_METRICS = ("pearson", "spearman", "cosine", "sis", "wasserstein_cm1", "mimyria")
MODE_METRICS = ("freq_mae_cm1", "int_mae_D2A2amu", "int_mae_km_mol")
DEFAULT_SPECTRUM = {
    "min_cm1": 400.0,
    "max_cm1": 4000.0,
    "step_cm1": 1.0,
    "fwhm_cm1": 20.0,
    "lineshape": "gaussian",
    "baseline": "rubberband",
}
REFERENCE_LABELS = {
    "experimental": "experiment (NIST)",
    "harmonic": "DFT harmonic",
    "spectrum": "reference spectrum",
    "run_harmonic": "reference run (harmonic)",
    "run_md": "reference run (MD)",
}


# ---------------------------------------------------------------------------- references


def load_reference_modes(path: str | Path) -> dict[str, np.ndarray]:
    """Harmonic modes from CSV (frequency_cm1 + intensity_D2A2amu and/or intensity_km_mol)
    or JSON (a HarmonicResult.to_dict or a bench result's ``harmonic`` block)."""
    path = Path(path)
    if path.suffix == ".json":
        data = json.loads(path.read_text())
        data = data.get("harmonic", data)
        cols = {
            "frequency_cm1": data.get("frequencies_cm1"),
            "intensity_km_mol": data.get("intensities_km_mol"),
            "intensity_D2A2amu": data.get("intensities_D2A2amu"),
        }
    else:
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh))
        if not rows:
            raise DataFormatError(f"{path}: empty modes file")
        cols = {
            k: [float(r[k]) for r in rows] if k in rows[0] else None
            for k in ("frequency_cm1", "intensity_km_mol", "intensity_D2A2amu")
        }
    if cols["frequency_cm1"] is None or (
        cols["intensity_km_mol"] is None and cols["intensity_D2A2amu"] is None
    ):
        raise DataFormatError(
            f"{path}: needs frequency_cm1 and intensity_D2A2amu or intensity_km_mol columns"
        )
    from mace4ir.units import DA2_AMU_TO_KM_MOL

    f = np.asarray(cols["frequency_cm1"], float)
    km = cols["intensity_km_mol"]
    da = cols["intensity_D2A2amu"]
    km = np.asarray(km, float) if km is not None else np.asarray(da, float) * DA2_AMU_TO_KM_MOL
    da = np.asarray(da, float) if da is not None else km / DA2_AMU_TO_KM_MOL
    return {"frequencies_cm1": f, "intensities_km_mol": km, "intensities_D2A2amu": da}


def load_reference_spectrum(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Two-column CSV (wavenumber cm^-1, intensity), header line optional."""
    try:
        data = np.genfromtxt(
            path, delimiter=",", comments="#", names=None, skip_header=_header_lines(path)
        )
    except ValueError as exc:
        raise DataFormatError(f"{path}: not a two-column CSV spectrum: {exc}") from None
    if data.ndim != 2 or data.shape[1] < 2:
        raise DataFormatError(f"{path}: expected two columns (wavenumber_cm1, intensity)")
    return data[:, 0], data[:, 1]


def _header_lines(path) -> int:
    first = Path(path).read_text().splitlines()[0]
    try:
        [float(x) for x in first.split(",")]
        return 0
    except ValueError:
        return 1


def load_experimental(
    path: str | Path, baseline: str | None = "rubberband"
) -> tuple[np.ndarray, np.ndarray]:
    """Absorbance of a JCAMP-DX file (transmittance converted), baseline-corrected."""
    from mace4ir.evaluation.spectra.experimental import baseline_correct, read_jcamp

    x, y = read_jcamp(path)
    return x, (baseline_correct(x, y, baseline) if baseline else y)


# ---------------------------------------------------------------------------- spectra


def grid_from(settings: dict | None) -> np.ndarray:
    s = {**DEFAULT_SPECTRUM, **(settings or {})}
    return np.arange(
        float(s["min_cm1"]), float(s["max_cm1"]) + 0.5 * float(s["step_cm1"]), float(s["step_cm1"])
    )


def harmonic_spectrum(modes: dict, grid: np.ndarray, settings: dict | None) -> np.ndarray:
    from mace4ir.evaluation import broaden

    s = {**DEFAULT_SPECTRUM, **(settings or {})}
    return broaden(
        modes["frequencies_cm1"],
        modes["intensities_km_mol"],
        grid,
        float(s["fwhm_cm1"]),
        s["lineshape"],
    )[1]


def on_grid(x: np.ndarray, y: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Interpolate onto ``grid``; NaN outside the data's range."""
    order = np.argsort(x)
    return np.interp(grid, np.asarray(x)[order], np.asarray(y)[order], left=np.nan, right=np.nan)


def predicted_spectra(
    result: dict, grid: np.ndarray, settings: dict | None
) -> dict[str, np.ndarray]:
    out = {}
    if result.get("harmonic"):
        out["harmonic"] = harmonic_spectrum(_modes(result["harmonic"]), grid, settings)
    if result.get("md"):
        out["md"] = on_grid(
            np.asarray(result["md"]["wavenumbers_cm1"]), np.asarray(result["md"]["intensity"]), grid
        )
    return out


def _modes(block: dict) -> dict[str, np.ndarray]:
    return {
        k: np.asarray(block[k], float)
        for k in ("frequencies_cm1", "intensities_km_mol", "intensities_D2A2amu")
    }


def reference_spectra(result: dict, grid, settings, reference_run: dict | None) -> dict[str, tuple]:
    """{reference name: (spectrum on grid (NaN outside its range), modes or None)}."""
    refs = result["molecule"].get("references", {})
    out: dict[str, tuple] = {}
    if "experimental" in refs:
        x, y = load_experimental(
            refs["experimental"], {**DEFAULT_SPECTRUM, **(settings or {})}["baseline"]
        )
        out["experimental"] = (on_grid(x, y, grid), None)
    if "harmonic" in refs:
        modes = load_reference_modes(refs["harmonic"])
        out["harmonic"] = (harmonic_spectrum(modes, grid, settings), modes)
    if "spectrum" in refs:
        x, y = load_reference_spectrum(refs["spectrum"])
        out["spectrum"] = (on_grid(x, y, grid), None)
    if reference_run and reference_run.get("status") == "ok":
        if reference_run.get("harmonic"):
            modes = _modes(reference_run["harmonic"])
            out["run_harmonic"] = (harmonic_spectrum(modes, grid, settings), modes)
        if reference_run.get("md"):
            md = reference_run["md"]
            out["run_md"] = (
                on_grid(np.asarray(md["wavenumbers_cm1"]), np.asarray(md["intensity"]), grid),
                None,
            )
    return out


# ---------------------------------------------------------------------------- metrics


def spectral_metrics(grid: np.ndarray, pred: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    """Metrics on the part of the grid both spectra cover, each normalised to unit maximum."""
    from mace4ir.evaluation.spectra.metrics import compare_spectra

    keep = np.isfinite(pred) & np.isfinite(ref)
    if keep.sum() < 10:
        raise ValueError("prediction and reference share fewer than 10 grid points")
    return {
        k: float(v)
        for k, v in compare_spectra(_unit_max(pred[keep]), _unit_max(ref[keep]), grid[keep]).items()
    }


def _unit_max(y: np.ndarray) -> np.ndarray:
    y = np.clip(np.asarray(y, float), 0.0, None)
    top = y.max()
    return y / top if top > 0 else y


def mode_metrics(pred: dict, ref: dict) -> dict[str, float]:
    """Hungarian-matched frequency MAE (cm^-1) and intensity MAE ((D/Å)²/amu and km/mol)."""
    from mace4ir.evaluation.spectra.metrics import mode_mae

    da = mode_mae(
        pred["frequencies_cm1"],
        pred["intensities_D2A2amu"],
        ref["frequencies_cm1"],
        ref["intensities_D2A2amu"],
    )
    km = mode_mae(
        pred["frequencies_cm1"],
        pred["intensities_km_mol"],
        ref["frequencies_cm1"],
        ref["intensities_km_mol"],
    )
    return {
        "freq_mae_cm1": da["frequency_mae_cm1"],
        "int_mae_D2A2amu": da["intensity_mae"],
        "int_mae_km_mol": km["intensity_mae"],
        "n_modes": da["n_matched"],
    }


def compare(
    result: dict, settings: dict | None, reference_run: dict | None = None
) -> list[dict[str, Any]]:
    """One row per (prediction, reference) pair of an ``ok`` result; errors become row notes."""
    grid = grid_from(settings)
    preds = predicted_spectra(result, grid, settings)
    try:
        refs = reference_spectra(result, grid, settings, reference_run)
    except Exception as exc:
        return [
            {"prediction": p, "reference": "-", "note": f"reference unreadable: {exc}"}
            for p in preds
        ]
    rows = []
    for pname, pspec in preds.items():
        for rname, (rspec, rmodes) in refs.items():
            row: dict[str, Any] = {"prediction": pname, "reference": rname}
            try:
                if pname == "harmonic" and rmodes is not None:
                    row.update(mode_metrics(_modes(result["harmonic"]), rmodes))
                row.update(spectral_metrics(grid, pspec, rspec))
            except Exception as exc:
                row["note"] = f"{type(exc).__name__}: {exc}"
            rows.append(row)
    return rows
