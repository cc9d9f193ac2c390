"""Harmonic IR of a committee: the mean model's spectrum with a spread per mode.

Every member's Hessian and dipole derivatives are analysed at the mean model's minimum,
and its modes matched to the mean model's by shape (:mod:`.mode_matching`). The spread
is the standard deviation of the matched members' frequencies and intensities.
"""

from __future__ import annotations

import numpy as np

from mace4ir.evaluation.harmonic.calculation import HarmonicResult, harmonic_ir
from mace4ir.evaluation.harmonic.mode_matching import match_modes
from mace4ir.evaluation.harmonic.normal_modes import analyse


def harmonic_committee(atoms, committee, **harmonic_kwargs) -> HarmonicResult:
    """:func:`harmonic_ir` with a :class:`CommitteeCalculator`; ``extra`` gains
    ``frequency_std_cm1``, ``intensity_std_km_mol`` (per mode) and the members' matched
    ``member_frequencies_cm1`` and ``member_intensities_km_mol``."""
    mean = harmonic_ir(atoms, committee, method="autograd", **harmonic_kwargs)
    geom = mean.atoms
    masses, positions = geom.get_masses(), geom.get_positions()
    freqs, intens = [], []
    for per_molecule in committee.member_derivatives([geom]):
        hessian, dmu_dx = per_molecule[0]
        member = analyse(hessian, dmu_dx, masses, positions)
        order = match_modes(mean.modes, member.modes, masses)
        freqs.append(member.frequencies_cm1[order])
        intens.append(member.intensities_km_mol[order])
    freqs, intens = np.array(freqs), np.array(intens)
    mean.extra.update(
        frequency_std_cm1=freqs.std(axis=0).tolist(),
        intensity_std_km_mol=intens.std(axis=0).tolist(),
        member_frequencies_cm1=freqs.tolist(),
        member_intensities_km_mol=intens.tolist(),
    )
    return mean


def frequency_spread(result: HarmonicResult) -> float:
    """Mean per-mode frequency standard deviation (cm^-1) of a committee result."""
    return float(np.mean(result.extra["frequency_std_cm1"]))
