"""Phase 3 of ``prepare``: write one output shard of one split.

Output shard ``j`` of a split holds the records at split positions
``[j * shard_size, (j + 1) * shard_size)`` of the plan. The worker copies their
encoded bytes from the staged units, writes the LMDB and/or WebDataset shard, the
shard's Parquet index part and its statistics, and finally a small JSON marker
(``WORK/shards/<split>-NNNNN.json``) that makes the shard count as done.
"""

from __future__ import annotations

import json
import mmap
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mace4ir.data_prep.pipeline.scan import unit_stem
from mace4ir.data_prep.prepared.index import index_rows, write_index_part
from mace4ir.data_prep.prepared.records import decode_record
from mace4ir.data_prep.prepared.shards import write_lmdb_shard, write_wds_shard
from mace4ir.data_prep.prepared.stats import StatsAccumulator
from mace4ir.faults import pause_point

SHARD_FILES = {"lmdb": "lmdb/shard-{:05d}.lmdb", "webdataset": "webdataset/shard-{:05d}.tar"}


@dataclass
class ShardTask:
    out: Path
    work: Path
    split: str
    shard: int
    start: int
    stop: int
    formats: tuple[str, ...]
    subsets: list[int]
    r_max: float


def shard_marker(work: Path, split: str, shard: int) -> Path:
    return Path(work) / "shards" / f"{split}-{shard:05d}.json"


def shard_relpath(split: str, fmt: str, shard: int) -> str:
    return f"{split}/{SHARD_FILES[fmt].format(shard)}"


def read_staged(work: Path, plan: np.ndarray) -> list[bytes]:
    """Encoded records for ``plan`` entries (unit, local), in plan order.

    Entries are grouped by unit with one sort (a train shard draws from every unit),
    and each unit's file is read in increasing offset order.
    """
    out: list[bytes | None] = [None] * len(plan)
    order = np.lexsort((plan["local"], plan["unit"]))
    starts = np.flatnonzero(np.diff(plan["unit"][order])) + 1
    for group in np.split(order, starts):
        if len(group) == 0:
            continue
        stem = unit_stem(work, int(plan["unit"][group[0]]))
        offsets = np.load(stem.with_suffix(".off.npy"), mmap_mode="r")
        with (
            open(stem.with_suffix(".bin"), "rb") as fh,
            mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm,
        ):
            for k in group:
                i = int(plan["local"][k])
                out[k] = bytes(mm[int(offsets[i]) : int(offsets[i + 1])])
    return out  # type: ignore[return-value]


def write_shard(task: ShardTask) -> dict:
    """Write one output shard in every format; returns and stores its marker dict."""
    plan = np.load(Path(task.work) / "plan" / f"{task.split}.npy", mmap_mode="r")[
        task.start : task.stop
    ]
    encoded = read_staged(task.work, np.asarray(plan))
    records = [
        decode_record(b, f"staged {task.split} record {task.start + k}")
        for k, b in enumerate(encoded)
    ]
    stats = StatsAccumulator(r_max=task.r_max)
    stats.add_batch(records)
    marker = {
        "split": task.split,
        "shard": task.shard,
        "start": task.start,
        "count": len(records),
        "files": {},
    }
    for fmt in task.formats:
        rel = shard_relpath(task.split, fmt, task.shard)
        path = Path(task.out) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "lmdb":
            info = write_lmdb_shard(path, encoded)
        else:
            info = write_wds_shard(path, ((task.start + k, b) for k, b in enumerate(encoded)))
        marker["files"][fmt] = {"path": rel, **info}
        pause_point(
            "shard", task.work, lambda: len(list(Path(task.work, "shards").glob("*.json"))) + 1
        )
    index_path = Path(task.out) / "index" / f"{task.split}-{task.shard:05d}.parquet"
    index_path.parent.mkdir(parents=True, exist_ok=True)
    write_index_part(
        index_path, index_rows(records, task.split, task.start, task.shard, task.subsets)
    )
    stats.save(shard_marker(task.work, task.split, task.shard).with_suffix(".stats.npz"))
    path = shard_marker(task.work, task.split, task.shard)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(marker, indent=1))
    os.replace(tmp, path)
    return marker


def load_marker(work: Path, split: str, shard: int) -> dict:
    return json.loads(shard_marker(work, split, shard).read_text())


def load_shard_stats(work: Path, split: str, shard: int) -> StatsAccumulator:
    return StatsAccumulator.load(shard_marker(work, split, shard).with_suffix(".stats.npz"))
