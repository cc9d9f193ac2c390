"""Harmonic IR against independent references: ase.vibrations.Infrared driving GFN2-xTB,
finite differences of a real mace-torch model, linear molecules, imaginary modes."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule
from ase.vibrations import Infrared
from untrained_models import untrained_pair

from mace4ir.evaluation import (
    MaceIRCalculator,
    harmonic_ir,
    harmonic_ir_many,
    xtb_calculator,
)
from mace4ir.evaluation.engine.ir_engine import _parallel_rows
from mace4ir.evaluation.harmonic.calculation import finite_difference_derivatives


@pytest.fixture(scope="module")
def tiny_calc():
    ef, ef_spec, d, d_spec = untrained_pair()
    return MaceIRCalculator(ef, ef_spec, d, d_spec)


def ase_infrared(atoms, tmp_path, nfree=4, delta=0.002):
    """Reference: ASE's own finite-difference IR on the same geometry with a fresh GFN2-xTB
    calculator."""
    ref = atoms.copy()
    ref.calc = xtb_calculator()
    ir = Infrared(ref, name=str(tmp_path / "ir"), delta=delta, nfree=nfree)
    ir.run()
    freqs = ir.get_frequencies().real
    order = np.argsort(freqs)
    return freqs[order], ir.intensities[order]


def test_xtb_harmonic_matches_ase_infrared(tmp_path):
    res = harmonic_ir(molecule("H2CO"), xtb_calculator(), fmax=1e-4, nfree=4)
    assert res.converged and res.max_force < 1e-4
    ref_f, ref_i = ase_infrared(res.atoms, tmp_path)
    n_vib = len(res.frequencies_cm1)
    assert n_vib == 6
    ref_f, ref_i = ref_f[-n_vib:], ref_i[-n_vib:]  # ASE keeps the 6 near-zero rigid-body modes
    assert np.abs(res.frequencies_cm1 - ref_f).max() < 2.0
    gaps = np.array([np.min(np.abs(np.delete(ref_f, k) - f)) for k, f in enumerate(ref_f)])
    strong = (ref_i > 0.05 * ref_i.max()) & (gaps > 20.0)
    assert strong.sum() >= 3
    assert res.intensities_D2A2amu[strong] == pytest.approx(ref_i[strong], rel=0.05)
    assert res.intensities_km_mol == pytest.approx(42.2561 * res.intensities_D2A2amu)
    # the default 2-point stencil agrees with the 4-point one on the same geometry
    two = harmonic_ir(res.atoms, xtb_calculator(), optimize=False, nfree=2)
    assert np.abs(two.frequencies_cm1 - res.frequencies_cm1).max() < 2.0


def test_linear_molecule_has_3n_minus_5_modes():
    res = harmonic_ir(molecule("CO2"), xtb_calculator(), fmax=1e-4)
    assert res.linear and len(res.frequencies_cm1) == 4
    bend = res.frequencies_cm1[:2]
    assert bend[0] == pytest.approx(bend[1], abs=0.5)  # degenerate bending pair
    assert (
        res.intensities_km_mol[2] < 1e-3 * res.intensities_km_mol[3]
    )  # symmetric stretch is IR-inactive
    assert np.all(res.frequencies_cm1 > 0) and res.imaginary_cm1.size == 0


def test_saddle_point_reports_imaginary_mode_and_non_convergence_is_reported():
    linear_water = Atoms("OH2", positions=[(0, 0, 0), (0.96, 0, 0), (-0.96, 0, 0)])
    res = harmonic_ir(linear_water, xtb_calculator(), optimize=False)
    assert res.imaginary_cm1.size >= 1 and res.frequencies_cm1[0] < 0
    assert res.frequencies_cm1[0] == pytest.approx(-res.imaginary_cm1[0])
    assert res.to_dict()["imaginary_cm1"] == pytest.approx(list(res.imaginary_cm1))
    bent = molecule("H2O")
    bent.positions[1] += (0.0, 0.15, 0.1)
    unconverged = harmonic_ir(bent, xtb_calculator(), steps=1)
    assert not unconverged.converged and unconverged.max_force > 1e-3


def test_autograd_hessian_and_dipole_derivatives_equal_finite_differences(tiny_calc):
    atoms = molecule("CH3CH2OH")
    ((hessian, dmu_dx),) = tiny_calc.hessian_and_dipole_derivatives([atoms])
    fd_h, fd_d = finite_difference_derivatives(atoms, tiny_calc, delta=1e-3, nfree=4)
    assert np.abs(hessian - fd_h).max() < 1e-6 * max(1.0, np.abs(hessian).max())
    assert np.abs(dmu_dx - fd_d).max() < 1e-6 * max(1.0, np.abs(dmu_dx).max())
    assert np.abs(hessian).max() > 1e-3 and np.abs(dmu_dx).max() > 1e-3  # not trivially zero


def test_batched_hessians_equal_single_molecule_ones(tiny_calc):
    mols = [molecule("CH3CH2OH"), molecule("H2CO"), molecule("CH4")]
    batched = tiny_calc.hessian_and_dipole_derivatives(mols)
    for atoms, (h, d) in zip(mols, batched):
        ((h1, d1),) = tiny_calc.hessian_and_dipole_derivatives([atoms])
        assert np.allclose(h, h1, atol=1e-10) and np.allclose(d, d1, atol=1e-10)
    apt = tiny_calc.get_apt(mols[0])
    assert np.allclose(apt.transpose(0, 2, 1).reshape(-1, 3), batched[0][1], atol=1e-10)


def test_rigid_body_columns_from_the_gradient_equal_differentiated_ones(tiny_calc):
    """H·translation = 0 and H·rotation = ω × gradient, exactly, away from a minimum too: a Hessian
    built from 3n - 6 (linear: 3n - 5) products equals the one from all 3n, in one batch."""
    eng = tiny_calc.engine
    co2 = molecule("CO2")
    co2.positions[0, 2] += 0.05  # stretched: non-zero gradient; still linear
    ethanol = molecule("CH3CH2OH")
    ethanol.rattle(0.05, seed=1)
    mols = [ethanol, co2, molecule("CH4"), Atoms("O", positions=[(0, 0, 0)])]
    graph, pos = eng.graph(mols, static=True), eng.positions(mols)
    energy, forces = eng.energy_forces(graph, pos)
    assert forces.abs().max() > 1e-2  # not at a stationary point
    full = eng.hessians(graph, pos, symmetry=False)
    for h_sym, h_full in zip(eng.hessians(graph, pos), full):
        assert np.abs(h_sym - h_full).max() < 1e-10 * max(1.0, np.abs(h_full).max())
    assert np.abs(full[0]).max() > 1e-3


def test_hessian_rows_in_parallel_threads_equal_sequential_rows(tiny_calc, monkeypatch):
    """On CPU the rows run in one thread per core, one intra-op thread each: same Hessians as
    one row after another, the thread setting restored afterwards, also when a row fails."""
    import torch

    from mace4ir.evaluation.engine import ir_engine as engine_mod

    eng = tiny_calc.engine
    mols = [molecule("CH3CH2OH"), molecule("H2CO")]
    graph, pos = eng.graph(mols, static=True), eng.positions(mols)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)  # one worker: rows one after another
        sequential = eng.hessians(graph, pos)
        torch.set_num_threads(2)
        calls = []
        monkeypatch.setattr(
            engine_mod, "_parallel_rows", lambda *a: calls.append(a[3]) or _parallel_rows(*a)
        )
        parallel = eng.hessians(graph, pos)
        assert calls == [2] and torch.get_num_threads() == 2
        for h_seq, h_par in zip(sequential, parallel):
            assert np.abs(h_par - h_seq).max() <= 1e-12 * np.abs(h_seq).max()
        x = torch.ones(3, requires_grad=True)
        with pytest.raises(RuntimeError, match="shape"):
            _parallel_rows(2 * x, x, torch.ones(4, 5, dtype=x.dtype), 2)  # seeds of the wrong size
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_autograd_and_finite_difference_spectra_agree(tiny_calc):
    atoms = molecule("H2CO")
    auto = harmonic_ir(atoms, tiny_calc, optimize=False)
    fd = harmonic_ir(atoms, tiny_calc, optimize=False, method="fd", nfree=4)
    assert auto.method == "autograd" and fd.method == "fd4"
    assert np.abs(auto.frequencies_cm1 - fd.frequencies_cm1).max() < 1.0
    assert auto.intensities_km_mol == pytest.approx(fd.intensities_km_mol, rel=1e-3, abs=1e-3)
    many = harmonic_ir_many([atoms, atoms.copy()], tiny_calc, optimize=False)
    assert np.allclose(many[1].frequencies_cm1, auto.frequencies_cm1, atol=1e-6)


def test_normal_modes_and_reduced_masses_are_consistent():
    res = harmonic_ir(molecule("H2O"), xtb_calculator(), fmax=1e-4)
    modes = res.modes.reshape(len(res.frequencies_cm1), -1)
    assert np.allclose(np.linalg.norm(modes, axis=1), 1.0)
    masses = np.repeat(res.atoms.get_masses(), 3)
    # reduced mass of a normalised Cartesian mode: Σ m_i l_i² over the mass-weighted normalisation
    mw = modes * np.sqrt(masses)
    assert np.allclose(np.abs(mw @ mw.T), np.diag(np.diag(mw @ mw.T)), atol=1e-8)  # mass-orthogonal
    assert np.allclose(res.reduced_masses, np.sum(masses * modes**2, axis=1))
    assert 1.0 < res.reduced_masses.min() < res.reduced_masses.max() < 2.0  # H-dominated modes
