"""Where the frames to label come from, and which ones are worth an oracle call.

* Initial data: thermal displacements along the oracle's normal modes around its
  optimised geometry (PALIRS starts from normal-mode sampling): each frame draws every
  mode's amplitude from the classical Boltzmann distribution at the sampling temperature.
* Later data: the MD frames the committee disagrees on most (``uncertainty``, PALIRS), or
  frames drawn at random with probability proportional to the disagreement (``weighted``:
  top-k picks of one batch are all outliers, the most distorted frames, which taught the
  harmonic spectrum less than random thermal frames; stochastic acquisition favours
  uncertain frames without making every pick one), or, for the baseline, frames evenly
  spaced in time (``uniform``). Picks are spread over the trajectories: a frame is taken
  only if no frame already taken from the same trajectory lies within ``min_separation``
  steps of it (neighbouring frames carry the same information), and at most
  ``per_trajectory`` come from any one trajectory.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import units

# sqrt(eV / (Å² amu)) -> cm^-1, as in evaluation.harmonic.normal_modes
_OMEGA_TO_CM1 = units._hbar * 1e10 / np.sqrt(units._e * units._amu) / units.invcm
MIN_FREQUENCY_CM1 = 50.0  # softer modes are sampled as if at this frequency (no huge amplitudes)


def normal_mode_samples(harmonic, n: int, temperature_K: float, seed: int) -> list[np.ndarray]:
    """``n`` displaced copies (positions, Å) of ``harmonic.atoms`` around its minimum."""
    atoms = harmonic.atoms
    masses, x0 = atoms.get_masses(), atoms.get_positions()
    sqrt_m = np.sqrt(masses)[:, None]
    q = (harmonic.modes * sqrt_m).reshape(len(harmonic.modes), -1)
    q /= np.linalg.norm(q, axis=1, keepdims=True)  # orthonormal mass-weighted modes
    omega = np.maximum(np.abs(harmonic.frequencies_cm1), MIN_FREQUENCY_CM1) / _OMEGA_TO_CM1
    rng = np.random.default_rng(seed)
    sigma = np.sqrt(units.kB * temperature_K) / omega  # Å·sqrt(amu) per mode
    out = []
    for _ in range(n):
        amplitudes = rng.normal(0.0, sigma)
        out.append(x0 + (amplitudes @ q).reshape(-1, 3) / sqrt_m)
    return out


def normal_mode_frames(harmonic, n: int, temperatures, seeds) -> list[np.ndarray]:
    """``n`` samples shared out evenly over ``temperatures`` (the first ones get the
    remainder), temperature i drawn with ``seeds[i]``."""
    share, extra = divmod(n, len(temperatures))
    out = []
    for i, (temp, seed) in enumerate(zip(temperatures, seeds, strict=True)):
        out += normal_mode_samples(harmonic, share + (i < extra), temp, seed)
    return out


@dataclass
class Candidate:
    trajectory: int  # replica index in the exploration batch
    step: int  # MD step the frame was recorded at
    uncertainty: float  # committee force disagreement (eV/Å)
    positions: np.ndarray


def select_uncertain(
    candidates: list[Candidate], k: int, min_separation: int, per_trajectory: int | None = None
) -> list[Candidate]:
    """Up to ``k`` candidates, most uncertain first, spread over trajectories and time."""
    ranked = sorted(candidates, key=lambda c: -c.uncertainty)
    return _spread(ranked, k, min_separation, per_trajectory)


def select_weighted(
    candidates: list[Candidate], k: int, min_separation: int, seed: int
) -> list[Candidate]:
    """Up to ``k`` candidates drawn without replacement, each with probability proportional
    to its uncertainty (Efraimidis-Spirakis keys u^(1/w)), spread like
    :func:`select_uncertain`."""
    weights = np.maximum([c.uncertainty for c in candidates], 1e-12)
    keys = np.log(np.random.default_rng(seed).random(len(candidates))) / weights
    ranked = [candidates[i] for i in np.argsort(-keys, kind="stable")]
    return _spread(ranked, k, min_separation, None)


def _spread(
    ranked: list[Candidate], k: int, min_separation: int, per_trajectory: int | None
) -> list[Candidate]:
    """The first ``k`` of ``ranked`` that keep ``min_separation`` steps from the frames
    already taken on their trajectory, at most ``per_trajectory`` per trajectory."""
    taken: list[Candidate] = []
    count: dict[int, int] = {}
    for c in ranked:
        if len(taken) == k:
            break
        if per_trajectory is not None and count.get(c.trajectory, 0) >= per_trajectory:
            continue
        if any(
            t.trajectory == c.trajectory and abs(t.step - c.step) < min_separation for t in taken
        ):
            continue
        taken.append(c)
        count[c.trajectory] = count.get(c.trajectory, 0) + 1
    return taken


def select_uniform(candidates: list[Candidate], k: int) -> list[Candidate]:
    """Up to ``k`` candidates evenly spaced in time over all trajectories, whatever the
    committee thinks: the plain-MD baseline that uncertainty-driven selection must beat."""
    ordered = sorted(candidates, key=lambda c: (c.trajectory, c.step))
    if len(ordered) <= k:
        return ordered
    picks = np.linspace(0, len(ordered) - 1, k + 2)[1:-1].round().astype(int)
    return [ordered[i] for i in picks]


def choose_frames(
    selection: str, candidates: list[Candidate], k: int, min_separation: int, seed: int = 0
) -> list[Candidate]:
    """The ``k`` frames an iteration labels: ``uncertainty`` (:func:`select_uncertain`),
    ``weighted`` (:func:`select_weighted`, drawn with ``seed``) or ``uniform``
    (:func:`select_uniform`, the baseline)."""
    if selection == "uniform":
        return select_uniform(candidates, k)
    if selection == "weighted":
        return select_weighted(candidates, k, min_separation, seed)
    return select_uncertain(candidates, k, min_separation)
