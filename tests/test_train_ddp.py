"""2-process DDP (gloo, real torchrun) equals 1 process with the same global batch.

Both runs take 3 optimizer steps on the same data order (DistributedSampler's
permutation; rank r gets every other record), 8 graphs per step in total. The
loss is normalised by global counts, so the gradients agree up to summation order:
in float64 the parameters (raw and EMA) after 3 steps must agree to 1e-9 absolute
(learning rate 1e-2, so one flipped Adam step would show up as ~1e-2).
"""

import os
import subprocess
import sys

import torch
from train_helpers import TINY

from mace4ir.training import train
from mace4ir.training.data.loaders import seed_everything
from mace4ir.training.loop.checkpoint import latest
from mace4ir.training.models.build import build_model

TOL = 1e-9
ARGS = dict(model="ef_tiny", max_steps=3, precision="float64")


def _params(run):
    state = latest(run / "checkpoints")
    assert state["state"]["step"] == 3
    return state["model"], state["ema"]["shadow_params"]


def test_two_process_ddp_matches_one_process(prepared_sample, tmp_path):
    one = tmp_path / "one"
    train(
        prepared_sample,
        one,
        **ARGS,
        **{**TINY, "batch_size": 8, "optimizer": {"lr": 1e-2}, "scheduler": {"warmup_steps": 1}},
    )
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("scheduler: {warmup_steps: 1}\noptimizer: {lr: 0.01}\ntensorboard: false\n")
    two = tmp_path / "two"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "mace4ir.cli",
        "train",
        "--data",
        prepared_sample,
        "--out",
        two,
        "--model",
        "ef_tiny",
        "--precision",
        "float64",
        "--max-steps",
        "3",
        "--batch-size",
        "4",
        "--num-workers",
        "0",
        "--log-every",
        "1",
        "--no-progress",
        "--config",
        cfg,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(list(map(str, cmd)), env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "rank 1/2" in proc.stderr  # really two ranks

    model1, ema1 = _params(one)
    model2, ema2 = _params(two)
    assert model1.keys() == model2.keys()
    for key in model1:
        torch.testing.assert_close(model2[key], model1[key], rtol=0, atol=TOL, msg=key)
    for a, b in zip(ema1, ema2):
        torch.testing.assert_close(b, a, rtol=0, atol=TOL)
    # meaningful only if training moved the weights far beyond TOL: rebuild the initial model
    saved = latest(one / "checkpoints")
    seed_everything(saved["config"]["seed"])
    initial = build_model(saved["spec"]).state_dict()
    floats = [k for k in model1 if model1[k].is_floating_point() and model1[k].numel()]
    moved = max(float((initial[k] - model1[k]).abs().max()) for k in floats)
    # 3 Adam steps of lr 1e-2 move each weight by at most ~3e-2 (and a wrong "initial" by far more)
    assert 1e3 * TOL < moved < 0.05
