"""Clear errors: bad training configs, element mismatches, non-finite losses."""

import math

import pytest
import torch
from train_helpers import TINY, make_prepared

from mace4ir.data_prep.prepared.reader import load_manifest
from mace4ir.errors import ConfigError, Mace4irError
from mace4ir.training import evaluate_errors, train
from mace4ir.training.loop.metrics_log import read_rows
from mace4ir.training.models.build import build_model, load_model_config, model_spec
from mace4ir.training.models.weights_io import load_model, save_model
from mace4ir.training.train_config import resolve


@pytest.fixture(scope="module")
def hcno(tmp_path_factory):
    """H/C/N/O molecules with one NaN energy in the training split (record 20)."""
    return make_prepared(
        tmp_path_factory.mktemp("hcno"), n=40, n_val=8, n_test=8, shard_size=8, nan_index=20
    )


def test_unknown_config_key_names_key_and_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("batch_size: 4\noptimizer: {lr: 0.01, momentum: 0.9}\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: unknown key\(s\) optimizer\.momentum"):
        resolve(str(bad))
    with pytest.raises(ConfigError, match="format must be one of"):
        resolve(None, {"format": "hdf5"})
    with pytest.raises(ConfigError, match="batch_size must be a positive integer"):
        resolve(None, {"batch_size": 0})


def test_cli_reports_config_errors_in_one_line(hcno, tmp_path, caplog):
    from mace4ir.cli import main

    code = main(["train", "--data", str(hcno), "--out", str(tmp_path / "r"), "--model", "ef_huge"])
    assert code == 2
    assert "config 'ef_huge' not found" in caplog.text and "ef_tiny" in caplog.text
    assert "Traceback" not in caplog.text


def test_element_mismatch_is_a_clear_error(hcno, prepared_sample, tmp_path):
    spec = model_spec(load_model_config("ef_tiny"), load_manifest(hcno))
    save_model(build_model(spec), spec, tmp_path / "hcno_model")
    extra = sorted(set(map(int, load_manifest(prepared_sample)["elements"])) - {1, 6, 7, 8})
    assert extra, "the sample should contain elements beyond H, C, N, O"
    with pytest.raises(
        Mace4irError,
        match=r"manifest\.json.*element\(s\) .*\(Z=%d\).*not in the model's element table"
        % extra[0],
    ):
        evaluate_errors(tmp_path / "hcno_model", prepared_sample, "test")


def test_non_finite_step_is_skipped_and_counted(hcno, tmp_path):
    # 24 training records, 4 per step: one epoch of 6 steps meets the NaN record exactly once
    run = train(
        hcno,
        tmp_path / "nan",
        model="ef_tiny",
        max_steps=6,
        **{**TINY, "batch_size": 4},
        eval_every_steps=6,
    )
    rows = read_rows(run, "train")
    bad = [r for r in rows if not math.isfinite(r["loss"])]
    assert len(bad) == 1 and rows[-1]["skipped_steps"] == 1
    model, _ = load_model(run / "best_model")
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_repeated_non_finite_steps_stop_training(hcno, tmp_path):
    with pytest.raises(Mace4irError, match="consecutive non-finite losses"):
        train(
            hcno,
            tmp_path / "stop",
            model="ef_tiny",
            max_steps=6,
            max_nonfinite_steps=1,
            **{**TINY, "batch_size": 4},
        )
