"""Writing a prepared directory from records already in memory.

``mace4ir prep`` streams QCML through its resumable pipeline; smaller sources (an extxyz
of a user's own calculations, the labelled frames of an active-learning run, a fine-tuning
set mixed with replayed foundation data) are written here in one go, with the same shard
writers, statistics and manifest fields, so every reader and the trainer treat them alike.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from mace4ir.data_prep.prepared.reader import SPLITS
from mace4ir.data_prep.prepared.records import encode_record
from mace4ir.data_prep.prepared.shards import write_lmdb_shard, write_wds_shard
from mace4ir.data_prep.prepared.stats import StatsAccumulator
from mace4ir.errors import Mace4irError

STORED_UNITS = {
    "positions": "angstrom",
    "energy": "eV",
    "forces": "eV/angstrom",
    "dipole": "e*angstrom",
}


def write_prepared(
    out: str | Path,
    splits: dict[str, list[dict]],
    source: dict,
    energy_field: str = "energy",
    e0s: dict[int, float] | None = None,
    r_max: float = 5.0,
    shard_size: int = 1000,
) -> dict:
    """Write ``splits`` (``{"train": [...], "val": [...], "test": [...]}`` of records) to
    ``out`` atomically (a temporary folder renamed at the end); returns the manifest.

    ``e0s`` fixes the isolated-atom energies (e.g. a foundation model's, so a fine-tuning
    set keeps its energy convention); by default they are fitted to the training split.
    """
    out = Path(out)
    if out.exists():
        raise Mace4irError(f"{out}: exists; a prepared directory is written once (pick a new path)")
    for name in splits:
        if name not in SPLITS:
            raise Mace4irError(f"unknown split {name!r}; expected {SPLITS}")
    if not splits.get("train"):
        raise Mace4irError(f"{out}: no training records to write")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        entries = {s: _write_split(tmp, s, splits.get(s, []), shard_size) for s in SPLITS}
        manifest = _manifest(splits, entries, source, energy_field, e0s, r_max)
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
        os.chmod(tmp, 0o755)  # mkdtemp makes it private
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def _write_split(root: Path, split: str, records: list[dict], shard_size: int) -> dict:
    shards: dict[str, list] = {"lmdb": [], "webdataset": []}
    for k, start in enumerate(range(0, len(records), shard_size)):
        encoded = [encode_record(r) for r in records[start : start + shard_size]]
        lmdb_rel = f"{split}/lmdb/shard-{k:05d}.lmdb"
        tar_rel = f"{split}/webdataset/shard-{k:05d}.tar"
        for rel in (lmdb_rel, tar_rel):
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shards["lmdb"].append({"path": lmdb_rel, **write_lmdb_shard(root / lmdb_rel, encoded)})
        items = [(start + j, b) for j, b in enumerate(encoded)]
        shards["webdataset"].append({"path": tar_rel, **write_wds_shard(root / tar_rel, items)})
    return {"count": len(records), "shards": shards}


def _manifest(splits, entries, source, energy_field, e0s, r_max) -> dict:
    stats = {}
    for s in SPLITS:
        stats[s] = StatsAccumulator(r_max=r_max)
        stats[s].add_batch(splits.get(s, []))
    train = stats["train"]
    fitted = train.e0s()
    if e0s is not None:
        missing = sorted(set(fitted) - {int(z) for z in e0s})
        if missing:
            raise Mace4irError(f"no E0 given for element(s) {missing} of the training records")
        fitted = {z: float(e0s[z]) for z in fitted}
    n_train = len(splits["train"])
    return {
        "format": "mace4ir-prepared-1",
        "splits": entries,
        "subsets": {str(n_train): n_train},
        "rejected": {},
        "kept": sum(len(v) for v in splits.values()),
        "e0s": {str(z): v for z, v in fitted.items()},
        "elements": train.element_counts(),
        "elements_by_split": {s: stats[s].element_counts() for s in SPLITS},
        "avg_num_neighbors": train.avg_num_neighbors(),
        "r_max": r_max,
        "statistics": train.summary(fitted),
        "units": {"stored": STORED_UNITS},
        "energy_field": energy_field,
        "split_by": "record",
        "formats": ["lmdb", "webdataset"],
        "source": source,
    }


def split_records(records: list[dict], val_fraction: float, seed: int = 0) -> dict[str, list]:
    """A deterministic random train/val split (at least one validation record when possible)."""
    order = np.random.default_rng(seed).permutation(len(records))
    n_val = min(max(1, round(val_fraction * len(records))), len(records) - 1) if val_fraction else 0
    return {
        "train": [records[i] for i in order[n_val:]],
        "val": [records[i] for i in order[:n_val]],
    }
