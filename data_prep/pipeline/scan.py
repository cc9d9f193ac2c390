"""Phase 1 of ``prepare``: read, verify, filter and convert one input unit.

A unit (one primary TFRecord shard) becomes, under ``WORK/scan/``::

    unit-NNNNN.bin       kept records, encoded (records.encode_record), concatenated
    unit-NNNNN.off.npy   uint64 offsets into .bin (n_kept + 1)
    unit-NNNNN.keys.npz  rank (uint64 keyed hash of key_hash), group (of smiles_hash)
    unit-NNNNN.json      filter counts; written last = the unit is done

Each file is written under a temporary name and renamed, so a killed worker leaves
no half-written unit that a rerun would trust.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mace4ir.data_prep.pipeline.filtering import (
    FilterCounts,
    SourceUnits,
    UnitCheck,
    convert,
    reject_reason,
)
from mace4ir.data_prep.pipeline.splits import keyed_hash
from mace4ir.data_prep.prepared.records import encode_record
from mace4ir.data_prep.qcml.reader import QcmlConfig, Unit, iter_unit
from mace4ir.faults import pause_point

log = logging.getLogger(__name__)


@dataclass
class ScanTask:
    """Everything a worker needs to scan one unit (picklable)."""

    configs: dict[str, QcmlConfig]
    fields: dict[str, list[str]]
    unit: Unit
    work: Path
    energy_field: str
    units: SourceUnits
    min_distance: float
    skip_corrupt: bool
    seed: int


def unit_stem(work: Path, index: int) -> Path:
    return Path(work) / "scan" / f"unit-{index:05d}"


def unit_done(work: Path, index: int) -> bool:
    return unit_stem(work, index).with_suffix(".json").is_file()


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    write(tmp)
    os.replace(tmp, path)


def scan_unit(task: ScanTask) -> dict:
    """Scan one unit and write its staged files; returns the unit's summary dict."""
    stem = unit_stem(task.work, task.unit.index)
    factors = task.units.factors()
    counts = FilterCounts()
    check = UnitCheck(
        str(task.unit.path), task.units.positions, task.energy_field, task.units.energy
    )
    corrupt: list = []
    offsets, ranks, groups = [0], [], []
    n_read = 0
    tmp_bin = stem.with_name(stem.name + f".bin.tmp{os.getpid()}")
    with open(tmp_bin, "wb") as fh:
        for index, ex in iter_unit(
            task.configs, task.fields, task.unit, task.skip_corrupt, corrupt
        ):
            n_read += 1
            if ex is None:
                counts.reject("corrupt", f"record {index}", "unreadable TFRecord")
                continue
            key, detail = ex["key_hash"], None
            reason = reject_reason(ex)
            if reason is None:
                rec = convert(ex, task.energy_field, factors, task.min_distance)
                if isinstance(rec, str):
                    reason, detail = "invalid", f"global record {index}: {rec}"
            if reason is not None:
                counts.reject(reason, key, detail)
                continue
            check.add(rec)
            data = encode_record(rec)
            fh.write(data)
            offsets.append(offsets[-1] + len(data))
            ranks.append(keyed_hash(key, task.seed))
            groups.append(keyed_hash(rec["smiles_hash"], task.seed) if rec["smiles_hash"] else 0)
            counts.kept += 1
    check.check()
    os.replace(tmp_bin, stem.with_suffix(".bin"))
    _atomic_write(
        stem.with_suffix(".off.npy"), lambda p: _save_npy(p, np.asarray(offsets, np.uint64))
    )
    _atomic_write(
        stem.with_suffix(".keys.npz"),
        lambda p: _save_npz(
            p, rank=np.asarray(ranks, np.uint64), group=np.asarray(groups, np.uint64)
        ),
    )
    summary = {
        "unit": task.unit.index,
        "source": str(task.unit.path),
        "n_read": n_read,
        "has_smiles_hash": bool(counts.kept == 0 or all(groups)),
        "corrupt_details": [str(c) for c in corrupt[:5]],
        **counts.to_dict(),
    }
    _atomic_write(stem.with_suffix(".json"), lambda p: p.write_text(json.dumps(summary, indent=1)))
    pause_point("scan", task.work, lambda: len(list(stem.parent.glob("unit-*.json"))))
    return summary


def _save_npy(path: Path, arr) -> None:
    with open(path, "wb") as fh:
        np.save(fh, arr)


def _save_npz(path: Path, **arrays) -> None:
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def load_unit_summary(work: Path, index: int) -> dict:
    return json.loads(unit_stem(work, index).with_suffix(".json").read_text())


def load_unit_keys(work: Path, index: int) -> tuple[np.ndarray, np.ndarray]:
    with np.load(unit_stem(work, index).with_suffix(".keys.npz")) as data:
        return data["rank"], data["group"]
