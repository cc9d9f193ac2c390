"""The Parquet index of a prepared directory: one row per stored record.

``OUT/index/<split>-<shard>.parquet`` files together form one Parquet dataset
(``pyarrow.dataset.dataset(OUT / "index")``) with columns::

    key_hash str, smiles_hash str (null when unknown), num_atoms int32,
    elements list<uint8> (distinct atomic numbers), split str,
    position int64 (index in the split; for train also the subset rank),
    subset int64 (smallest nested training subset holding the record, null if none),
    shard int32, shard_position int32

It serves analytics, subset selection and atom-count-aware batching without
opening the shards.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

SCHEMA = pa.schema(
    [
        ("key_hash", pa.string()),
        ("smiles_hash", pa.string()),
        ("num_atoms", pa.int32()),
        ("elements", pa.list_(pa.uint8())),
        ("split", pa.string()),
        ("position", pa.int64()),
        ("subset", pa.int64()),
        ("shard", pa.int32()),
        ("shard_position", pa.int32()),
    ]
)


def smallest_subset(position: int, subsets: list[int]) -> int | None:
    return next((s for s in subsets if position < s), None)


def index_rows(
    records: list[dict], split: str, start: int, shard: int, subsets: list[int]
) -> pa.Table:
    """Index table of one output shard whose first record has split position ``start``."""
    positions = list(range(start, start + len(records)))
    return pa.table(
        {
            "key_hash": [r["key_hash"] for r in records],
            "smiles_hash": [r.get("smiles_hash") for r in records],
            "num_atoms": [len(r["atomic_numbers"]) for r in records],
            "elements": [np.unique(r["atomic_numbers"]).astype(np.uint8).tolist() for r in records],
            "split": [split] * len(records),
            "position": positions,
            "subset": [
                smallest_subset(p, subsets) if split == "train" else None for p in positions
            ],
            "shard": [shard] * len(records),
            "shard_position": list(range(len(records))),
        },
        schema=SCHEMA,
    )


def write_index_part(path: str | Path, table: pa.Table) -> None:
    """Write atomically; no timestamps in Parquet metadata, so bytes are reproducible."""
    path = Path(path)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)


def read_index(prepared_dir: str | Path) -> pa.Table:
    """The whole index as one table."""
    import pyarrow.dataset as ds

    return ds.dataset(Path(prepared_dir) / "index", format="parquet", schema=SCHEMA).to_table()
