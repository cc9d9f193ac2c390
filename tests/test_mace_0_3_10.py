"""Models written by mace-torch 0.3.10 (the MACE4IR paper's version) in this engine.

The fixtures (tests/data/mace_0_3_10, made by its make_fixtures.py with mace-torch 0.3.10)
load only with trust_pickle=True; energies, forces, dipoles, Hessians and harmonic
frequencies from the IR engine (folded contractions, fused convolutions) equal those of
mace-torch's own calculator on the same files, and mace-torch 0.3.10's own numbers.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms

FIXTURES = Path(__file__).parent / "data" / "mace_0_3_10"
EF32, EF64, DIPOLE = (
    "MACE4IR_EF_small_float32.model",
    "MACE4IR_EF_large_float64.model",
    "MACE4IR_D.model",
)
REFERENCE = json.loads((FIXTURES / "reference.json").read_text())
# agreement per precision: energy eV, forces eV/Å, Hessian eV/Å², frequencies cm⁻¹ (absolute);
# intensities (relative: the reference's dipole derivatives are finite differences)
TOL = {EF32: (1e-4, 1e-6, 1e-5, 1e-3, 1e-4), EF64: (1e-10, 1e-12, 1e-12, 1e-8, 1e-6)}


def molecules() -> list[Atoms]:
    return [Atoms(m["symbols"], positions=m["positions"]) for m in REFERENCE["molecules"]]


def mace_calculator(name: str):
    """mace-torch's own ASE calculator on a fixture file."""
    from mace.calculators import MACECalculator

    return MACECalculator(
        model_paths=str(FIXTURES / name),
        device="cpu",
        default_dtype="float32" if "float32" in name else "float64",
        model_type="DipoleMACE" if name == DIPOLE else "MACE",
    )


@pytest.fixture(scope="module")
def ours():
    import mace4ir

    return {ef: mace4ir.load(FIXTURES, trust_pickle=True, ef=ef) for ef in (EF32, EF64)}


def test_fixtures_say_how_they_were_made():
    assert REFERENCE["made_with"]["mace-torch"] == "0.3.10"
    readme = (FIXTURES / "README.md").read_text()
    assert "mace-torch 0.3.10" in readme and "make_fixtures.py" in readme


def test_pickles_load_only_when_trusted():
    import mace4ir
    from mace4ir.errors import Mace4irError
    from mace4ir.training.models.weights_io import load_mace_pickle

    with pytest.raises(Mace4irError, match=r"holds mace-torch pickles.*trust_pickle=True"):
        mace4ir.load(FIXTURES)
    with pytest.raises(Mace4irError, match="can run arbitrary code"):
        load_mace_pickle(FIXTURES / DIPOLE)


def test_engine_uses_its_own_kernels_on_old_files(ours):
    kinds = {type(m).__name__ for m in ours[EF64].engine.ef.model.modules()}
    assert {"FoldedSymmetricContraction", "FusedConvolution"} <= kinds


@pytest.mark.parametrize("ef", [EF32, EF64])
def test_energies_forces_dipoles_equal_mace_torch(ours, ef):
    e_tol, f_tol = TOL[ef][:2]
    theirs, their_dipole = mace_calculator(ef), mace_calculator(DIPOLE)
    rows = zip(molecules(), REFERENCE["results"][ef], REFERENCE["results"][DIPOLE])
    for atoms, ref, ref_dipole in rows:
        mine, other, other_dipole = atoms.copy(), atoms.copy(), atoms.copy()
        mine.calc, other.calc, other_dipole.calc = ours[ef], theirs, their_dipole
        energy, forces, dipole = (
            mine.get_potential_energy(),
            mine.get_forces(),
            mine.get_dipole_moment(),
        )
        for e in (other.get_potential_energy(), ref["energy"]):  # mace-torch now and 0.3.10
            assert energy == pytest.approx(e, rel=0, abs=e_tol)
        for f in (other.get_forces(), ref["forces"]):
            np.testing.assert_allclose(forces, f, rtol=0, atol=f_tol)
        for d in (other_dipole.get_dipole_moment(), ref_dipole["dipole"]):
            np.testing.assert_allclose(dipole, d, rtol=0, atol=1e-12)
        assert np.abs(forces).max() > 1e-4 and np.abs(dipole).max() > 1e-3  # not trivial


@pytest.mark.parametrize("ef", [EF32, EF64])
def test_hessians_and_frequencies_equal_mace_torch(ours, ef):
    """Our autograd Hessian against mace-torch's own (``get_hessian``), and the harmonic
    frequencies and intensities of harmonic_ir against the same normal-mode analysis of
    mace-torch's Hessian and finite-difference dipole derivatives of its dipole model."""
    from mace4ir.evaluation import harmonic_ir
    from mace4ir.evaluation.harmonic.normal_modes import analyse

    _, _, h_tol, nu_tol, i_tol = TOL[ef]
    atoms = molecules()[1]  # acetamide: H, C, N, O
    other = atoms.copy()
    other.calc = mace_calculator(ef)
    their_hessian = other.calc.get_hessian(other).reshape(3 * len(atoms), -1)
    ((hessian, _),) = ours[ef].hessian_and_dipole_derivatives([atoms])
    np.testing.assert_allclose(hessian, their_hessian, rtol=0, atol=h_tol)

    result = harmonic_ir(atoms, ours[ef], optimize=False)
    theirs = analyse(their_hessian, dipole_derivatives(atoms), atoms.get_masses(), atoms.positions)
    np.testing.assert_allclose(result.frequencies_cm1, theirs.frequencies_cm1, atol=nu_tol)
    np.testing.assert_allclose(
        result.intensities_km_mol, theirs.intensities_km_mol, rtol=i_tol, atol=1e-6
    )


def test_hessian_equals_ase_vibrations_with_mace_torch(ours, tmp_path):
    """ase.vibrations (central differences of mace-torch's forces) gives the same Hessian."""
    from ase.vibrations import Vibrations

    atoms = molecules()[2]  # water
    other = atoms.copy()
    other.calc = mace_calculator(EF64)
    vib = Vibrations(other, name=str(tmp_path / "vib"), delta=1e-3)
    vib.run()
    ((hessian, _),) = ours[EF64].hessian_and_dipole_derivatives([atoms])
    np.testing.assert_allclose(hessian, vib.get_vibrations().get_hessian_2d(), rtol=0, atol=1e-4)


def dipole_derivatives(atoms: Atoms, step: float = 1e-4) -> np.ndarray:
    """∂μ/∂x (3n, 3) by central differences of mace-torch's dipole calculator."""
    other = atoms.copy()
    other.calc = mace_calculator(DIPOLE)
    x = atoms.positions.reshape(-1)
    out = np.zeros((x.size, 3))
    for k in range(x.size):
        for sign in (1, -1):
            y = x.copy()
            y[k] += sign * step
            other.positions = y.reshape(-1, 3)
            out[k] += sign * other.get_dipole_moment() / (2 * step)
    return out
