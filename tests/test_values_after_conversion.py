"""Values are checked after unit conversion, and a run that learned nothing fails
(issue 15, item 8)."""

import json
import shutil

import numpy as np
import pytest
from train_helpers import TINY, make_prepared

from mace4ir.cli import main
from mace4ir.data_prep.pipeline.prepare import PrepOptions, prepare
from mace4ir.data_prep.qcml import layout as fmt
from mace4ir.data_prep.qcml.example_proto import decode_example
from mace4ir.data_prep.qcml.tfrecord import iter_tfrecord


def _kept_rows(sample, n):
    """The first ``n`` neutral-singlet, non-outlier records of the sample (all configs
    merged)."""
    streams = [
        iter_tfrecord(sorted((sample / "qcml" / c / "1.0.0").glob("*.tfrecord-*"))[0])
        for c in fmt.BUNDLED_CONFIGS
    ]
    rows = []
    for parts in zip(*streams):
        row = {}
        for p in parts:
            for k, v in decode_example(p).items():
                row[k] = v[0].decode() if isinstance(v, list) else v
        if row["charge"][0] == 0 and row["multiplicity"][0] == 1 and not row["is_outlier"][0]:
            rows.append(row)
        if len(rows) == n:
            return rows


def _strict_json(path):
    def refuse(name):
        raise ValueError(f"{path} holds {name}, which is not JSON")

    return json.loads(path.read_text(), parse_constant=refuse)


def test_float32_overflow_in_unit_conversion_is_rejected_not_stored(qcml_sample, tmp_path):
    rows = _kept_rows(qcml_sample, 60)
    bad = dict(rows[7], key_hash="overflow")
    bad["pbe0_forces"] = bad["pbe0_forces"].copy()
    bad["pbe0_forces"][4] = 1e37  # Ha/Bohr: finite in float32, 5e38 eV/Å is not
    huge = dict(rows[8], key_hash="huge")
    huge["pbe0_forces"] = huge["pbe0_forces"].copy()
    huge["pbe0_forces"][0] = 1e30  # finite after conversion, but its square overflows float32
    for config, feats in fmt.BUNDLED_CONFIGS.items():
        fmt.write_config(tmp_path / "src", config, feats, [[*rows, bad, huge]], "test data")
    opts = dict(val_size=10, test_size=10, train_size=40, subsets=(40,), shard_size=100)
    m = prepare(PrepOptions(source=tmp_path / "src", out=tmp_path / "p", **opts))
    assert m["rejected"]["invalid"] == 2 and m["kept"] == 60
    details = " | ".join(m["rejected_details"])
    assert "overflow: global record 60: forces not finite in eV/Å after unit conversion" in details
    assert "huge: global record 61: forces up to 5.14e+31 eV/Å (limit 1e+05)" in details
    manifest = _strict_json(tmp_path / "p" / "manifest.json")
    assert np.isfinite(manifest["statistics"]["force_rms"])


def test_non_finite_manifest_statistics_stop_training(prepared_sample, tmp_path, caplog):
    data = shutil.copytree(prepared_sample, tmp_path / "data")
    manifest = json.loads((data / "manifest.json").read_text())
    manifest["statistics"]["force_rms"] = float("inf")  # what the old prep wrote
    (data / "manifest.json").write_text(json.dumps(manifest))
    argv = ["train", "--data", str(data), "--out", str(tmp_path / "run"), "--model", "ef_tiny"]
    assert main([*argv, "--max-steps", "2", "--num-workers", "0", "--no-progress"]) == 2
    assert "manifest.json: statistics.force_rms is inf, not a finite number" in caplog.text
    del manifest["e0s"]  # item 10: a manifest without e0s
    (data / "manifest.json").write_text(json.dumps(manifest))
    assert main([*argv, "--max-steps", "2", "--num-workers", "0", "--no-progress"]) == 2
    assert "manifest.json: no e0s (atomic reference energies per element)" in caplog.text


@pytest.fixture(scope="module")
def nan_in_every_batch(tmp_path_factory):
    """24 training records, one with a NaN energy: a batch of all 24 is never finite."""
    return make_prepared(
        tmp_path_factory.mktemp("nan"), n=40, n_val=8, n_test=8, shard_size=8, nan_index=20
    )


def test_a_run_in_which_no_step_was_finite_exits_non_zero(nan_in_every_batch, tmp_path, caplog):
    from mace4ir.errors import Mace4irError
    from mace4ir.training import train

    with pytest.raises(Mace4irError, match="none of the 3 training steps had a finite loss"):
        train(
            nan_in_every_batch,
            tmp_path / "run",
            model="ef_tiny",
            max_steps=3,
            **{**TINY, "batch_size": 24},
        )
    assert not (tmp_path / "run" / "final_model.safetensors").exists()
