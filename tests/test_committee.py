"""Committees: spread zero for identical members and positive otherwise, the mean drives MD,
harmonic spread per mode, uncertainty-driven selection spread over trajectories."""

import numpy as np
import pytest
from untrained_models import untrained_pair

from mace4ir.active_learning.sampling import Candidate, select_uncertain
from mace4ir.evaluation import MaceIRCalculator, md_ir
from mace4ir.evaluation.calculators.committee import CommitteeCalculator, force_disagreement
from mace4ir.evaluation.harmonic.committee import harmonic_committee
from mace4ir.evaluation.harmonic.mode_matching import match_modes
from mace4ir.molecules import load_molecule


@pytest.fixture(scope="module")
def pairs():
    a = untrained_pair(precision="float64", seed=0)
    b = untrained_pair(precision="float64", seed=3)
    return a, b


def committee(*members):
    return CommitteeCalculator.from_models(
        [(m[0], m[1]) for m in members], [(members[0][2], members[0][3])]
    )


def test_identical_members_do_not_disagree_and_different_ones_do(pairs):
    a, b = pairs
    mol = load_molecule("CCO")
    same = committee(a, a).evaluate([mol])[0]
    assert same["force_disagreement"] < 1e-12 and same["energy_std"] < 1e-12
    single = MaceIRCalculator(*a).evaluate([mol])[0]
    np.testing.assert_allclose(same["forces"], single["forces"], atol=1e-12)
    diff = committee(a, b).evaluate([mol])[0]
    assert diff["force_disagreement"] > 1e-3 and diff["relative_force_disagreement"] > 0
    # the mean is the mean: members evaluated alone average to the committee's forces
    fb = MaceIRCalculator(*b).evaluate([mol])[0]["forces"]
    np.testing.assert_allclose(diff["forces"], 0.5 * (single["forces"] + fb), atol=1e-10)


def test_force_disagreement_by_hand():
    members = np.zeros((2, 3, 3))
    members[1, 0, 0] = 0.2  # one atom, one component differs by 0.2 eV/Å
    worst, relative = force_disagreement(members)
    assert worst == pytest.approx(0.1)  # deviation of each member from the mean
    assert relative == pytest.approx(np.sqrt(0.01 / 3) / (np.sqrt(0.01 / 3) + 0.1))


def test_harmonic_spread_is_zero_for_identical_members(pairs):
    a, b = pairs
    mol = load_molecule("C=O")
    same = harmonic_committee(mol, committee(a, a), optimize=False)
    assert np.max(same.extra["frequency_std_cm1"]) < 1e-6
    diff = harmonic_committee(mol, committee(a, b), optimize=False)
    assert np.mean(diff.extra["frequency_std_cm1"]) > 1.0
    assert len(diff.extra["intensity_std_km_mol"]) == len(diff.frequencies_cm1)


def test_modes_are_matched_by_shape_not_order():
    rng = np.random.default_rng(0)
    modes = rng.normal(size=(4, 3, 3))
    perm = np.array([2, 0, 3, 1])
    assert list(match_modes(modes, -modes[perm], np.ones(3))) == list(np.argsort(perm))


def test_committee_of_identical_members_runs_the_same_md(pairs, tmp_path):
    a, _ = pairs
    mol = load_molecule("O")
    kw = dict(replicas=2, thermalization_ps=0.0, production_ps=0.01, seed=5, progress=False)
    ref = md_ir(mol, MaceIRCalculator(*a), **kw)
    com = md_ir(mol, committee(a, a), **kw)
    np.testing.assert_allclose(
        com.spectra[0].intensity, ref.spectra[0].intensity, rtol=1e-8, atol=1e-12
    )


def test_md_band_over_dipole_members_is_zero_for_identical_ones_and_survives_a_resume(
    pairs, tmp_path
):
    a, b = pairs
    mol = load_molecule("O")
    kw = dict(
        replicas=2, thermalization_ps=0.0, production_ps=0.01, chunk_steps=8, seed=5, progress=False
    )

    def dipoles_of(*members):
        return CommitteeCalculator.from_models([a[:2]], [(m[2], m[3]) for m in members])

    same = md_ir(mol, dipoles_of(a, a), **kw).spectra[0]
    assert same.per_member.shape == (2, len(same.wavenumbers_cm1))
    assert same.member_std.max() < 1e-9 * same.intensity.max()
    res = md_ir(mol, dipoles_of(a, b), out=tmp_path / "md", **kw)
    spec = res.spectra[0]
    # the recorded members average to the dipole that made the mean spectrum
    assert res.members.shape == (1, 2, 2, res.dipoles.shape[2], 3)
    np.testing.assert_allclose(res.members.mean(axis=1), res.dipoles, atol=1e-12)
    assert spec.member_std.max() > 1e-3 * spec.intensity.max()
    assert np.all(spec.band >= spec.std) and np.any(spec.band > spec.std)
    header = (tmp_path / "md" / "spectrum_mol000.csv").read_text().splitlines()[0]
    assert header.split(",")[-1] == "std_over_members"
    # a rerun on the finished folder rebuilds the band from its chunk files alone
    again = md_ir(mol, dipoles_of(a, b), out=tmp_path / "md", **kw).spectra[0]
    np.testing.assert_allclose(again.member_std, spec.member_std, rtol=1e-12)


def test_selection_takes_the_most_uncertain_frames_spread_over_trajectories():
    pos = np.zeros((1, 3))
    frames = [Candidate(0, s, u, pos) for s, u in ((10, 0.9), (20, 0.95), (30, 0.1), (400, 0.8))]
    frames += [Candidate(1, s, u, pos) for s, u in ((10, 0.5), (300, 0.3))]
    chosen = select_uncertain(frames, k=3, min_separation=100)
    # 0.95 first; 0.9 is a neighbour of it on trajectory 0 (10 steps apart), so 0.8 and 0.5 follow
    assert [(c.trajectory, c.step) for c in chosen] == [(0, 20), (0, 400), (1, 10)]
    capped = select_uncertain(frames, k=3, min_separation=1, per_trajectory=1)
    assert sorted(c.trajectory for c in capped) == [0, 1]
