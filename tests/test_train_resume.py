"""Kill-and-resume: a run SIGKILLed mid-training and resumed with --resume reproduces
the uninterrupted run's per-step losses exactly (CPU, float64)."""

import json
import os
import signal
import subprocess
import sys
import time

from mace4ir.training import train
from mace4ir.training.loop.metrics_log import read_rows

STEPS, EVERY, KILL_AFTER = 8, 3, 4


def _cli(prepared, out, *extra):
    return [
        sys.executable,
        "-m",
        "mace4ir.cli",
        "train",
        "--data",
        str(prepared),
        "--out",
        str(out),
        "--model",
        "ef_tiny",
        "--max-steps",
        str(STEPS),
        "--batch-size",
        "6",
        "--num-workers",
        "0",
        "--checkpoint-every",
        str(EVERY),
        "--eval-every",
        "4",
        "--log-every",
        "1",
        "--no-progress",
        *extra,
    ]


def _losses(run, phase):
    return {r["step"]: r["loss"] for r in read_rows(run, phase)}


def _last_logged_step(run):
    path = run / "metrics.jsonl"
    if not path.exists():
        return 0
    steps = [json.loads(line)["step"] for line in path.read_text().splitlines() if line.strip()]
    return max(steps, default=0)


def _train_in_process(prepared, out, resume=False):
    train(
        prepared,
        out,
        model="ef_tiny",
        max_steps=STEPS,
        batch_size=6,
        num_workers=0,
        log_every_steps=1,
        eval_every_steps=4,
        checkpoint={"every_steps": EVERY},
        progress=False,
        resume=resume,
    )


def test_kill_and_resume_reproduces_losses(prepared_sample, tmp_path, caplog):
    ref = tmp_path / "ref"
    _train_in_process(prepared_sample, ref)

    run = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen(
        _cli(prepared_sample, run), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    while proc.poll() is None and _last_logged_step(run) < KILL_AFTER:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "run finished before it could be killed"
    done = sorted(p.name for p in (run / "checkpoints").glob("step-*.pt"))
    assert done and done[-1] < f"step-{STEPS:09d}.pt"

    with caplog.at_level("INFO"):
        _train_in_process(prepared_sample, run, resume=True)
    assert "resuming from" in caplog.text

    assert _losses(run, "train") == _losses(
        ref, "train"
    )  # bitwise: same floats, same steps, no gaps
    assert _losses(run, "val") == _losses(ref, "val")
    assert sorted(_losses(run, "train")) == list(range(1, STEPS + 1))


def test_existing_run_needs_resume_flag(prepared_sample, tmp_path, caplog):
    from mace4ir.cli import main

    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    (tmp_path / "run" / "checkpoints" / "step-000000001.pt").write_bytes(b"x")
    code = main(
        [
            "train",
            "--data",
            str(prepared_sample),
            "--out",
            str(tmp_path / "run"),
            "--model",
            "ef_tiny",
        ]
    )
    assert code == 2
    assert "already holds a training run; pass --resume" in caplog.text
