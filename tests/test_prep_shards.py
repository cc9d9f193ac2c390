"""Shard writers: the direct tar writer matches tarfile byte for byte; LMDB is deterministic."""

import io
import tarfile

import numpy as np

from mace4ir.data_prep.prepared.records import encode_record, make_record
from mace4ir.data_prep.prepared.shards import (
    LmdbShard,
    iter_wds_shard,
    write_lmdb_shard,
    write_wds_shard,
)


def _records(n, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        k = int(rng.integers(1, 30))
        out.append(
            encode_record(
                make_record(
                    rng.integers(1, 54, k),
                    rng.normal(size=(k, 3)),
                    rng.normal(),
                    rng.normal(size=(k, 3)),
                    rng.normal(size=3),
                    f"key{i}",
                    None,
                )
            )
        )
    return out


def test_tar_writer_is_byte_identical_to_tarfile(tmp_path):
    items = [(1_000 + i, b) for i, b in enumerate(_records(57))] + [
        (10**9 + 5, _records(1, 1)[0])
    ]  # long name: fallback
    write_wds_shard(tmp_path / "a.tar", items)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for index, value in items:
            info = tarfile.TarInfo(f"{index:09d}.m4r")
            info.size, info.mtime, info.mode = len(value), 0, 0o644
            tar.addfile(info, io.BytesIO(value))
    assert (tmp_path / "a.tar").read_bytes() == buf.getvalue()
    got = list(iter_wds_shard(tmp_path / "a.tar"))
    assert [i for i, _ in got] == [i for i, _ in items]


def test_lmdb_shard_is_deterministic_and_random_access(tmp_path):
    recs = _records(40)
    a = write_lmdb_shard(tmp_path / "a.lmdb", recs)
    b = write_lmdb_shard(tmp_path / "b.lmdb", recs)
    assert a == b and a["count"] == 40
    shard = LmdbShard(tmp_path / "a.lmdb")
    assert len(shard) == 40 and shard.get_bytes(17) == recs[17]
