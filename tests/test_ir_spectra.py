"""Spectra tools: JCAMP-DX reading (NIST files, ASDF), processing, broadening, metrics,
and the autocorrelation spectrum of synthetic dipole signals with known frequencies."""

import re
from pathlib import Path

import numpy as np
import pytest

from mace4ir.errors import Mace4irError
from mace4ir.evaluation import metrics
from mace4ir.evaluation.md.autocorrelation import (
    C_CM_PER_FS,
    ir_spectrum_from_dipoles,
    quantum_correction_factor,
    replica_spectra,
)
from mace4ir.evaluation.spectra.broadening import broaden, wavenumber_grid
from mace4ir.evaluation.spectra.experimental import (
    baseline_correct,
    experimental_spectrum,
    normalize,
    read_jcamp,
    to_grid,
)

NIST = (
    Path(__file__).parents[1] / "configs" / "benchmarks" / "nist_ir"
)  # shipped NIST copies, headers kept


def header(path, key):
    m = re.search(rf"^##{re.escape(key)}=\s*(.+)$", path.read_text(), re.MULTILINE)
    return m.group(1).strip() if m else None


# ---- JCAMP-DX -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(p.stem for p in NIST.glob("*.jdx")))
def test_nist_files_parse_to_the_header_range(name):
    path = NIST / f"{name}.jdx"
    x, a = read_jcamp(path)
    assert len(x) == int(header(path, "NPOINTS"))
    assert np.all(np.diff(x) > 0)
    first, last = sorted(float(header(path, k)) for k in ("FIRSTX", "LASTX"))
    assert x[0] == pytest.approx(first, rel=1e-4) and x[-1] == pytest.approx(last, rel=1e-4)
    yunits = header(path, "YUNITS").upper()
    miny, maxy = float(header(path, "MINY")), float(header(path, "MAXY"))
    if (
        "TRANSMITTANCE" in yunits
    ):  # absorbance = -log10(T): its maximum comes from the header's MINY
        assert a.max() == pytest.approx(-np.log10(max(miny, 1e-4)), abs=0.01)
    else:  # YFACTOR applied: values span the header's MINY..MAXY
        assert a.max() == pytest.approx(maxy, rel=0.02, abs=0.005)
        assert a.min() == pytest.approx(miny, rel=0.05, abs=0.005)


def test_asdf_compressed_file_decodes():
    path = NIST / "isopropanol_ASDF.jdx"
    assert "XYDATA=(X++(Y..Y))" in path.read_text()
    x, a = read_jcamp(path)
    # decoded ordinates stay on the checked grid: constant spacing LASTX-FIRSTX over NPOINTS-1
    assert np.allclose(np.diff(x), (x[-1] - x[0]) / (len(x) - 1), rtol=1e-6)
    # isopropanol's strongest gas-phase band is the C-O stretch near 950 cm^-1
    assert 900 < x[np.argmax(a)] < 1000


@pytest.mark.parametrize(
    "name, band",
    [("carbon_dioxide", (2280, 2400)), ("methane", (1250, 1350)), ("acetone", (1700, 1780))],
)
def test_strongest_band_where_known(name, band):
    x, a = read_jcamp(NIST / f"{name}.jdx")
    assert band[0] < x[np.argmax(a)] < band[1]


def test_bad_jcamp_files_give_clear_errors(tmp_path):
    with pytest.raises(Mace4irError, match="not found"):
        read_jcamp(tmp_path / "missing.jdx")
    bad = tmp_path / "bad.jdx"
    bad.write_text("##TITLE=nothing\n##END=\n")
    with pytest.raises(Mace4irError, match="bad.jdx"):
        read_jcamp(bad)


def test_baseline_interpolation_normalisation():
    x = np.linspace(400, 4000, 3601)
    peaks = np.exp(-0.5 * ((x - 1000) / 10) ** 2) + 0.5 * np.exp(-0.5 * ((x - 3000) / 15) ** 2)
    y = peaks + 0.2 + 3e-5 * x  # sloped offset
    corrected = baseline_correct(x, y)
    assert np.abs(corrected - peaks).max() < 0.02
    grid = wavenumber_grid(300, 4100, 2.0)
    on_grid = to_grid(x, corrected, grid)
    assert on_grid[0] == 0.0 and on_grid[-1] == 0.0  # outside the measured range
    assert normalize(on_grid).max() == pytest.approx(1.0)
    assert np.trapezoid(normalize(on_grid, "area", grid), grid) == pytest.approx(1.0)
    exp = experimental_spectrum(NIST / "methane.jdx", grid)
    assert exp.max() == pytest.approx(1.0) and exp.min() >= -1e-9


# ---- broadening ------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", ["gaussian", "lorentzian"])
def test_broadening_preserves_line_areas(shape):
    grid = wavenumber_grid(0, 6000, 0.5)
    _, y = broaden([1000.0, 2500.0, -50.0], [30.0, 70.0, 500.0], grid, fwhm=10.0, shape=shape)
    tol = 1e-3 if shape == "gaussian" else 0.01  # Lorentzian tails leave the grid
    assert np.trapezoid(y, grid) == pytest.approx(100.0, rel=tol)  # the imaginary mode is left out
    half = y[np.argmin(np.abs(grid - 1005.0))] / y[np.argmin(np.abs(grid - 1000.0))]
    assert half == pytest.approx(0.5, abs=0.01)  # full width at half maximum is 10 cm^-1


# ---- metrics ---------------------------------------------------------------------------------
@pytest.fixture
def grid():
    return wavenumber_grid(400, 4000, 1.0)


def gauss(grid, centre, width=10.0):
    return np.exp(-0.5 * ((grid - centre) / width) ** 2)


def test_metrics_identical_spectra(grid):
    a = gauss(grid, 1000) + 0.3 * gauss(grid, 3000)
    m = metrics.compare_spectra(a, 2.0 * a, grid)  # scale does not matter
    assert m["pearson"] == pytest.approx(1.0) and m["spearman"] == pytest.approx(1.0)
    assert m["cosine"] == pytest.approx(1.0) and m["sis"] == pytest.approx(1.0)
    assert m["wasserstein_cm1"] == pytest.approx(0.0, abs=1e-6) and m["mimyria"] == pytest.approx(
        0.0, abs=1e-9
    )


def test_metrics_shifted_and_disjoint(grid):
    a, b = gauss(grid, 1000), gauss(grid, 1050)
    assert metrics.wasserstein(a, b, grid) == pytest.approx(50.0, rel=1e-3)
    from scipy.stats import norm

    # Σ|a-b| / Σ(a+b) = 1 - 2Φ(-d/2σ) for two equal Gaussians d apart
    assert metrics.mimyria(a, b) == pytest.approx(1 - 2 * norm.cdf(-2.5), rel=1e-4)
    assert metrics.mimyria(a, gauss(grid, 2000)) == pytest.approx(1.0, abs=1e-9)  # disjoint
    assert metrics.cosine(a, b) == pytest.approx(np.exp(-(50**2) / (4 * 10**2)), rel=1e-3)
    assert metrics.sis(a, b, grid) < metrics.sis(a, gauss(grid, 1005), grid) < 1.0
    assert metrics.pearson(a, -a) == pytest.approx(-1.0)


def test_mode_mae_uses_optimal_one_to_one_assignment():
    ref_f, ref_i = np.array([500.0, 1000.0, 1600.0, 3000.0]), np.array([1.0, 2.0, 3.0, 4.0])
    perm = np.array([2, 0, 3, 1])
    out = metrics.mode_mae(ref_f[perm] + 10.0, ref_i[perm] + 0.5, ref_f, ref_i)
    assert out["frequency_mae_cm1"] == pytest.approx(10.0)
    assert out["intensity_mae"] == pytest.approx(0.5)
    # greedy nearest matching would pair 1040 with 1000; the optimum pairs 980-1000 and 1040-1060
    out = metrics.mode_mae([980.0, 1040.0], [0, 0], [1000.0, 1060.0], [0, 0])
    assert out["frequency_mae_cm1"] == pytest.approx(20.0)
    with pytest.raises(Mace4irError):
        metrics.mode_mae([1.0], [1.0, 2.0], [1.0], [1.0])


# ---- spectra from dipole time series ---------------------------------------------------------
def test_synthetic_dipole_signal_peaks_at_its_frequencies():
    dt = 0.5
    t = np.arange(40000) * dt
    freqs, amps = (1234.0, 2890.0), (0.02, 0.005)
    mu = np.zeros((len(t), 3))
    for k, (nu, amp) in enumerate(zip(freqs, amps)):
        mu[:, k] = amp * np.cos(2 * np.pi * C_CM_PER_FS * nu * t + 0.3 * k)
    wn, inten = ir_spectrum_from_dipoles(mu, dt, max_corr_fs=1000.0)
    interior = (inten[1:-1] > inten[:-2]) & (inten[1:-1] > inten[2:])
    peaks = wn[1:-1][interior]
    top = peaks[np.argsort(inten[1:-1][interior])[-2:]]
    assert sorted(top) == pytest.approx(freqs, abs=2.0)
    # dμ/dt power ∝ (amp·ω)²: band areas keep that ratio
    area = [inten[(wn > nu - 60) & (wn < nu + 60)].sum() for nu in freqs]
    expected = (amps[0] * freqs[0]) ** 2 / (amps[1] * freqs[1]) ** 2
    assert area[0] / area[1] == pytest.approx(expected, rel=0.02)
    # the symmetric transform keeps lines compact: little intensity far from both lines
    far = (np.abs(wn - freqs[0]) > 150) & (np.abs(wn - freqs[1]) > 150) & (wn > 200)
    assert inten[far].sum() < 1e-3 * inten.sum()


def test_replica_spectra_mean_and_spread():
    rng = np.random.default_rng(0)
    dt, t = 0.5, np.arange(8000) * 0.5
    base = 0.01 * np.cos(2 * np.pi * C_CM_PER_FS * 1700.0 * t)
    series = np.stack(
        [
            np.stack([base * (1 + 0.1 * r), 0 * t, 0 * t], 1) + 1e-4 * rng.normal(size=(len(t), 3))
            for r in range(3)
        ]
    )
    res = replica_spectra(series, dt, max_corr_fs=500.0)
    assert res.per_replica.shape == (3, len(res.wavenumbers_cm1))
    assert np.allclose(res.intensity, res.per_replica.mean(0)) and np.allclose(
        res.std, res.per_replica.std(0)
    )
    peak = np.argmax(res.intensity)
    assert res.std[peak] > 0 and res.wavenumbers_cm1[peak] == pytest.approx(1700.0, abs=3.0)
    with pytest.raises(Mace4irError, match="shape"):
        replica_spectra(np.zeros((10, 2)), dt)


def test_quantum_correction_factors():
    wn = np.array([1e-6, 1000.0, 3000.0])
    x = 1.438776877 * wn / 300.0
    assert quantum_correction_factor(wn, 300.0, "harmonic") == pytest.approx(x / (1 - np.exp(-x)))
    assert quantum_correction_factor(wn, 300.0, "standard") == pytest.approx(2 / (1 + np.exp(-x)))
    assert quantum_correction_factor(wn, 300.0, "schofield") == pytest.approx(np.exp(x / 2))
    assert quantum_correction_factor(wn[:1], 300.0, "harmonic")[0] == pytest.approx(1.0)
    with pytest.raises(Mace4irError, match="quantum correction"):
        quantum_correction_factor(wn, 300.0, "bogus")
