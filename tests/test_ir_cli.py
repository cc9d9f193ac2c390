"""`mace4ir ir harmonic|md` end to end: GFN2-xTB and saved mace-torch models, outputs, errors."""

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from untrained_models import untrained_pair

from mace4ir.cli import main
from mace4ir.training.models.weights_io import save_model

NIST = (
    Path(__file__).parents[1] / "configs" / "benchmarks" / "nist_ir"
)  # shipped NIST copies, headers kept


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_models")
    ef, ef_spec, d, d_spec = untrained_pair()
    save_model(ef, ef_spec, root / "ef")
    save_model(d, d_spec, root / "d")
    return ["--ef", str(root / "ef"), "--dipole", str(root / "d")]


def test_harmonic_xtb_with_experimental_reference(tmp_path):
    rc = main(
        [
            "ir",
            "harmonic",
            "O",
            "--name",
            "water",
            "--calculator",
            "xtb",
            "--out",
            str(tmp_path),
            "--reference",
            str(NIST / "water.jdx"),
        ]
    )
    assert rc == 0
    folder = tmp_path / "water"
    modes = np.loadtxt(folder / "modes.csv", delimiter=",", skiprows=1)
    assert modes.shape == (3, 5)
    assert 1450 < modes[0, 1] < 1700 and modes[0, 2] > 10  # H-O-H bend, km/mol
    data = json.loads((folder / "harmonic.json").read_text())
    assert data["converged"] and data["frequencies_cm1"] == pytest.approx(
        list(modes[:, 1]), abs=1e-3
    )
    spectrum = np.loadtxt(folder / "spectrum.csv", delimiter=",", skiprows=1)
    assert np.trapezoid(spectrum[:, 1], spectrum[:, 0]) == pytest.approx(
        modes[:, 2].sum(), rel=0.01
    )
    scores = json.loads((folder / "metrics.json").read_text())
    assert set(scores) >= {"pearson", "spearman", "cosine", "sis", "wasserstein_cm1", "mimyria"}
    assert (folder / "spectrum.png").stat().st_size > 10_000


def test_md_with_saved_models(tmp_path, models):
    md = [
        "ir",
        "md",
        "C",
        *models,
        "--replicas",
        "2",
        "--thermalization-ps",
        "0.002",
        "--production-ps",
        "0.01",
        "--out",
        str(tmp_path / "md"),
        "--no-progress",
        "--name",
        "methane",
    ]
    assert main(md) == 0
    first = np.loadtxt(tmp_path / "md" / "methane" / "md_spectrum.csv", delimiter=",", skiprows=1)
    assert first.shape[1] == 3 and np.all(np.isfinite(first))
    result = json.loads((tmp_path / "md" / "md_result.json").read_text())
    assert result["options"]["replicas"] == 2 and result["molecules"] == ["CH4"]


def test_cli_errors_are_one_line(tmp_path, caplog):
    caplog.set_level(logging.ERROR)
    assert main(["ir", "harmonic", "C1CC(", "--calculator", "xtb", "--out", str(tmp_path)]) == 2
    assert "valid SMILES" in caplog.text and "Traceback" not in caplog.text
    caplog.clear()
    assert main(["ir", "md", "C", "--out", str(tmp_path)]) == 2
    assert "--ef and --dipole" in caplog.text
    caplog.clear()
    assert main(["ir", "harmonic", "[Xe]", "--calculator", "xtb", "--out", str(tmp_path)]) == 2
    assert (
        "molecule [Xe]: a single atom has no vibrations" in caplog.text
        and "Traceback" not in caplog.text
    )


def test_help_states_units(capsys):
    with pytest.raises(SystemExit):
        main(["ir", "md", "--help"])
    text = capsys.readouterr().out
    assert "fs^-1" in text and "--replicas" in text and "resumes" in text


def test_harmonic_xtb_uses_the_molecules_charge(tmp_path):
    """A charged SMILES is computed as that ion by GFN2-xTB (it was silently run neutral)."""
    from mace4ir.evaluation import harmonic_ir, load_molecule, xtb_calculator

    assert (
        main(
            [
                "ir",
                "harmonic",
                "[OH-]",
                "--name",
                "hydroxide",
                "--calculator",
                "xtb",
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    got = json.loads((tmp_path / "hydroxide" / "harmonic.json").read_text())["frequencies_cm1"]
    ion = harmonic_ir(load_molecule("[OH-]"), xtb_calculator(charge=-1)).frequencies_cm1
    neutral = harmonic_ir(
        load_molecule("[OH-]"), xtb_calculator(charge=0, multiplicity=2)
    ).frequencies_cm1
    assert got == pytest.approx(list(ion), abs=0.5)
    assert abs(ion[0] - neutral[0]) > 20  # the two species really differ


def test_committee_spectra_from_the_cli_carry_the_members_spread(tmp_path):
    """``ir harmonic|md --committee`` on a committee folder (two EF and two D members that
    differ by seed): per-mode spread in modes.csv, a band over replicas and members in MD."""
    from mace4ir.training.models.committee import write_committee

    root = tmp_path / "committee"
    runs = {"ef": [], "dipole": []}
    for i, seed in enumerate((0, 3)):
        ef, ef_spec, d, d_spec = untrained_pair(seed=seed)
        for kind, model, spec in (("ef", ef, ef_spec), ("dipole", d, d_spec)):
            run = root / kind / f"member_{i:02d}"
            save_model(model, spec, run / "best_model")
            runs[kind].append(run)
    write_committee(root, runs)
    models = ["--ef", str(root), "--dipole", str(root), "--committee"]
    harmonic = ["ir", "harmonic", "C=O", *models, "--no-optimize", "--out", str(tmp_path / "h")]
    assert main(harmonic) == 0
    with open(next((tmp_path / "h").glob("*/modes.csv"))) as fh:
        header = fh.readline().strip().split(",")
    modes = np.loadtxt(next((tmp_path / "h").glob("*/modes.csv")), delimiter=",", skiprows=1)
    assert header[-2:] == ["frequency_std_cm1", "intensity_std_km_mol"]
    assert modes.shape[0] == 6 and np.all(modes[:, -2] > 0)  # two different members disagree
    md = ["ir", "md", "C=O", *models, "--replicas", "2", "--thermalization-ps", "0.002"]
    md += ["--production-ps", "0.01", "--out", str(tmp_path / "md"), "--no-progress"]
    assert main(md) == 0
    spectrum_csv = next((tmp_path / "md").glob("*/md_spectrum.csv"))
    assert spectrum_csv.read_text().splitlines()[0].endswith(",std_over_members")
    spectrum = np.loadtxt(spectrum_csv, delimiter=",", skiprows=1)
    assert spectrum.shape[1] == 4 and spectrum[:, 3].max() > 0
