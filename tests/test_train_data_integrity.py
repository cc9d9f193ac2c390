"""Training trusts no shard byte (issue 15, item 3): a damaged tar or LMDB shard stops the
job naming the file, or with --skip-corrupt is left out and counted."""

import os
import shutil
import struct
import tarfile

import numpy as np
import pytest
import yaml
from train_helpers import TINY

from mace4ir.data_prep.prepared.reader import load_manifest, open_records
from mace4ir.data_prep.prepared.records import _HEAD
from mace4ir.data_prep.prepared.shards import LmdbShard
from mace4ir.errors import DataFormatError
from mace4ir.training import train


def _copy(prepared, dst):
    shutil.copytree(prepared, dst)
    return dst


def _shard(prepared, split, fmt, k=0):
    return prepared / load_manifest(prepared)["splits"][split]["shards"][fmt][k]["path"]


def _break_tar_header(path, member=44):
    """Garble the header checksum of one member: tarfile then reads it as the end of the
    archive. Size and mtime are kept, as a careful tamperer would."""
    st = os.stat(path)
    with tarfile.open(path) as tar:
        offset = tar.getmembers()[member].offset
    raw = bytearray(path.read_bytes())
    raw[offset + 148 : offset + 156] = b"9999999\0"
    path.write_bytes(bytes(raw))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _flip_force_to_huge(path, index=3):
    """Set one force component of one LMDB record to 3e38 eV/Å (finite in float32)."""
    value = LmdbShard(path).get_bytes(index)
    n = struct.unpack_from("<I", value, 4)[0]
    at = _HEAD.size + n + 12 * n  # header, Z, positions: then the forces
    bad = bytearray(value)
    bad[at : at + 4] = np.float32(3e38).tobytes()
    raw = path.read_bytes()
    assert raw.count(value) == 1
    path.write_bytes(raw.replace(value, bytes(bad)))


def test_damaged_tar_header_is_not_read_as_the_end_of_the_shard(prepared_sample, tmp_path):
    data = _copy(prepared_sample, tmp_path / "data")
    shard = _shard(data, "train", "webdataset")
    assert len(list(open_records(data, "train", fmt="webdataset"))) == 250  # digest remembered
    _break_tar_header(shard)
    with pytest.raises(DataFormatError, match=f"{shard}: WebDataset shard holds 44 records, "):
        list(open_records(data, "train", fmt="webdataset"))
    os.utime(shard)  # a changed mtime: the digest is checked again before reading
    with pytest.raises(DataFormatError, match=f"{shard}: sha256 .* differs from manifest.json"):
        open_records(data, "train", fmt="webdataset")


@pytest.mark.parametrize("fmt", ["lmdb", "webdataset"])
def test_training_refuses_a_tampered_shard_or_skips_and_counts_it(
    prepared_sample, tmp_path, fmt, caplog
):
    data = _copy(prepared_sample, tmp_path / "data")
    lmdb_shard = _shard(data, "train", "lmdb", 1)
    _flip_force_to_huge(lmdb_shard)
    if fmt == "webdataset":  # the same record, flipped in the tar
        tar = _shard(data, "train", "webdataset", 1)
        good = LmdbShard(_shard(prepared_sample, "train", "lmdb", 1)).get_bytes(3)
        raw = tar.read_bytes()
        tar.write_bytes(raw.replace(good, LmdbShard(lmdb_shard).get_bytes(3)))
    broken = _shard(data, "train", fmt, 1)
    opts = dict(model="ef_tiny", max_steps=2, format=fmt, **TINY)
    with pytest.raises(DataFormatError, match=f"{broken}: sha256 .* differs from manifest.json"):
        train(data, tmp_path / "refused", **opts)
    run = train(data, tmp_path / "skipped", skip_corrupt=True, **opts)
    assert f"{broken}: sha256" in caplog.text and "skipped with its 64 records" in caplog.text
    dropped = yaml.safe_load((run / "config.yaml").read_text())["dropped_by_skip_corrupt"]
    assert dropped["train"]["shards"] == [str(broken)] and dropped["train"]["records"] == 64
    assert dropped["val"]["records"] == 0
