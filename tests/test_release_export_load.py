"""Export -> load round trips of a real (tiny) mace-torch EF + D pair, checksums, pickles."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from ase.build import molecule
from release_helpers import ERRORS, MANIFEST, assert_same, predictions

pytest_plugins = ("release_helpers",)


@pytest.fixture(scope="module")
def runs(release_runs):
    return release_runs


@pytest.fixture(scope="module")
def release(release_folder):
    return release_folder


@pytest.fixture(scope="module")
def run_predictions(release_run_predictions):
    return release_run_predictions


def test_round_trip_gives_identical_energies_forces_dipoles(
    release, run_predictions, release_run_calculator
):
    import mace4ir
    from mace4ir.evaluation import harmonic_ir

    calc = mace4ir.load(release)
    released = predictions(calc)
    assert_same(released, run_predictions)
    assert any(
        np.abs(d).max() > 1e-6 for _, _, d in released
    )  # the dipole model is not trivially zero
    # autograd Hessians and dipole derivatives too (the loader builds e3nn code without TorchScript)
    water = molecule("H2O")
    a, b = (
        harmonic_ir(water, calc, optimize=False),
        harmonic_ir(water, release_run_calculator, optimize=False),
    )
    np.testing.assert_allclose(a.frequencies_cm1, b.frequencies_cm1, rtol=0, atol=1e-6)
    np.testing.assert_allclose(a.intensities_km_mol, b.intensities_km_mol, rtol=1e-9, atol=1e-9)


def test_weights_are_bit_identical(release, runs):
    from safetensors.torch import load_file

    for run, stem in zip(runs, ("mace4ir_ef", "mace4ir_dipole")):
        original, exported = (
            load_file(str(run / "best_model.safetensors")),
            load_file(str(release / f"{stem}.safetensors")),
        )
        assert original.keys() == exported.keys()
        for key in original:
            assert original[key].dtype == exported[key].dtype and bool(
                (original[key] == exported[key]).all()
            ), key


def test_exporting_again_gives_byte_identical_weights(release, runs, tmp_path):
    from mace4ir.release.export import ExportOptions, export_release

    opts = ExportOptions(ef=runs[0], dipole=runs[1], out=tmp_path / "x", repo_id="org/tiny")
    again = [export_release(replace(opts, out=tmp_path / f"again{i}")) for i in range(4)]
    for stem in ("mace4ir_ef", "mace4ir_dipole"):
        first = (release / f"{stem}.safetensors").read_bytes()
        assert all((a / f"{stem}.safetensors").read_bytes() == first for a in again), stem


def test_release_config_and_model_card(release, runs):
    from huggingface_hub import ModelCard

    config = json.loads((release / "mace4ir_release.json").read_text())
    ef_spec = json.loads((runs[0] / "best_model.json").read_text())
    assert config["models"]["ef"]["architecture"] == ef_spec["architecture"]
    assert config["models"]["ef"]["atomic_numbers"] == [1, 6, 7, 8]
    assert config["models"]["ef"]["atomic_energies_eV"] == {
        "H": -13.6,
        "C": -1029.8,
        "N": -1484.9,
        "O": -2041.9,
    }
    assert config["metrics"] == ERRORS
    assert config["training_data"]["rejected"] == MANIFEST["rejected"]
    card = ModelCard.load(release / "README.md")
    assert card.data.license == "mit" and card.data.library_name == "mace4ir"
    assert "infrared-spectroscopy" in card.data.tags
    for value in ("12.50", "150.00", "40.00", 'mace4ir.load("org/tiny")', "QCML", "MACE4IR"):
        assert value in card.text, value


@pytest.mark.skipif(shutil.which("sha256sum") is None, reason="coreutils sha256sum not installed")
def test_checksum_file_verifies_with_coreutils(release):
    listed = {line.split("  ", 1)[1] for line in (release / "SHA256SUMS").read_text().splitlines()}
    assert listed == {p.name for p in release.iterdir()} - {"SHA256SUMS"}
    subprocess.run(["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=release, check=True)


def test_corrupted_weights_give_checksum_error(release, tmp_path):
    import mace4ir
    from mace4ir.checksums import ChecksumError

    copy = Path(shutil.copytree(release, tmp_path / "copy"))
    target = copy / "mace4ir_dipole.safetensors"
    data = bytearray(target.read_bytes())
    data[-100] ^= 0x01  # one flipped bit in the tensor data
    target.write_bytes(bytes(data))
    with pytest.raises(
        ChecksumError, match="mace4ir_dipole.safetensors.*does not match SHA256SUMS"
    ):
        mace4ir.load(copy)
    target.unlink()
    with pytest.raises(
        ChecksumError, match="mace4ir_dipole.safetensors: listed in SHA256SUMS but missing"
    ):
        mace4ir.load(copy)


def test_export_refuses_unevaluated_model_unless_allowed(runs, tmp_path):
    from mace4ir.errors import Mace4irError
    from mace4ir.release.export import ExportOptions, export_release

    ef, dip = Path(shutil.copytree(runs[0], tmp_path / "run_ef")), runs[1]
    (ef / "test_errors.json").unlink()
    with pytest.raises(
        Mace4irError, match=r"test_errors.json: missing.*evaluate-errors.*--allow-missing-metrics"
    ):
        export_release(ExportOptions(ef=ef, dipole=dip, out=tmp_path / "rel"))
    assert not (tmp_path / "rel").exists()
    out = export_release(
        ExportOptions(ef=ef, dipole=dip, out=tmp_path / "rel", allow_missing_metrics=True)
    )
    assert json.loads((out / "mace4ir_release.json").read_text())["metrics"]["ef"] is None


def test_export_refuses_swapped_models_and_existing_output(runs, release, tmp_path):
    from mace4ir.errors import Mace4irError
    from mace4ir.release.export import ExportOptions, export_release

    with pytest.raises(Mace4irError, match="expected a 'ef' model, found kind 'dipole'"):
        export_release(ExportOptions(ef=runs[1], dipole=runs[0], out=tmp_path / "swapped"))
    with pytest.raises(Mace4irError, match="exists and is not empty"):
        export_release(ExportOptions(ef=runs[0], dipole=runs[1], out=release))
    assert not any(
        p.name.startswith(".swapped") for p in tmp_path.iterdir()
    )  # temp folder cleaned up


def test_mace_pickles_refused_without_trust_flag(runs, run_predictions, tmp_path):
    import torch

    import mace4ir
    from mace4ir.errors import Mace4irError
    from mace4ir.training.models.weights_io import load_model

    folder = tmp_path / "original_files"
    folder.mkdir()
    for run, name in zip(runs, ("MACE4IR_EF_small.model", "MACE4IR_D.model")):
        torch.save(
            load_model(run / "best_model")[0], folder / name
        )  # what mace-torch ships: a full pickle
    with pytest.raises(
        Mace4irError,
        match=r"pickles \(MACE4IR_D.model, MACE4IR_EF_small.model\).*trust_pickle=True",
    ):
        mace4ir.load(folder)
    assert_same(predictions(mace4ir.load(folder, trust_pickle=True)), run_predictions)


def populate_hub_cache(cache: Path, repo_id: str, release: Path, commit: str) -> None:
    """Lay the release out as huggingface_hub's cache does after a snapshot_download."""
    from mace4ir.hashing import sha256_file

    repo = cache / ("models--" + repo_id.replace("/", "--"))
    (repo / "blobs").mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for f in release.iterdir():
        blob = repo / "blobs" / sha256_file(f)
        shutil.copy(f, blob)
        (snapshot / f.name).symlink_to(os.path.relpath(blob, snapshot))


def test_load_from_hub_cache_offline(release, run_predictions, tmp_path, monkeypatch):
    import mace4ir

    cache = tmp_path / "hf_cache"
    populate_hub_cache(cache, "org/tiny", release, commit="a" * 40)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # read when load() is called
    calc = mace4ir.load("org/tiny", cache_dir=cache)
    assert_same(predictions(calc), run_predictions)


def test_offline_load_of_uncached_repo_is_a_clear_error(tmp_path, monkeypatch):
    import mace4ir
    from mace4ir.errors import Mace4irError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(
        Mace4irError,
        match="org/absent@main: no such local folder, not in the local Hugging Face cache",
    ):
        mace4ir.load("org/absent", cache_dir=tmp_path)
    with pytest.raises(Mace4irError, match="neither an existing folder nor a Hub repo id"):
        mace4ir.load(str(tmp_path / "no" / "such" / "folder"))


def test_dipole_errors_from_combined_evaluation_and_bench_results(runs, tmp_path):
    """`evaluate-errors RUN_EF --dipole-run RUN_D` writes both models' errors into the EF run;
    a `mace4ir bench` output folder goes into the card as a table."""
    from huggingface_hub import ModelCard

    from mace4ir.release.export import ExportOptions, export_release

    ef, dip = (Path(shutil.copytree(r, tmp_path / r.name)) for r in runs)
    (ef / "test_errors.json").write_text(
        json.dumps({**ERRORS["ef"], "dipole_mae_meA": 33.3, "dipole_rmse_meA": 44.4})
    )
    (dip / "test_errors.json").unlink()
    bench = tmp_path / "bench_out"
    (bench / "tables").mkdir(parents=True)
    (bench / "run.json").write_text(json.dumps({"suite": "harmonic_classes", "kind": "harmonic"}))
    (bench / "tables" / "classes.csv").write_text(
        "class,prediction,reference,n,frequency_mae_cm1,pearson\nall,model,dft,2,57.25,0.5\n"
    )
    out = export_release(
        ExportOptions(ef=ef, dipole=dip, out=tmp_path / "rel", bench=[bench], torchscript=True)
    )
    config = json.loads((out / "mace4ir_release.json").read_text())
    for kind in (
        "ef",
        "dipole",
    ):  # TorchScript: a loadable, checksummed file, or a recorded failure
        status = config["models"][kind]["torchscript"]
        if status == "ok":
            name = config["models"][kind]["torchscript_file"]
            assert name in (out / "SHA256SUMS").read_text()
            import torch

            assert isinstance(torch.jit.load(str(out / name)), torch.jit.ScriptModule)
        else:
            assert (
                status.startswith("failed (")
                and not (out / f"mace4ir_{kind}.torchscript.pt").exists()
            )
    assert config["metrics"]["dipole"]["dipole_mae_meA"] == 33.3
    assert config["benchmarks"][0]["results"] == [
        {
            "class": "all",
            "prediction": "model",
            "reference": "dft",
            "n": 2.0,
            "frequency_mae_cm1": 57.25,
            "pearson": 0.5,
        }
    ]
    text = ModelCard.load(out / "README.md").text
    assert (
        "33.30" in text
        and "### mace4ir bench harmonic_classes (harmonic)" in text
        and "57.25" in text
    )


def test_ir_cli_computes_a_spectrum_from_a_release_folder(release, tmp_path):
    """`mace4ir ir harmonic --model RELEASE` goes through mace4ir.load (checksums) and
    gives the same modes as the Python API on the loaded calculator."""
    import mace4ir
    from mace4ir.cli import main
    from mace4ir.evaluation import harmonic_ir

    rc = main(
        [
            "ir",
            "harmonic",
            "O",
            "--name",
            "water",
            "--model",
            str(release),
            "--no-optimize",
            "--out",
            str(tmp_path),
        ]
    )
    assert rc == 0
    cli = json.loads((tmp_path / "water" / "harmonic.json").read_text())
    api = harmonic_ir(molecule_from_cli(tmp_path / "water"), mace4ir.load(release), optimize=False)
    # the geometry round-trips through a text xyz file: agreement to ~1e-8 relative
    assert cli["frequencies_cm1"] == pytest.approx(list(api.frequencies_cm1), rel=1e-6)
    assert cli["intensities_km_mol"] == pytest.approx(
        list(api.intensities_km_mol), rel=1e-5, abs=1e-9
    )


def molecule_from_cli(folder):
    """The geometry the CLI used (it writes it next to the results)."""
    from ase.io import read

    files = sorted(folder.glob("*.xyz")) + sorted(folder.glob("*.extxyz"))
    assert files, f"no geometry written in {folder}"
    return read(files[0])
