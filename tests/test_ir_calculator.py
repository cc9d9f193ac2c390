"""MaceIRCalculator: same numbers as mace-torch's own MACECalculator, batching, model loading,
and clear errors for molecules a neutral-singlet model cannot describe."""

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import molecule
from untrained_models import untrained_pair

from mace4ir.errors import Mace4irError
from mace4ir.evaluation import MaceIRCalculator, load_molecule
from mace4ir.training.models.weights_io import save_model


@pytest.fixture(scope="module")
def pair():
    return untrained_pair()


@pytest.fixture(scope="module")
def calc(pair):
    return MaceIRCalculator(*pair)


@pytest.fixture(scope="module")
def saved(pair, tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    ef, ef_spec, d, d_spec = pair
    save_model(ef, ef_spec, root / "run_ef" / "best_model")  # a training RUN dir
    save_model(d, d_spec, root / "dip")  # a model_io stem
    torch.save(ef, root / "ef.model")  # mace-torch pickles
    torch.save(d, root / "d.model")
    return root


def test_matches_mace_torch_calculator(pair, calc, saved):
    from mace.calculators import MACECalculator

    atoms = molecule("CH3CH2OH")
    atoms.calc = calc
    ef_ref = MACECalculator(
        model_paths=str(saved / "ef.model"), device="cpu", default_dtype="float64"
    )
    d_ref = MACECalculator(
        model_paths=str(saved / "d.model"),
        device="cpu",
        default_dtype="float64",
        model_type="DipoleMACE",
    )
    ref = atoms.copy()
    ref.calc = ef_ref
    assert atoms.get_potential_energy() == pytest.approx(ref.get_potential_energy(), abs=1e-9)
    assert np.allclose(atoms.get_forces(), ref.get_forces(), atol=1e-9)
    ref.calc = d_ref
    assert np.allclose(atoms.get_dipole_moment(), ref.get_dipole_moment(), atol=1e-9)  # e·Å, both


def test_batch_equals_single_and_survives_neighbour_changes(calc):
    mols = [molecule("CH3CH2OH"), molecule("H2CO"), molecule("CH4")]
    batch = calc.evaluate(mols, apt=True)
    for atoms, res in zip(mols, batch):
        single = calc.evaluate([atoms], apt=True)[0]
        for key in ("energy", "forces", "dipole", "apt"):
            assert np.allclose(res[key], single[key], atol=1e-10), key
    # a stretched molecule whose atoms leave each other's cutoff: energies stay consistent
    far = molecule("H2CO")
    far.positions[3] += (0, 0, 7.0)
    e1 = calc.evaluate([far])[0]["energy"]
    far.calc = calc
    assert far.get_potential_energy() == pytest.approx(e1)


def test_apt_is_the_dipole_jacobian(calc):
    atoms = molecule("H2CO")
    apt = calc.get_apt(atoms)
    atoms.calc = calc
    h = 1e-4
    for i, b in [(0, 0), (2, 1), (3, 2)]:
        plus, minus = atoms.copy(), atoms.copy()
        plus.positions[i, b] += h
        minus.positions[i, b] -= h
        fd = (calc.evaluate([plus])[0]["dipole"] - calc.evaluate([minus])[0]["dipole"]) / (2 * h)
        assert np.allclose(apt[i, :, b], fd, atol=1e-7)
    assert np.allclose(
        apt.sum(axis=0), 0.0, atol=1e-8
    )  # translation leaves a (charge-free) dipole unchanged


def test_loading_from_run_dir_stem_and_pickles(saved, calc):
    atoms = molecule("CH4")
    expected = calc.evaluate([atoms])[0]
    loaded = MaceIRCalculator.from_paths(saved / "run_ef", saved / "dip")
    got = loaded.evaluate([atoms])[0]
    assert got["energy"] == pytest.approx(expected["energy"]) and np.allclose(
        got["dipole"], expected["dipole"]
    )
    with pytest.raises(Mace4irError, match="pickle"):
        MaceIRCalculator.from_paths(saved / "ef.model", saved / "d.model")
    pick = MaceIRCalculator.from_paths(saved / "ef.model", saved / "d.model", trust_pickle=True)
    assert pick.evaluate([atoms])[0]["energy"] == pytest.approx(expected["energy"])
    with pytest.raises(Mace4irError, match="swapped"):
        MaceIRCalculator.from_paths(saved / "dip", saved / "run_ef")
    with pytest.raises(Mace4irError, match="missing"):
        MaceIRCalculator.from_paths(saved / "nothing", saved / "dip")


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: molecule("CH3Cl"), r"Cl \(Z=17\)"),
        (lambda: Atoms("CO", positions=[(0, 0, 0), (0, 0, 0.2)]), "overlap"),
        (lambda: load_molecule("[NH4+]"), "charge 1"),
        (lambda: load_molecule("[CH3]"), "multiplicity 2"),
        (
            lambda: Atoms(
                "CH3", positions=[(0, 0, 0), (1.09, 0, 0), (-0.5, 0.9, 0), (-0.5, -0.9, 0)]
            ),
            "odd number",
        ),
    ],
)
def test_clear_errors_for_molecules_the_model_cannot_describe(calc, make, message):
    atoms = make()
    with pytest.raises(Mace4irError, match=message):
        atoms.calc = calc
        atoms.get_potential_energy()


def test_load_molecule_from_smiles_and_files(tmp_path):
    ethanol = load_molecule("CCO")
    assert ethanol.get_chemical_formula() == "C2H6O" and ethanol.info["charge"] == 0
    d = ethanol.get_distance(0, 1)
    assert 1.45 < d < 1.58  # an MMFF-optimised C-C bond
    path = tmp_path / "eth.xyz"
    Atoms(ethanol.numbers, ethanol.positions).write(path)  # no name inside: the file stem names it
    again = load_molecule(str(path))
    assert (
        np.allclose(again.positions, ethanol.positions, atol=1e-5) and again.info["name"] == "eth"
    )
    with pytest.raises(Mace4irError, match="valid SMILES"):
        load_molecule("C1CC(")
    with pytest.raises(Mace4irError, match="not found"):
        load_molecule(str(tmp_path / "missing.xyz"))
    bad = tmp_path / "bad.xyz"
    bad.write_text("3\nnot a number line\nC 0 0\n")
    with pytest.raises(Mace4irError, match="bad.xyz"):
        load_molecule(str(bad))
