"""Prep trusts no input blindly (issue 15): malformed TFDS metadata and mistyped fields are
one-line errors (item 10), the input fingerprint covers every byte (item 11), and pool
workers die with a SIGKILLed parent (item 12)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import SAMPLE_SEED

from mace4ir.cli import main
from mace4ir.data_prep.pipeline.prepare import PrepOptions, prepare
from mace4ir.data_prep.qcml.example_proto import decode_example, encode_example
from mace4ir.data_prep.qcml.tfrecord import iter_tfrecord, write_tfrecord
from mace4ir.errors import DataFormatError, Mace4irError

SMALL = dict(
    val_size=20, test_size=20, train_size=100, subsets=(100,), shard_size=100, formats=("lmdb",)
)


def _copy(sample, dst):
    shutil.copytree(sample, dst)
    return dst


def _config(src, name="dft_force_field"):
    return src / "qcml" / name / "1.0.0"


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("dataset_info.json", '{"splits": [', "dataset_info.json: unreadable JSON"),
        ("dataset_info.json", '{"splits": [{"name": "full", "shardLengths": ["x"]}]}', "unread"),
        ("metadata.json", "[1, 2", "metadata.json: unreadable JSON"),
        ("metadata.json", "[1, 2]", "metadata.json: expected a JSON object, got list"),
        ("features.json", '{"featuresDict": {"features": []}}', "features.json: unreadable TFDS"),
        ("features.json", "\x00\x01", "features.json: unreadable JSON"),
    ],
)
def test_malformed_tfds_metadata_is_a_one_line_error(
    qcml_sample, tmp_path, caplog, name, text, message
):
    src = _copy(qcml_sample, tmp_path / "src")
    (_config(src) / name).write_text(text)
    argv = ["prep", "--source", str(src), "--out", str(tmp_path / "p"), "--no-progress"]
    assert main(argv) == 2
    assert message in caplog.text and "Traceback" not in caplog.text


def test_field_of_another_type_is_a_one_line_error(qcml_sample, tmp_path):
    """An integer smiles_hash crashed in .decode()."""
    src = _copy(qcml_sample, tmp_path / "src")
    path = sorted(_config(src, "dft_metadata").glob("*.tfrecord-*"))[0]
    rows = [
        {k: (v[0] if isinstance(v, list) else v) for k, v in decode_example(p).items()}
        for p in iter_tfrecord(path)
    ]
    rows[2]["smiles_hash"] = np.array([12345])
    write_tfrecord(path, [encode_example(r) for r in rows])
    with pytest.raises(
        DataFormatError,
        match=f"{path} record 2: field 'smiles_hash' holds numbers \\(int64\\), expected text",
    ):
        prepare(PrepOptions(source=src, out=tmp_path / "p", **SMALL))


def _edit_middle_record(path, index=50):
    """Change one force of one record: same shard size, same first record, valid CRCs."""
    payloads = list(iter_tfrecord(path))
    ex = decode_example(payloads[index])
    ex["pbe0_forces"] = ex["pbe0_forces"].copy()
    ex["pbe0_forces"][0] += np.float32(1e-3)
    payloads[index] = encode_example(
        {k: (v[0] if isinstance(v, list) else v) for k, v in ex.items()}
    )
    size = path.stat().st_size
    write_tfrecord(path, payloads)
    assert path.stat().st_size == size


def test_an_edit_in_the_middle_of_a_shard_changes_the_fingerprint(qcml_sample, tmp_path):
    """Item 11: only name, size and first record were hashed."""
    src = _copy(qcml_sample, tmp_path / "src")
    opts = PrepOptions(source=src, out=tmp_path / "p", **SMALL)
    prepare(opts)
    _edit_middle_record(sorted(_config(src).glob("*.tfrecord-*"))[1])
    with pytest.raises(Mace4irError, match="the input shards changed since"):
        prepare(opts)


def test_a_repaired_shard_is_not_mistaken_for_the_skip_corrupt_output(qcml_sample, tmp_path):
    """Item 11: a rerun after --skip-corrupt and a repair kept the stale output."""
    src = _copy(qcml_sample, tmp_path / "src")
    path = sorted(_config(src).glob("*.tfrecord-*"))[2]
    original = path.read_bytes()
    first = next(iter_tfrecord(path))
    raw = bytearray(original)
    raw[16 + len(first) + 40] ^= 0xFF  # inside record 1: a CRC error
    path.write_bytes(bytes(raw))
    opts = PrepOptions(source=src, out=tmp_path / "p", skip_corrupt=True, **SMALL)
    assert prepare(opts)["rejected"]["corrupt"] == 1
    path.write_bytes(original)  # repaired
    with pytest.raises(Mace4irError, match="the input shards changed since"):
        prepare(opts)


def test_pool_workers_die_with_a_sigkilled_parent(qcml_sample, tmp_path):
    """Item 12: workers of `prep --workers N` stayed alive, blocked, after the parent's kill."""
    out = tmp_path / "out"
    env = dict(os.environ, OMP_NUM_THREADS="1", MACE4IR_PREP_PAUSE_AT="scan:1")
    argv = ["prep", "--source", str(qcml_sample), "--out", str(out), "--workers", "2"]
    argv += ["--val-size", "40", "--test-size", "40", "--train-size", "250"]
    argv += ["--subsets", "250", "--seed", str(SAMPLE_SEED), "--no-progress"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "mace4ir.cli", *argv],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    paused = out / ".work" / "PAUSED"
    deadline = time.monotonic() + 120
    while not paused.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "fault point not reached"
        time.sleep(0.05)
    worker = int(paused.read_text().split("pid")[1])
    assert worker != proc.pid
    os.kill(proc.pid, signal.SIGKILL)  # the parent only, as the OOM killer would
    proc.wait()
    deadline = time.monotonic() + 10
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    alive = _alive(worker)
    if alive:
        os.killpg(proc.pid, signal.SIGKILL)
    assert not alive, "a pool worker outlived its SIGKILLed parent"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"  # zombies are gone already
    except FileNotFoundError:
        return False


def test_prepared_manifest_is_strict_json(prepared_sample):
    json.loads((prepared_sample / "manifest.json").read_text(), parse_constant=_refuse)


def _refuse(name):
    raise ValueError(name)


def test_hash_stage_fingerprints_the_input_once_for_array_jobs(qcml_sample, tmp_path):
    """The full-content fingerprint costs one read of the input: `--stage hash` does it once
    (in parallel), and the scan and write tasks of a job array find the digests in OUT."""
    out = tmp_path / "out"
    opts = PrepOptions(source=qcml_sample, out=out, workers=2, **SMALL)
    assert prepare(opts, stage="hash") is None
    digests = json.loads((out / ".source-sha256.json").read_text())
    assert len(digests) == 3 * 4 and not (out / ".work").exists()
    stamp = (out / ".source-sha256.json").stat().st_mtime_ns
    prepare(opts, stage="scan", part=(0, 2))
    assert (out / ".source-sha256.json").stat().st_mtime_ns >= stamp
    assert json.loads((out / ".source-sha256.json").read_text()) == digests
    assert prepare(opts)["kept"] > 0
