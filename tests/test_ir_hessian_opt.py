"""Exact-Hessian-seeded BFGS: same minimum and criterion as ASE's BFGS, far fewer force calls,
Hessian reuse only when the geometry did not move, non-convergence still reported."""

import numpy as np
import pytest
from ase.build import molecule
from ase.optimize import BFGS
from untrained_models import untrained_pair

from mace4ir.evaluation import MaceIRCalculator, harmonic_ir, xtb_calculator
from mace4ir.evaluation.harmonic.calculation import finite_difference_derivatives
from mace4ir.evaluation.harmonic.optimizer import SeededBFGS, seed_hessian


@pytest.fixture(scope="module")
def tiny_calc():
    ef, ef_spec, d, d_spec = untrained_pair()
    return MaceIRCalculator(ef, ef_spec, d, d_spec)


def test_seed_is_positive_definite_and_keeps_internal_curvature():
    rng = np.random.default_rng(0)
    atoms = molecule("CH3CH2OH")
    a = rng.normal(size=(27, 27))
    seed = seed_hessian(a + a.T, atoms.positions)
    assert np.allclose(seed, seed.T) and np.linalg.eigvalsh(seed).min() > 0


def test_seeded_bfgs_reaches_the_bfgs_minimum_in_few_steps_on_xtb():
    start = molecule("CH3CH2OH")
    start.positions[3] += (0.05, -0.04, 0.03)  # off the minimum
    calc = xtb_calculator()
    plain = start.copy()
    plain.calc = calc
    ref = BFGS(plain, logfile=None)
    assert ref.run(fmax=1e-3, steps=300)
    seeded = start.copy()
    seeded.calc = calc
    hessian, _ = finite_difference_derivatives(seeded, calc)
    opt = SeededBFGS(seeded, seed_hessian(hessian, seeded.positions), logfile=None)
    assert opt.run(fmax=1e-3, steps=300)
    assert np.linalg.norm(seeded.get_forces(), axis=1).max() <= 1e-3
    assert opt.nsteps <= max(5, ref.nsteps // 3)
    assert np.abs(seeded.positions - plain.positions).max() < 0.01


def test_hessian_reused_only_when_the_geometry_did_not_move(tiny_calc):
    first = harmonic_ir(molecule("H2CO"), tiny_calc, optimizer="HessianBFGS")
    assert first.converged and first.max_force <= 1e-3 and first.optimizer_steps > 0
    again = harmonic_ir(first.atoms, tiny_calc, optimizer="HessianBFGS")
    assert again.optimizer_steps == 0
    direct = harmonic_ir(first.atoms, tiny_calc, optimize=False)
    assert np.allclose(again.hessian, direct.hessian, atol=1e-10)
    assert np.allclose(again.frequencies_cm1, direct.frequencies_cm1, atol=1e-6)


def test_seeded_non_convergence_is_reported(tiny_calc):
    bent = molecule("H2CO")
    bent.positions[1] += (0.0, 0.2, 0.1)
    res = harmonic_ir(bent, tiny_calc, optimizer="HessianBFGS", steps=1)
    assert not res.converged and res.max_force > 1e-3 and res.optimizer_steps == 1
