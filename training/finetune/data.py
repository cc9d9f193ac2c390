"""The data a fine-tuning run trains on, written once into ``RUN/data/``.

New data come as a prepared directory, an extended XYZ file of labelled structures, or a
QCML-format TFDS folder; they are brought onto the foundation's energy zero
(:mod:`.energies`) and, with ``replay_fraction`` f > 0, mixed with records of the
foundation's own prepared data so that f of every split is replayed: the model keeps
what it knew while it learns the new molecules.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from mace4ir.data_prep.labelled_frames import read_labelled_frames
from mace4ir.data_prep.prepared.reader import load_manifest, open_records
from mace4ir.data_prep.prepared.writer import split_records, write_prepared
from mace4ir.errors import Mace4irError

log = logging.getLogger(__name__)

EXTXYZ_SUFFIXES = (".xyz", ".extxyz")


def new_records(data: str | Path, work: Path, val_fraction: float, seed: int) -> dict[str, list]:
    """``{"train": [...], "val": [...]}`` records of the new data, whatever its form."""
    data = Path(data)
    if (data / "manifest.json").is_file():
        return {s: list(open_records(data, s)) for s in ("train", "val")}
    if data.suffix in EXTXYZ_SUFFIXES:
        return split_records(read_labelled_frames(data), val_fraction, seed)
    if data.is_dir():
        return split_records(_qcml_records(data, work / "qcml_prepared", seed), val_fraction, seed)
    raise Mace4irError(
        f"{data}: not a prepared directory (manifest.json), an extended XYZ file "
        f"({', '.join(EXTXYZ_SUFFIXES)}) or a QCML-format folder"
    )


def _qcml_records(source: Path, out: Path, seed: int) -> list[dict]:
    from mace4ir.data_prep.pipeline.prepare import PrepOptions, prepare

    if not (out / "manifest.json").is_file():
        prepare(
            PrepOptions(
                source=source,
                out=out,
                val_size=0,
                test_size=0,
                train_size=10**9,
                subsets=(),
                seed=seed,
                progress=True,
            )
        )
    return list(open_records(out, "train"))


def replay_records(prepared: str | Path, n: int, split: str, seed: int) -> list[dict]:
    """``n`` records drawn without replacement from ``split`` of the original prepared data."""
    records = open_records(prepared, split)
    if n > len(records):
        log.warning(
            "replay: %d %s records wanted, %s holds %d; using all", n, split, prepared, len(records)
        )
        n = len(records)
    pick = np.sort(np.random.default_rng(seed).choice(len(records), size=n, replace=False))
    return [records[int(i)] for i in pick]


def mix_with_replay(
    new: dict[str, list], replay: str | Path | None, fraction: float, seed: int
) -> dict[str, list]:
    """Each split of ``new`` plus replayed records making up ``fraction`` of it."""
    if not replay or fraction <= 0:
        return new
    if not 0 < fraction < 1:
        raise Mace4irError(f"--replay-fraction must be in [0, 1), got {fraction}")
    load_manifest(replay)  # a clear error for a wrong path, before any work
    out = {}
    for split, records in new.items():
        n = round(fraction / (1 - fraction) * len(records))
        out[split] = records + replay_records(replay, n, split, seed)
        log.info("%s: %d new + %d replayed records", split, len(records), n)
    return out


def write_finetune_data(out: Path, splits: dict[str, list], source: dict) -> Path:
    if (out / "manifest.json").is_file():
        return out  # written by an earlier (killed) attempt of the same run
    write_prepared(out, splits, source=source, energy_field="energy (foundation zero)")
    return out
