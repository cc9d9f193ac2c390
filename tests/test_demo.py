"""The main job end to end: `mace4ir demo --quick` (tiny sample, one molecule, short MD)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

STEPS = [
    "sample",
    "prep",
    "train_ef",
    "train_dipole",
    "errors",
    "harmonic",
    "md",
    "active_learning",
    "export",
    "push",
    "report",
]
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from mace4ir.cli import main

    out = tmp_path_factory.mktemp("demo") / "run"
    assert main(["demo", "--out", str(out), "--quick"]) == 0
    return out


def result(out: Path, step: str) -> dict:
    return json.loads((out / ".steps" / f"{step}.json").read_text())["result"]


def test_quick_demo_runs_every_step_and_writes_the_report(demo):
    assert sorted(p.stem for p in (demo / ".steps").glob("*.json")) == sorted(STEPS)
    report = (demo / "report.md").read_text()
    for heading in (
        "## 1. Data",
        "## 2. Training",
        "## 3. Harmonic IR",
        "## 4. MD-based IR",
        "## 5. Active learning",
        "## 6. Release",
        "## Step timings",
    ):
        assert heading in report
    images = [
        line.split("](")[1].rstrip(")") for line in report.splitlines() if line.startswith("![")
    ]
    assert {
        "figures/elements.png",
        "figures/learning_curve.png",
        "figures/harmonic_dimethyl_ether.png",
        "figures/md_dimethyl_ether.png",
        "figures/active_learning_fluoroethene.png",
        "figures/active_learning_history.png",
    } <= set(images)
    for image in images:
        assert (demo / image).read_bytes()[:8] == PNG, image
    html = (demo / "report.html").read_text()
    assert "<table>" in html and '<img alt="element map" src="figures/elements.png"' in html


def test_demo_numbers_are_physical(demo):
    errors = result(demo, "errors")
    assert errors["ef"]["forces_mae_mev_A"] > 0 and errors["dipole"]["dipole_mae_meA"] > 0
    xtb = json.loads((demo / "ir" / "harmonic" / "dimethyl_ether_xtb.json").read_text())
    assert len(xtb["frequencies_cm1"]) == 3 * 9 - 6 and xtb["converged"]
    assert (
        min(xtb["frequencies_cm1"]) > 100 and max(xtb["frequencies_cm1"]) < 3300
    )  # C-O-C bend ... C-H stretch
    harmonic = result(demo, "harmonic")["molecules"][0]
    assert harmonic["molecule"] == "dimethyl ether" and harmonic["n_matched"] == 21
    md = result(demo, "md")["molecules"][0]
    assert -1 <= md["pearson"] <= 1 and 0 < md["sis"] <= 1


def test_demo_release_is_verified_and_dry_run_lists_it(demo):
    from mace4ir.checksums import verify_checksums

    release = demo / "release"
    verify_checksums(release, soft=frozenset())
    config = json.loads((release / "mace4ir_release.json").read_text())
    errors = result(demo, "errors")
    assert config["metrics"]["ef"]["forces_mae_mev_A"] == pytest.approx(
        errors["ef"]["forces_mae_mev_A"]
    )
    assert config["training_data"]["splits"] == result(demo, "prep")["splits"]
    plan = (demo / "push_dry_run.txt").read_text().splitlines()
    listed = {line.split()[0]: int(line.split()[1].replace(",", "")) for line in plan[1:]}
    assert listed == {p.name: p.stat().st_size for p in release.iterdir()}


def test_rerun_reuses_finished_steps(demo):
    from mace4ir.cli import main

    before = {p.name: p.read_text() for p in (demo / ".steps").iterdir()}
    (demo / "report.md").unlink()
    assert main(["demo", "--out", str(demo), "--quick"]) == 0
    assert {p.name: p.read_text() for p in (demo / ".steps").iterdir()} == before  # nothing redone
    assert not (demo / "report.md").exists()
    assert main(["demo", "--out", str(demo), "--quick", "--steps", "report", "--force"]) == 0
    assert (demo / "report.md").is_file()


def test_other_config_and_missing_steps_are_clear_errors(demo, tmp_path):
    from mace4ir.demo.run import run_demo
    from mace4ir.errors import Mace4irError

    with pytest.raises(Mace4irError, match="another config"):
        run_demo(demo, quick=False)
    with pytest.raises(
        Mace4irError, match=r"demo step 'errors' needs \['train_ef', 'train_dipole'\] first"
    ):
        run_demo(tmp_path / "fresh", quick=True, steps="errors")
    with pytest.raises(Mace4irError, match="unknown demo step"):
        run_demo(tmp_path / "fresh", quick=True, steps="train")


@pytest.mark.slow
def test_demo_killed_during_training_resumes(tmp_path):
    """SIGKILL while the EF model trains; the rerun keeps the finished steps and completes."""
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "mace4ir.cli", "demo", "--out", str(out), "--quick"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    ckpts = out / "runs" / "ef" / "checkpoints"
    deadline = time.monotonic() + 600
    while (
        not (ckpts.is_dir() and any(ckpts.iterdir()))
        and proc.poll() is None
        and time.monotonic() < deadline
    ):
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = {p.name: p.read_text() for p in (out / ".steps").glob("*.json")}
    assert "prep.json" in done_before  # killed in training (or just after its last checkpoint)
    assert subprocess.run(cmd, env=env, capture_output=True).returncode == 0
    for name, text in done_before.items():
        assert (out / ".steps" / name).read_text() == text
    assert (out / "report.html").is_file()


def test_demo_active_learning_round_trip(demo):
    import mace4ir

    al = result(demo, "active_learning")
    assert al["molecule"] == "fluoroethene" and al["iterations"] == 1
    modes = 3 * 6 - 6
    for side in ("before", "after"):
        assert al[side]["n_matched"] == modes and al[side]["frequency_mae_cm1"] > 0
    assert al["oracle_calls"] == 2 + modes  # held-out frames + one frame per mode
    calc = mace4ir.load(Path(al["folder"]) / "release", committee=True)
    assert calc.size == 2
