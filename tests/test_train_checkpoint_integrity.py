"""Resume never destroys history and never trusts a damaged checkpoint (issue 15, items 4, 5)."""

import shutil

import pytest
import torch
from train_helpers import TINY

from mace4ir.cli import main
from mace4ir.training import train
from mace4ir.training.loop.metrics_log import read_rows

STEPS = dict(max_steps=4, checkpoint={"every_steps": 2, "keep": 3}, eval_every_steps=2)


@pytest.fixture(scope="module")
def finished_run(prepared_sample, tmp_path_factory):
    """A 4-step run with checkpoints at steps 2 and 4."""
    run = tmp_path_factory.mktemp("ckpt") / "run"
    train(prepared_sample, run, model="ef_tiny", **TINY, **STEPS)
    return run


def _copy(run, dst):
    shutil.copytree(run, dst)
    return dst


def _flip_tensor_byte(path):
    """One flipped bit inside a stored tensor: torch.load does not notice."""
    raw = bytearray(path.read_bytes())
    at = raw.index(b"data/0") + 400  # past the zip's first data header, inside a tensor
    raw[at] ^= 0x01
    path.write_bytes(bytes(raw))
    torch.load(path, map_location="cpu", weights_only=True)  # loads silently: item 5


def _resume(prepared, run, *extra):
    argv = ["train", "--data", str(prepared), "--out", str(run), "--model", "ef_tiny"]
    argv += ["--max-steps", "6", "--batch-size", "8", "--num-workers", "0", "--no-progress"]
    return main([*argv, "--checkpoint-every", "2", "--resume", *extra])


def test_resume_stops_when_no_checkpoint_verifies(finished_run, prepared_sample, tmp_path, caplog):
    """Item 4: it used to start over, overwrite metrics.csv and best_model, and prune the new
    checkpoints away."""
    run = _copy(finished_run, tmp_path / "run")
    ckpts = sorted((run / "checkpoints").glob("step-*.pt"))
    assert [p.name for p in ckpts] == ["step-000000002.pt", "step-000000004.pt"]
    ckpts[0].write_bytes(ckpts[0].read_bytes()[:1000])  # truncated
    _flip_tensor_byte(ckpts[1])
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    assert _resume(prepared_sample, run) == 2
    assert "none of the 2 checkpoint(s) verifies, so --resume stops" in caplog.text
    assert "step-000000004.pt: SHA-256" in caplog.text and "(and 1 more)" in caplog.text
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before
    assert sorted((run / "checkpoints").glob("step-*.pt")) == ckpts


def test_bit_flipped_checkpoint_is_skipped_not_resumed(finished_run, prepared_sample, tmp_path):
    """Item 5: a flipped bit used to resume silently and end up in final_model/best_model."""
    run = _copy(finished_run, tmp_path / "run")
    _flip_tensor_byte(run / "checkpoints" / "step-000000004.pt")
    (run / "checkpoints" / "step-000000002.pt.sha256").unlink()  # unverifiable: skipped too
    with pytest.raises(Exception, match="none of the 2 checkpoint"):
        train(prepared_sample, run, model="ef_tiny", resume=True, **TINY, **STEPS)
    run = _copy(finished_run, tmp_path / "run2")
    _flip_tensor_byte(run / "checkpoints" / "step-000000004.pt")
    train(prepared_sample, run, model="ef_tiny", resume=True, **{**TINY, **STEPS, "max_steps": 6})
    steps = [r["step"] for r in read_rows(run, "train")]
    assert steps == [1, 2, 3, 4, 5, 6]  # resumed from step 2: steps 3-4 redone once, in place
    assert sorted(p.name for p in (run / "checkpoints").glob("step-*.pt")) == [
        "step-000000002.pt",
        "step-000000004.pt",
        "step-000000006.pt",
    ]
    from mace4ir.training.loop.checkpoint import _problem

    assert _problem(run / "checkpoints" / "step-000000004.pt") is None  # rewritten, verified
