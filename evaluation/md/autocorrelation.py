"""IR spectra from dipole time series (Wiener–Khinchin), as in the MACE4IR paper.

Recipe: dμ/dt (central differences of μ(t), or given directly, e.g. the atomic
polar-tensor route Σ_i P_i·v_i), its autocorrelation C(τ) by FFT up to
``max_corr_fs``, a Hann window, the *symmetric* (mirrored) C(τ) zero-padded and
Fourier transformed (a one-sided transform would smear every line, see DESIGN.md).

Units: the returned intensity is in **km/mol per cm^-1** under the classical
fluctuation–dissipation relation at ``temperature_K``: for a harmonic molecule
with classical thermal motion, the integral of a band over wavenumber equals the
harmonic intensity of that mode in km/mol. Concretely
I(ν̃) = 2c·S(ν̃) · 42.2561 / (Debye² · kT · fs²) with S the windowed power spectrum
of dμ/dt (e·Å/fs), c in cm/fs, kT in eV and ASE's fs and Debye.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import units
from scipy import fft

from mace4ir.errors import Mace4irError
from mace4ir.units import DA2_AMU_TO_KM_MOL

C_CM_PER_FS = 2.99792458e-5  # speed of light in cm/fs
HC_OVER_K_CM_K = 1.438776877  # second radiation constant hc/k_B in cm·K
QUANTUM_CORRECTIONS = ("harmonic", "standard", "schofield")
WINDOWS = ("hann", "none")


@dataclass
class SpectrumResult:
    wavenumbers_cm1: np.ndarray
    intensity: np.ndarray  # mean over replicas, km/mol per cm^-1
    std: np.ndarray  # spread (standard deviation) over replicas
    per_replica: np.ndarray  # (n_replicas, n_wavenumbers)
    # a committee's dipole members, each averaged over the replicas: (n_members, n_wavenumbers)
    per_member: np.ndarray | None = None

    @property
    def member_std(self) -> np.ndarray | None:
        """Spread (standard deviation) over the committee's dipole members, or None."""
        return None if self.per_member is None else self.per_member.std(axis=0)

    @property
    def band(self) -> np.ndarray:
        """±1σ band of the mean: the replica spread, combined in quadrature with the members'
        spread for a committee (two independent sources: sampling and model)."""
        member = self.member_std
        return self.std if member is None else np.sqrt(self.std**2 + member**2)

    def to_csv(self, path) -> None:
        columns = [self.wavenumbers_cm1, self.intensity, self.std]
        header = "wavenumber_cm1,intensity_km_mol_per_cm1,std_over_replicas"
        if self.per_member is not None:
            columns.append(self.member_std)
            header += ",std_over_members"
        np.savetxt(path, np.column_stack(columns), delimiter=",", header=header, comments="")


def dipole_derivative(dipoles: np.ndarray, timestep_fs: float) -> np.ndarray:
    """dμ/dt (e·Å/fs) by second-order central differences along the time axis (axis -2)."""
    return np.gradient(dipoles, timestep_fs, axis=-2)


def autocorrelation(signal: np.ndarray, max_lag: int) -> np.ndarray:
    """Unbiased autocorrelation Σ_t x(t)·x(t+τ)/(T-τ) for τ = 0..max_lag, summed over the 3
    components."""
    n = signal.shape[0]
    size = fft.next_fast_len(2 * n)
    spec = fft.rfft(signal, n=size, axis=0)
    acf = fft.irfft(np.sum(np.abs(spec) ** 2, axis=1), n=size)[: max_lag + 1]
    return acf / (n - np.arange(max_lag + 1))


def hann_half_window(max_lag: int) -> np.ndarray:
    """w(τ) = cos²(πτ / 2τmax): the right half of a Hann window centred at τ = 0."""
    return np.cos(0.5 * np.pi * np.arange(max_lag + 1) / max_lag) ** 2


def symmetric_transform(acf: np.ndarray, timestep_fs: float, zero_pad: int = 4):
    """(frequencies 1/fs, S(f)) of the mirrored C(τ), zero-padded in the middle to keep it even."""
    m = len(acf) - 1
    size = fft.next_fast_len(max(zero_pad, 1) * 2 * m)
    sym = np.zeros(size)
    sym[: m + 1] = acf
    sym[size - m :] = acf[1:][::-1]  # negative lags: C(-τ) = C(τ)
    spectrum = fft.rfft(sym).real * timestep_fs
    return fft.rfftfreq(size, d=timestep_fs), spectrum


def quantum_correction_factor(
    wavenumbers_cm1: np.ndarray, temperature_K: float, kind: str
) -> np.ndarray:
    """Factor multiplying the classical line shape (βħω = hcν̃/kT)."""
    x = HC_OVER_K_CM_K * np.asarray(wavenumbers_cm1, dtype=np.float64) / temperature_K
    if kind == "harmonic":
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(x > 1e-12, x / -np.expm1(-x), 1.0)
    if kind == "standard":
        return 2.0 / (1.0 + np.exp(-x))
    if kind == "schofield":
        return np.exp(0.5 * x)
    raise Mace4irError(
        f"unknown quantum correction {kind!r}; choose one of {QUANTUM_CORRECTIONS} or None"
    )


def _single_spectrum(series, timestep_fs, max_lag, window, zero_pad, is_derivative):
    deriv = series if is_derivative else dipole_derivative(series, timestep_fs)
    acf = autocorrelation(deriv, max_lag)
    if window == "hann":
        acf = acf * hann_half_window(max_lag)
    freq, spec = symmetric_transform(acf, timestep_fs, zero_pad)
    if not is_derivative:  # undo the central difference's response sin(ωΔt)/(ωΔt) exactly
        omega_dt = 2.0 * np.pi * freq * timestep_fs
        with np.errstate(invalid="ignore", divide="ignore"):
            response = np.where(omega_dt > 0, np.sin(omega_dt) / omega_dt, 1.0)
        spec = spec / np.maximum(response, 1e-3) ** 2
    return freq / C_CM_PER_FS, spec


def replica_spectra(
    dipoles,
    timestep_fs: float,
    max_corr_fs: float = 1000.0,
    temperature_K: float = 300.0,
    is_derivative: bool = False,
    window: str = "hann",
    zero_pad: int = 4,
    quantum_correction: str | None = None,
    max_wavenumber: float | None = 4500.0,
) -> SpectrumResult:
    """Spectra of (T, 3) or (R, T, 3) dipole series (e·Å; or dμ/dt in e·Å/fs if
    ``is_derivative``)."""
    data = np.asarray(dipoles, dtype=np.float64)
    if data.ndim == 2:
        data = data[None]
    if data.ndim != 3 or data.shape[-1] != 3 or data.shape[1] < 4:
        raise Mace4irError(
            f"dipole series must have shape (steps, 3) or (replicas, steps, 3) with >= 4 steps, "
            f"got {np.shape(dipoles)}"
        )
    if window not in WINDOWS:
        raise Mace4irError(f"unknown window {window!r}; choose one of {WINDOWS}")
    max_lag = int(min(round(max_corr_fs / timestep_fs), data.shape[1] - 1))
    spectra = []
    for series in data:
        wn, spec = _single_spectrum(series, timestep_fs, max_lag, window, zero_pad, is_derivative)
        spectra.append(spec)
    kT = units.kB * temperature_K
    scale = 2.0 * C_CM_PER_FS * DA2_AMU_TO_KM_MOL / (units.Debye**2 * kT * units.fs**2)
    spectra = np.array(spectra) * scale
    if quantum_correction:
        spectra = (
            spectra * quantum_correction_factor(wn, temperature_K, quantum_correction)[None, :]
        )
    if max_wavenumber is not None:
        keep = wn <= max_wavenumber
        wn, spectra = wn[keep], spectra[:, keep]
    return SpectrumResult(wn, spectra.mean(axis=0), spectra.std(axis=0), spectra)


def ir_spectrum_from_dipoles(dipoles, timestep_fs: float, max_corr_fs: float = 1000.0, **kwargs):
    """(wavenumbers cm^-1, intensity km/mol per cm^-1) averaged over replicas; see
    :func:`replica_spectra`."""
    res = replica_spectra(dipoles, timestep_fs, max_corr_fs, **kwargs)
    return res.wavenumbers_cm1, res.intensity
