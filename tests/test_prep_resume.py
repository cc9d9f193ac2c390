"""SIGKILL at known points of a real `mace4ir prep` process, rerun, identical output."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import SAMPLE_SEED

from mace4ir.data_prep.prepared.reader import load_manifest

ARGS = [
    "--val-size",
    "40",
    "--test-size",
    "40",
    "--train-size",
    "250",
    "--subsets",
    "100,250",
    "--shard-size",
    "64",
    "--seed",
    str(SAMPLE_SEED),
    "--workers",
    "2",
    "--keep-work",
    "--no-progress",
]


def start(source, out, pause_at=None):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("MACE4IR_PREP_PAUSE_AT", None)
    if pause_at:
        env["MACE4IR_PREP_PAUSE_AT"] = pause_at
    cmd = [
        sys.executable,
        "-m",
        "mace4ir.cli",
        "prep",
        "--source",
        str(source),
        "--out",
        str(out),
        *ARGS,
    ]
    return subprocess.Popen(
        cmd, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


def kill_when_paused(proc, out: Path):
    """Wait for the fault point (not for a guessed delay), then SIGKILL the whole process group."""
    paused = out / ".work" / "PAUSED"
    deadline = time.monotonic() + 300  # failsafe only
    while not paused.exists():
        assert proc.poll() is None, (
            f"run ended before the fault point:\n{proc.stdout.read().decode()}"
        )
        assert time.monotonic() < deadline, "fault point never reached"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    paused.unlink()
    assert not (out / "manifest.json").exists()


def inodes(paths):
    return {p: p.stat().st_ino for p in paths}


def test_sigkill_and_resume_gives_identical_output(qcml_sample, prepared_sample, tmp_path):
    out = tmp_path / "killed"
    # kill 1: during the scan, after two input shards are staged
    proc = start(qcml_sample, out, "scan:2")
    kill_when_paused(proc, out)
    done_units = [p.with_suffix(".bin") for p in (out / ".work/scan").glob("unit-*.json")]
    assert len(done_units) >= 2
    units_before = inodes(done_units)

    # kill 2: while an output shard is half written (first format on disk, marker not yet)
    proc = start(qcml_sample, out, "shard:3")
    kill_when_paused(proc, out)
    markers = list((out / ".work/shards").glob("*-?????.json"))
    done_shards = [
        out / f["path"] for m in markers for f in json.loads(m.read_text())["files"].values()
    ]
    assert done_shards
    shards_before = inodes(done_shards)

    # rerun to the end
    proc = start(qcml_sample, out)
    assert proc.wait() == 0, proc.stdout.read().decode()
    assert inodes(done_units) == units_before, "finished scan units were redone"
    assert inodes(done_shards) == shards_before, "finished output shards were redone"
    assert (
        load_manifest(out)["splits"] == load_manifest(prepared_sample)["splits"]
    )  # same records and sha256
    assert not list(out.rglob("*.tmp*"))
