"""`mace4ir bench` end to end: the shipped NIST suite with GFN2-xTB, a MACE model against an
xTB reference run, chunked runs merged, and clear CLI errors."""

import csv
import json
import math

import numpy as np
import pytest

from mace4ir.cli import main
from mace4ir.evaluation.suites.compare import spectral_metrics
from mace4ir.evaluation.suites.store import ResultStore

NIST_FEW = "water,methanol,carbon_dioxide"


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def xtb_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "xtb"
    assert (
        main(
            [
                "bench",
                "nist_shipped",
                "--calculator",
                "xtb",
                "--molecules",
                NIST_FEW,
                "--out",
                str(out),
            ]
        )
        == 0
    )
    return out


def test_nist_suite_end_to_end_with_xtb(xtb_run):
    report = (xtb_run / "report.md").read_text()
    for word in (
        "# Benchmark report: nist_shipped",
        "GFN2-xTB",
        "3 ok, 0 failed",
        "pearson",
        "wasserstein_cm1",
        "mimyria",
        "Per class",
        "plots/overview.png",
    ):
        assert word in report
    rows = {r["id"]: r for r in _rows(xtb_run / "tables" / "molecules.csv")}
    assert set(rows) == {"water", "methanol", "carbon_dioxide"}
    for row in rows.values():
        assert row["reference"] == "experimental" and row["prediction"] == "harmonic"
        for metric in ("pearson", "spearman", "cosine", "sis", "wasserstein_cm1", "mimyria"):
            assert math.isfinite(float(row[metric]))
    classes = {r["class"]: r for r in _rows(xtb_run / "tables" / "classes.csv")}
    assert classes["all"]["n"] == "3" and classes["Small inorganic"]["n"] == "2"
    mean = np.mean([float(rows[i]["pearson"]) for i in ("water", "carbon_dioxide")])
    assert float(classes["Small inorganic"]["pearson"]) == pytest.approx(mean)
    results = {r["id"]: r for r in ResultStore(xtb_run).results()}
    assert len(results["water"]["harmonic"]["frequencies_cm1"]) == 3
    assert len(results["carbon_dioxide"]["harmonic"]["frequencies_cm1"]) == 4  # linear
    for name in ("water.png", "methanol.png", "carbon_dioxide.png", "overview.png"):
        assert (xtb_run / "plots" / name).stat().st_size > 1000


def test_experimental_comparison_uses_the_right_molecule(xtb_run):
    """Methanol's predicted spectrum matches methanol's NIST spectrum better than water's."""
    from mace4ir.evaluation.suites.compare import grid_from, predicted_spectra, reference_spectra

    results = {r["id"]: r for r in ResultStore(xtb_run).results()}
    grid = grid_from({})
    pred = predicted_spectra(results["methanol"], grid, {})["harmonic"]
    own = reference_spectra(results["methanol"], grid, {}, None)["experimental"][0]
    other = reference_spectra(results["water"], grid, {}, None)["experimental"][0]
    assert (
        spectral_metrics(grid, pred, own)["pearson"]
        > spectral_metrics(grid, pred, other)["pearson"] + 0.2
    )


def test_rerun_skips_finished_molecules(xtb_run):
    before = {p.name: p.stat().st_mtime_ns for p in (xtb_run / "results").glob("*.json")}
    assert (
        main(
            [
                "bench",
                "nist_shipped",
                "--calculator",
                "xtb",
                "--molecules",
                NIST_FEW,
                "--out",
                str(xtb_run),
                "--no-plots",
            ]
        )
        == 0
    )
    assert {p.name: p.stat().st_mtime_ns for p in (xtb_run / "results").glob("*.json")} == before


def test_reference_run_against_itself_is_perfect(xtb_run, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(xtb_run, copy)
    assert main(["bench-report", str(copy), "--reference", str(xtb_run), "--no-plots"]) == 0
    rows = [r for r in _rows(copy / "tables" / "molecules.csv") if r["reference"] == "run_harmonic"]
    assert len(rows) == 3
    for row in rows:
        assert float(row["freq_mae_cm1"]) == 0 and float(row["int_mae_D2A2amu"]) == 0
        assert float(row["pearson"]) == pytest.approx(1.0) and float(
            row["mimyria"]
        ) == pytest.approx(0.0, abs=1e-9)


def test_mace_model_against_xtb_reference(xtb_run, tmp_path):
    """--ef/--dipole with real (untrained, tiny) mace-torch models, compared mode by mode with
    xTB."""
    from untrained_models import untrained_pair

    from mace4ir.training.models.weights_io import save_model

    ef, ef_spec, dip, dip_spec = untrained_pair(elements=(1, 6, 8))
    save_model(ef, ef_spec, str(tmp_path / "ef_run" / "best_model"))
    save_model(dip, dip_spec, str(tmp_path / "d_run" / "best_model"))
    out = tmp_path / "ml"
    code = main(
        [
            "bench",
            "nist_shipped",
            "--ef",
            str(tmp_path / "ef_run"),
            "--dipole",
            str(tmp_path / "d_run"),
            "--molecules",
            "water,methanol",
            "--set",
            "harmonic.optimize=false",
            "--reference",
            str(xtb_run),
            "--out",
            str(out),
            "--no-plots",
        ]
    )
    assert code == 0
    run = json.loads((out / "run.json").read_text())
    assert run["calculator"]["type"] == "paths" and run["settings"]["harmonic"]["optimize"] is False
    rows = [r for r in _rows(out / "tables" / "molecules.csv") if r["reference"] == "run_harmonic"]
    assert {r["id"] for r in rows} == {"water", "methanol"}
    for row in rows:
        assert int(row["n_modes"]) == {"water": 3, "methanol": 12}[row["id"]]
        assert float(row["freq_mae_cm1"]) > 0 and math.isfinite(float(row["int_mae_D2A2amu"]))
    results = {r["id"]: r for r in ResultStore(out).results()}
    assert results["water"]["harmonic"]["method"] == "autograd"


def test_chunks_merge_to_the_same_tables_as_one_run(xtb_run, tmp_path):
    chunks = []
    for i in (1, 2):
        out = tmp_path / f"chunk{i}"
        assert (
            main(
                [
                    "bench",
                    "nist_shipped",
                    "--calculator",
                    "xtb",
                    "--molecules",
                    NIST_FEW,
                    "--chunk",
                    f"{i}/2",
                    "--out",
                    str(out),
                    "--no-report",
                ]
            )
            == 0
        )
        chunks.append(out)
    assert sorted(p.name for c in chunks for p in (c / "results").glob("*.json")) == [
        "carbon_dioxide.json",
        "methanol.json",
        "water.json",
    ]
    merged = tmp_path / "merged"
    assert main(["bench-merge", *map(str, chunks), "--out", str(merged), "--no-plots"]) == 0
    merged_rows, single_rows = (
        _rows(merged / "tables" / "molecules.csv"),
        _rows(xtb_run / "tables" / "molecules.csv"),
    )
    assert [r["id"] for r in merged_rows] == [r["id"] for r in single_rows]
    for m, s in zip(merged_rows, single_rows):
        assert m.keys() == s.keys()
        for key in m.keys() - {"elapsed_s"}:
            # Separate xTB runs agree to ~1e-12, not bitwise, and rank metrics (Spearman) amplify
            # that
            # (near-equal tail values swap ranks: ~1e-6 seen). A merge mistake (wrong or swapped
            # row,
            # lost value) shows as a mismatched id or a gross difference, so 1e-3 still catches it.
            if _is_number(s[key]):
                assert float(m[key]) == pytest.approx(float(s[key]), rel=1e-3, abs=1e-6), (
                    m["id"],
                    key,
                )
            else:
                assert m[key] == s[key], (m["id"], key)
    assert "3 ok, 0 failed" in (merged / "report.md").read_text()


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_merge_refuses_different_setups(xtb_run, tmp_path):
    other = tmp_path / "other"
    assert (
        main(
            [
                "bench",
                "nist_shipped",
                "--calculator",
                "xtb",
                "--xtb-accuracy",
                "0.01",
                "--molecules",
                "water",
                "--out",
                str(other),
                "--no-report",
            ]
        )
        == 0
    )
    assert main(["bench-merge", str(xtb_run), str(other), "--out", str(tmp_path / "m")]) == 2


@pytest.mark.parametrize(
    "argv, message",
    [
        (["bench", "nist_shipped"], "give exactly one of --model"),
        (["bench", "nist_shipped", "--calculator", "xtb", "--chunk", "3/2"], "need 1 <= I <= N"),
        (
            ["bench", "nist_shipped", "--calculator", "xtb", "--molecules", "kryptonite"],
            "unknown molecule id",
        ),
        (
            ["bench", "nist_shipped", "--calculator", "xtb", "--set", "optimize=false"],
            "expected BLOCK.KEY=VALUE",
        ),
        (
            ["bench", "no_such_suite", "--calculator", "xtb"],
            "not found as a file or built-in benchmarks config",
        ),
        (
            ["bench", "nist_shipped", "--ef", "/nonexistent/run", "--dipole", "/nonexistent/d"],
            "no such run folder",
        ),
    ],
)
def test_cli_errors_are_one_clear_line(argv, message, caplog, tmp_path):
    assert main([*argv, "--out", str(tmp_path / "o")]) == 2
    assert message in caplog.text


def test_slurm_array_script_runs_each_chunk_and_merges(tmp_path):
    """slurm/bench_array.sh as Slurm runs it (array task env vars), then the merge command."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).parents[1] / "slurm" / "bench_array.sh"
    mace4ir = str(Path(sys.executable).parent / "mace4ir")
    for task in (4, 5):  # an array submitted as --array=4-5
        env = {
            **os.environ,
            "SUITE": "nist_shipped",
            "OUT": str(tmp_path),
            "CALC_ARGS": "--calculator xtb",
            "EXTRA_ARGS": "--molecules water,carbon_dioxide",
            "MACE4IR": mace4ir,
            "SLURM_ARRAY_TASK_ID": str(task),
            "SLURM_ARRAY_TASK_MIN": "4",
            "SLURM_ARRAY_TASK_COUNT": "2",
            "SLURM_CPUS_PER_TASK": "1",
        }
        env.pop("SLURM_JOB_ID", None)
        subprocess.run(["bash", str(script)], env=env, check=True, capture_output=True)
    assert [p.name for p in (tmp_path / "chunk_1" / "results").glob("*.json")] == ["water.json"]
    assert [p.name for p in (tmp_path / "chunk_2" / "results").glob("*.json")] == [
        "carbon_dioxide.json"
    ]
    assert (
        main(
            [
                "bench-merge",
                str(tmp_path / "chunk_1"),
                str(tmp_path / "chunk_2"),
                "--out",
                str(tmp_path / "merged"),
                "--no-plots",
            ]
        )
        == 0
    )
    assert "2 ok, 0 failed" in (tmp_path / "merged" / "report.md").read_text()


def test_short_md_spectrum_is_compared_with_experiment(tmp_path):
    """--kind md with GFN2-xTB (a very short trajectory: checks the MD path, not its accuracy)."""
    out = tmp_path / "md"
    assert (
        main(
            [
                "bench",
                "nist_shipped",
                "--calculator",
                "xtb",
                "--molecules",
                "water",
                "--kind",
                "md",
                "--set",
                "md.thermalization_ps=0.005",
                "--set",
                "md.production_ps=0.1",
                "--set",
                "md.replicas=1",
                "--set",
                "md.max_corr_fs=50",
                "--out",
                str(out),
                "--no-plots",
            ]
        )
        == 0
    )
    result = ResultStore(out).results()[0]
    assert result["status"] == "ok" and result["md"]["options"]["production_ps"] == 0.1
    assert (out / "md" / "water").is_dir()  # trajectories/checkpoints kept per molecule (resumable)
    rows = _rows(out / "tables" / "molecules.csv")
    assert [(r["prediction"], r["reference"]) for r in rows] == [("md", "experimental")]
    assert math.isfinite(float(rows[0]["pearson"]))


@pytest.mark.slow  # builds, exports and reloads a release: ~1 min on a busy 2-core machine
def test_released_model_with_model_option(tmp_path):
    """--model loads a release folder through mace4ir.load (real export of tiny mace-torch runs)."""
    from release_helpers import make_run

    from mace4ir.release.export import ExportOptions, export_release

    ef, dipole = make_run(tmp_path, "ef", seed=1), make_run(tmp_path, "dipole", seed=2)
    release = export_release(
        ExportOptions(ef=ef, dipole=dipole, out=tmp_path / "release", repo_id="org/tiny")
    )
    out = tmp_path / "bench"
    assert (
        main(
            [
                "bench",
                "nist_shipped",
                "--model",
                str(release),
                "--molecules",
                "methanol",
                "--set",
                "harmonic.optimize=false",
                "--out",
                str(out),
                "--no-plots",
            ]
        )
        == 0
    )
    result = ResultStore(out).results()[0]
    assert result["status"] == "ok", result.get("error")
    assert (
        len(result["harmonic"]["frequencies_cm1"]) == 12
        and result["harmonic"]["method"] == "autograd"
    )
    assert json.loads((out / "run.json").read_text())["calculator"]["type"] == "model"


def test_unknown_suite_options_stop_before_any_molecule(tmp_path, caplog):
    out = tmp_path / "o"
    assert (
        main(
            [
                "bench",
                "nist_shipped",
                "--calculator",
                "xtb",
                "--set",
                "harmonic.fmx=0.01",
                "--out",
                str(out),
            ]
        )
        == 2
    )
    assert "unknown harmonic option(s) fmx" in caplog.text and "fmax" in caplog.text
    assert not (out / "results").exists()


def test_dft_modes_and_spectrum_reference_files(xtb_run, tmp_path):
    """references: harmonic (modes CSV, km/mol only) and spectrum (CSV) are read and compared."""
    from mace4ir.evaluation.suites.compare import (
        compare,
        grid_from,
        harmonic_spectrum,
        load_reference_modes,
    )
    from mace4ir.units import DA2_AMU_TO_KM_MOL

    water = next(r for r in ResultStore(xtb_run).results() if r["id"] == "water")
    harm = water["harmonic"]
    modes_csv = tmp_path / "water_modes.csv"
    modes_csv.write_text(
        "frequency_cm1,intensity_km_mol\n"
        + "".join(f"{f},{i}\n" for f, i in zip(harm["frequencies_cm1"], harm["intensities_km_mol"]))
    )
    modes = load_reference_modes(modes_csv)
    assert np.allclose(modes["intensities_D2A2amu"] * DA2_AMU_TO_KM_MOL, harm["intensities_km_mol"])
    grid = grid_from({})
    spectrum_csv = tmp_path / "water_spectrum.csv"
    y = harmonic_spectrum(modes, grid, {})
    spectrum_csv.write_text(
        "wavenumber_cm1,intensity\n" + "".join(f"{x},{v}\n" for x, v in zip(grid, y))
    )
    result = json.loads(json.dumps(water))
    result["molecule"]["references"] = {"harmonic": str(modes_csv), "spectrum": str(spectrum_csv)}
    rows = {r["reference"]: r for r in compare(result, {}, None)}
    assert rows["harmonic"]["freq_mae_cm1"] == 0 and rows["harmonic"]["n_modes"] == 3
    assert rows["harmonic"]["int_mae_D2A2amu"] == pytest.approx(0, abs=1e-9)
    assert (
        rows["spectrum"]["pearson"] == pytest.approx(1.0) and "freq_mae_cm1" not in rows["spectrum"]
    )
