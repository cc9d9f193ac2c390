"""Inputs of `mace4ir ir` are read and checked before anything expensive, with one-line
errors (issue 15, items 9, 10 (xTB on overlapping atoms) and 12 (checks before the model
load, imaginary modes logged once))."""

import logging
from pathlib import Path

import numpy as np
import pytest

from mace4ir.cli import main
from mace4ir.errors import DataFormatError
from mace4ir.evaluation.spectra.experimental import read_jcamp

NIST = Path(__file__).parents[1] / "configs" / "benchmarks" / "nist_ir"


def _xydata_cut(tmp_path, keep_lines, end=True):
    """methane.jdx with its XYDATA table cut after ``keep_lines`` lines."""
    lines = (NIST / "methane.jdx").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("##XYDATA"))
    cut = lines[: start + 1 + keep_lines] + (["##END="] if end else [])
    path = tmp_path / "cut.jdx"
    path.write_text("\n".join(cut) + "\n")
    return path


def _xypoints(tmp_path, n_points=200, npoints=500, end=False):
    x = np.linspace(400, 4000, n_points)
    body = "\n".join(f"{a:.2f}, {b:.5f}" for a, b in zip(x, np.exp(-(((x - 1500) / 50) ** 2))))
    head = "##TITLE=t\n##JCAMP-DX=4.24\n##DATA TYPE=INFRARED SPECTRUM\n##XUNITS=1/CM\n"
    head += f"##YUNITS=ABSORBANCE\n##NPOINTS={npoints}\n##XYPOINTS=(XY..XY)\n"
    path = tmp_path / "points.jdx"
    path.write_text(head + body + ("\n##END=\n" if end else "\n"))
    return path


def test_truncated_or_garbled_jcamp_files_are_one_line_errors(tmp_path):
    """Item 9: a raw numpy ValueError, or a truncated file accepted silently."""
    cut = _xydata_cut(tmp_path, 29)
    with pytest.raises(DataFormatError, match=f"{cut}: the data table holds 145 values for 3583"):
        read_jcamp(cut)
    with pytest.raises(DataFormatError, match="no ##END= line; the file is truncated"):
        read_jcamp(_xydata_cut(tmp_path, 29, end=False))
    with pytest.raises(DataFormatError, match="no ##END= line; the file is truncated"):
        read_jcamp(_xypoints(tmp_path))
    with pytest.raises(DataFormatError, match="NPOINTS=500 but the data table holds 200 points"):
        read_jcamp(_xypoints(tmp_path, end=True))
    assert len(read_jcamp(_xypoints(tmp_path, npoints=200, end=True))[0]) == 200
    garbled = tmp_path / "garbled.jdx"
    garbled.write_text((NIST / "methane.jdx").read_text().replace("0.9530 0.9530", "0.95x? 0.9"))
    with pytest.raises(DataFormatError, match="garbled.jdx: not a readable JCAMP-DX file"):
        read_jcamp(garbled)


def test_reference_is_read_before_the_spectrum_is_computed(tmp_path, caplog, monkeypatch):
    """Item 9: `ir --reference` read the file only after the spectrum, leaving partial output."""
    from mace4ir.evaluation.calculators import from_options

    monkeypatch.setattr(from_options, "build", _must_not_build)
    argv = ["ir", "harmonic", "O", "--name", "water", "--calculator", "xtb"]
    argv += ["--out", str(tmp_path / "out"), "--reference", str(_xydata_cut(tmp_path, 29))]
    assert main(argv) == 2
    assert "cut.jdx: the data table holds 145 values" in caplog.text
    assert not (tmp_path / "out").exists()


def _must_not_build(spec):
    raise AssertionError("the calculator was built before the inputs were checked")


def _overlapping_xyz(tmp_path):
    path = tmp_path / "clash.xyz"
    path.write_text("3\nwater with a clash\nO 0 0 0\nH 0.1 0 0\nH -0.3 0.9 0\n")
    return path


@pytest.mark.parametrize("calculator", [["--calculator", "xtb"], ["--ef", "E", "--dipole", "D"]])
def test_molecule_is_checked_before_the_calculator_is_built(
    tmp_path, caplog, monkeypatch, calculator
):
    """Item 10 (xTB crashed with a traceback on overlapping atoms) and item 12 (the molecule was
    checked only after the model load)."""
    from mace4ir.evaluation.calculators import from_options

    monkeypatch.setattr(from_options, "build", _must_not_build)
    for name in ("E", "D"):
        (tmp_path / name).mkdir()
    monkeypatch.chdir(tmp_path)
    argv = ["ir", "harmonic", str(_overlapping_xyz(tmp_path)), *calculator, "--out", "out"]
    assert main(argv) == 2
    assert "atoms 0 (O) and 1 (H) overlap: 0.100 Å apart" in caplog.text
    assert "Traceback" not in caplog.text


def test_model_elements_are_checked_before_the_model_loads(tmp_path, caplog, monkeypatch):
    from untrained_models import untrained_pair

    from mace4ir.evaluation.calculators import from_options
    from mace4ir.training.models.weights_io import save_model

    ef, ef_spec, d, d_spec = untrained_pair()  # H, C, N, O
    save_model(ef, ef_spec, tmp_path / "ef")
    save_model(d, d_spec, tmp_path / "d")
    monkeypatch.setattr(from_options, "build", _must_not_build)
    argv = ["ir", "harmonic", "CCl", "--ef", str(tmp_path / "ef"), "--dipole"]
    assert main([*argv, str(tmp_path / "d"), "--out", str(tmp_path / "out")]) == 2
    assert "molecule CCl: element(s) Cl (Z=17) not in the model's element table" in caplog.text


def test_imaginary_modes_are_logged_once(tmp_path, caplog):
    """Item 12: a saddle point's imaginary modes were logged twice (and all of them)."""
    caplog.set_level(logging.INFO)
    linear = tmp_path / "linear_water.xyz"
    linear.write_text("3\nsaddle\nO 0 0 0\nH 0.96 0 0\nH -0.96 0 0\n")
    argv = ["ir", "harmonic", str(linear), "--calculator", "xtb", "--no-optimize"]
    assert main([*argv, "--out", str(tmp_path / "out")]) == 0
    assert caplog.text.count("imaginary mode") == 1


def test_slow_steps_of_large_molecules_report_progress(caplog):
    """Item 12: minutes without output on a 300-atom molecule."""
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from ase.optimize import BFGS

    from mace4ir.evaluation.harmonic.progress import announce, attach_progress

    caplog.set_level(logging.INFO)
    cluster = bulk("Cu", cubic=True).repeat((2, 2, 2))  # 32 atoms: below the announce threshold
    announce(cluster, "optimising")
    assert caplog.text == ""
    cluster = cluster.repeat((2, 1, 1))
    cluster.rattle(0.05, seed=1)
    announce(cluster, "optimising the geometry")
    assert "Cu64 (64 atoms): optimising the geometry ..." in caplog.text
    cluster.calc = EMT()
    opt = BFGS(cluster, logfile=None)
    attach_progress(opt, cluster, every_s=0.0)
    opt.run(fmax=1e-3, steps=3)
    assert "Cu64: optimisation step 3, max force" in caplog.text
