"""LMDB shards opened many times, across fork, and after being rewritten."""

import multiprocessing as mp

from mace4ir.data_prep.prepared.records import encode_record, make_record
from mace4ir.data_prep.prepared.shards import LmdbShard, write_lmdb_shard


def _records(energy):
    return [
        encode_record(
            make_record(
                [1, 8],
                [[0, 0, 0], [0.96, 0, 0]],
                energy + i,
                [[0, 0, 1], [0, 0, -1]],
                [0, 0, 0.1],
                f"k{i}",
            )
        )
        for i in range(3)
    ]


def _read_energy_in_child(shard, queue):
    queue.put(shard.get(2)["energy"])


def test_same_file_twice_in_one_process(tmp_path):
    path = tmp_path / "a.lmdb"
    write_lmdb_shard(path, _records(0.0))
    a, b = LmdbShard(path), LmdbShard(path)
    assert a.get(1)["energy"] == b.get(1)["energy"] == 1.0


def test_forked_child_reads_an_inherited_shard(tmp_path):
    path = tmp_path / "a.lmdb"
    write_lmdb_shard(path, _records(0.0))
    shard = LmdbShard(path)
    assert len(shard) == 3  # opened in the parent before the fork
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_read_energy_in_child, args=(shard, queue))
    proc.start()
    proc.join(60)
    assert proc.exitcode == 0
    assert queue.get(timeout=5) == 2.0


def test_rewritten_shard_is_not_served_from_a_stale_handle(tmp_path):
    path = tmp_path / "a.lmdb"
    write_lmdb_shard(path, _records(0.0))
    assert LmdbShard(path).get(0)["energy"] == 0.0
    write_lmdb_shard(path, _records(10.0))
    assert LmdbShard(path).get(0)["energy"] == 10.0
