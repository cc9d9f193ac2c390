"""Assembling ``manifest.json`` from the per-shard markers and statistics.

The manifest says what a prepared directory holds (see ``prepared.py`` and
docs/data_prep.md): splits with shard files, counts and sha256; nested subsets;
rejection counts; E0s, element counts, average neighbours and energy/force
statistics of the training pool; units, energy field, seed, source, versions.
"""

from __future__ import annotations

import json
import logging
import math
import os
import platform
from pathlib import Path

from mace4ir.data_prep.pipeline.elements_plot import plot_elements
from mace4ir.data_prep.pipeline.shard_writer import load_marker, load_shard_stats
from mace4ir.data_prep.prepared.stats import StatsAccumulator
from mace4ir.errors import DataFormatError

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
OUTPUT_UNITS = {
    "positions": "angstrom",
    "energy": "eV",
    "forces": "eV/angstrom",
    "dipole": "e*angstrom",
}


def software_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("mace4ir", "numpy", "scipy", "lmdb", "webdataset", "protobuf", "pyarrow", "ase"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def source_description(opts, configs: dict, fields: dict, summaries: list[dict]) -> dict:
    primary = configs[next(iter(fields))]
    meta = primary.metadata
    return {
        "path": str(Path(opts.source).resolve()),
        "configs": {
            name: {"folder": str(configs[name].folder), "fields": names}
            for name, names in fields.items()
        },
        "n_records": sum(s["n_read"] for s in summaries),
        "n_input_shards": len(summaries),
        "description": primary.description,
        "level_of_theory": meta.get("level_of_theory", "PBE0 (QCML)" if not meta else None),
        "metadata": {k: v for k, v in meta.items() if k not in ("molecules",)},
    }


def merge_stats(work: Path, tasks, split: str, r_max: float) -> StatsAccumulator:
    """Sum the shard statistics of one split, always in shard order."""
    total = StatsAccumulator(r_max=r_max)
    for t in tasks:
        if t.split == split:
            total.merge(load_shard_stats(work, split, t.shard))
    return total


def split_entry(work: Path, tasks, split: str, formats) -> dict:
    markers = [load_marker(work, split, t.shard) for t in tasks if t.split == split]
    return {
        "count": sum(m["count"] for m in markers),
        "shards": {fmt: [m["files"][fmt] for m in markers] for fmt in formats},
    }


def build_manifest(
    opts, out: Path, work: Path, configs, fields, tasks, counts, subsets, summaries
) -> dict:
    stats = {s: merge_stats(work, tasks, s, opts.r_max) for s in SPLITS}
    train = stats["train"]
    e0s = train.e0s()
    missing = sorted(
        set(stats["val"].elements() + stats["test"].elements()) - set(train.elements())
    )
    if missing:
        log.warning(
            "elements %s occur in val/test but not in the training pool (no E0 for them)", missing
        )
    plot_elements(
        train.element_counts(), out / "elements.png", "training structures containing each element"
    )
    manifest = {
        "format": "mace4ir-prepared-1",
        "splits": {s: split_entry(work, tasks, s, opts.formats) for s in SPLITS},
        "subsets": {str(s): s for s in subsets},
        "rejected": dict(counts.rejected),
        "rejected_examples": {k: v for k, v in counts.examples.items() if v},
        "rejected_details": counts.details,
        "kept": counts.kept,
        "e0s": {str(z): v for z, v in e0s.items()},
        "elements": train.element_counts(),
        "elements_by_split": {s: stats[s].element_counts() for s in SPLITS},
        "elements_missing_from_train": missing,
        "avg_num_neighbors": train.avg_num_neighbors(),
        "r_max": opts.r_max,
        "statistics": train.summary(e0s),
        "units": {
            "source": {k: getattr(opts.units, k) for k in OUTPUT_UNITS},
            "stored": OUTPUT_UNITS,
        },
        "energy_field": opts.energy_field,
        "seed": opts.seed,
        "split_by": opts.split_by,
        "shard_size": opts.shard_size,
        "formats": list(opts.formats),
        "index": "index",
        "elements_png": "elements.png",
        "source": source_description(opts, configs, fields, summaries),
        "versions": software_versions(),
    }
    return manifest


def non_finite(value, where: str = "") -> list[str]:
    """Dotted keys of every float in a nested dict/list that is NaN or infinite."""
    if isinstance(value, float):
        return [] if math.isfinite(value) else [where or "value"]
    if isinstance(value, dict):
        return [b for k, v in value.items() for b in non_finite(v, f"{where}.{k}".lstrip("."))]
    if isinstance(value, (list, tuple)):
        return [b for i, v in enumerate(value) for b in non_finite(v, f"{where}[{i}]")]
    return []


def write_manifest(out: Path, manifest: dict) -> None:
    path = Path(out) / "manifest.json"
    bad = non_finite(manifest)
    if bad:  # JSON has no inf/NaN; such a statistic would also make every training step NaN
        raise DataFormatError(
            f"{out}: {', '.join(bad[:5])} not finite; a record with an impossible value got "
            f"through (please report this, with the input shard)"
        )
    tmp = path.with_name(f"manifest.json.tmp{os.getpid()}")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=False, allow_nan=False) + "\n")
    os.replace(tmp, path)
    log.info(
        "prepared %s: train %d, val %d, test %d; rejected %s",
        out,
        manifest["splits"]["train"]["count"],
        manifest["splits"]["val"]["count"],
        manifest["splits"]["test"]["count"],
        manifest["rejected"],
    )
