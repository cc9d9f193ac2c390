"""``prepare``: QCML TFDS data_dir -> filtered, split, sharded LMDB + WebDataset + manifest.

Three phases, each parallel over independent tasks and resumable (a task whose
marker file exists is not redone; every file is written tmp + rename):

1. scan (per input shard): read, check CRCs and key_hash alignment, filter,
   convert units, stage kept records (``scan.py``);
2. plan (one process, a few bytes per record): rank records by keyed hash, assign
   test / val / train and the nested subsets (``splits.py``);
3. write (per output shard): LMDB + WebDataset shard, Parquet index part, shard
   statistics (``shard_writer.py``).

Then the statistics are merged in shard order, and ``manifest.json`` is written
last: its presence means the output is complete. Outputs depend only on the
options and the data, never on the number of workers or on interruptions.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from mace4ir.data_prep.pipeline.filtering import REASONS, FilterCounts, SourceUnits
from mace4ir.data_prep.pipeline.manifest import build_manifest, write_manifest
from mace4ir.data_prep.pipeline.scan import (
    ScanTask,
    load_unit_keys,
    load_unit_summary,
    scan_unit,
    unit_done,
)
from mace4ir.data_prep.pipeline.shard_writer import ShardTask, shard_marker, write_shard
from mace4ir.data_prep.pipeline.splits import check_sizes, check_subsets, make_plan
from mace4ir.data_prep.qcml.reader import (
    discover_configs,
    resolve_fields,
    source_digest,
    work_units,
)
from mace4ir.errors import ConfigError, Mace4irError
from mace4ir.faults import pause_point
from mace4ir.hashing import DigestCache
from mace4ir.owned_folder import OwnedFolder, claim
from mace4ir.workers import exit_with_parent

log = logging.getLogger(__name__)

DEFAULT_SUBSETS = (50_000, 100_000, 500_000, 1_000_000, 3_000_000, 7_000_000, 10_000_000)
SPLITS = ("train", "val", "test")
WORK = ".work"
SOURCE_DIGESTS = ".source-sha256.json"  # input shards' SHA-256, by size and mtime (kept)
# Everything prep writes in OUT (a folder adopted with --force must not hold any of it).
OUTPUTS = (WORK, *SPLITS, "index", "manifest.json", "timings.json", "elements.png", SOURCE_DIGESTS)


@dataclasses.dataclass
class PrepOptions:
    """Options of ``prepare`` (sizes in records, distances in Å)."""

    source: str | Path
    out: str | Path
    val_size: int = 100_000
    test_size: int = 100_000
    train_size: int = 10_000_000
    subsets: tuple[int, ...] = DEFAULT_SUBSETS
    shard_size: int = 10_000
    workers: int = 1
    seed: int = 0
    formats: tuple[str, ...] = ("lmdb", "webdataset")
    split_by: str = "conformer"  # or "molecule" (by smiles_hash)
    energy_field: str = "pbe0_formation_energy"
    units: SourceUnits | dict = dataclasses.field(default_factory=SourceUnits)
    r_max: float = 5.0
    min_distance: float = 0.5
    skip_corrupt: bool = False
    keep_work: bool = False
    progress: bool = False
    force: bool = False  # write into a non-empty folder prep did not make (its files are kept)

    def __post_init__(self):
        if isinstance(self.units, dict):
            self.units = SourceUnits(**self.units)
        self.formats = tuple(self.formats)
        self.subsets = tuple(int(s) for s in self.subsets)
        unknown = set(self.formats) - {"lmdb", "webdataset"}
        if unknown or not self.formats:
            raise ConfigError(
                f"formats must be a non-empty subset of lmdb, webdataset; got {list(self.formats)}"
            )
        if self.split_by not in ("conformer", "molecule"):
            raise ConfigError(f"split_by must be 'conformer' or 'molecule', got {self.split_by!r}")
        for name in ("val_size", "test_size", "train_size", "shard_size", "workers"):
            if int(getattr(self, name)) < (
                0 if name.endswith("_size") and name != "shard_size" else 1
            ):
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        self.units.factors()  # unknown unit names fail here

    @classmethod
    def from_config(cls, config: str | Path, source, out, **overrides) -> PrepOptions:
        """Options from a data config (built-in ``qcml``/``sample`` or a YAML path), with
        overrides."""
        from mace4ir.config import load_config

        values = {
            **load_config(config, "data"),
            **{k: v for k, v in overrides.items() if v is not None},
        }
        unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ConfigError(
                f"data config {config}: unknown option(s) {', '.join(sorted(unknown))}"
            )
        return cls(source=source, out=out, **values)

    def fingerprint(self, source_digest: str | None = None) -> dict:
        """The options (and input digest) that determine the output (not workers, progress,
        keep_work)."""
        d = dataclasses.asdict(self)
        for k in ("workers", "progress", "keep_work", "out", "force"):
            d.pop(k)
        d["source"] = str(Path(self.source).resolve())
        d["formats"] = list(self.formats)
        d["subsets"] = list(self.subsets)
        d["source_digest"] = source_digest
        return json.loads(json.dumps(d))


STAGES = ("all", "hash", "scan", "write")


def prepare(opts: PrepOptions, stage: str = "all", part: tuple[int, int] = (0, 1)) -> dict | None:
    """Run (or resume, or skip if complete) data preparation; returns the manifest dict.

    ``stage``/``part`` spread the work over independent jobs (e.g. a Slurm job array):
    ``stage="hash"`` only hashes the input shards (their SHA-256 fingerprint the input;
    run it once before an array, so that its tasks do not all read the whole input);
    ``stage="scan", part=(i, n)`` scans input shards i, i+n, ...; ``stage="write",
    part=(i, n)`` writes output shards i, i+n, ... (all scans must be done); these
    return None. A final ``stage="all"`` run finishes whatever is left and writes
    the manifest.
    """
    if stage not in STAGES:
        raise ConfigError(f"stage must be one of {STAGES}, got {stage!r}")
    index, parts = part
    if not 0 <= index < parts:
        raise ConfigError(f"part must be I/N with 0 <= I < N, got {index}/{parts}")
    out, work = Path(opts.out), Path(opts.out) / WORK
    configs, fields, units = _resolve_source(opts)
    owned = claim(out, "prep", opts.force, earlier_output=_earlier_prep)
    owned.require_free(*OUTPUTS)
    digests = DigestCache(out / SOURCE_DIGESTS)  # on the shared file system of array jobs
    fingerprint = opts.fingerprint(source_digest(configs, fields, digests, opts.workers))
    if _already_done(fingerprint, out):
        log.info("%s is already prepared from this input with these options; nothing to do", out)
        return json.loads((out / "manifest.json").read_text())
    if stage == "hash":
        return None
    _start_work(fingerprint, owned, clean=stage == "all")
    clock = PhaseClock(out, opts.workers, stage)

    if stage in ("all", "scan"):
        with clock.phase("scan") as ph:
            ph["records"] = _scan(opts, work, configs, fields, units[index::parts])
        if stage == "scan":
            return None
    missing = [u.index for u in units if not unit_done(work, u.index)]
    if missing:
        raise Mace4irError(
            f"{out}: input shards {_ranges(missing)} are not scanned yet (run the scan stage first)"
        )
    with clock.phase("plan"):
        summaries = [load_unit_summary(work, u.index) for u in units]
        counts = _merge_counts(summaries)
        sizes, subsets = _plan(opts, work, summaries)
        shard_tasks = _shard_tasks(opts, out, work, sizes, subsets)
    with clock.phase("write") as ph:
        ph["records"] = _write(opts, work, shard_tasks[index::parts])
    if stage == "write":
        return None

    with clock.phase("manifest"):
        manifest = build_manifest(
            opts, out, work, configs, fields, shard_tasks, counts, subsets, summaries
        )
        manifest["options"] = fingerprint
        write_manifest(out, manifest)
    if not opts.keep_work:
        owned.remove_tree(WORK)
    return manifest


class PhaseClock:
    """Wall time and record counts of each phase of this invocation -> ``OUT/timings.json``
    (kept out of the manifest, which must not depend on how the run went)."""

    def __init__(self, out: Path, workers: int, stage: str):
        self.path = Path(out) / "timings.json"
        self.data = {"workers": workers, "stage": stage, "phases": {}}

    @contextlib.contextmanager
    def phase(self, name: str):
        entry: dict = {}
        start = time.perf_counter()
        yield entry
        entry["seconds"] = time.perf_counter() - start
        self.data["phases"][name] = entry
        tmp = self.path.with_name(f"timings.json.tmp{os.getpid()}")
        tmp.write_text(json.dumps(self.data, indent=1))
        os.replace(tmp, self.path)


def _scan(opts: PrepOptions, work: Path, configs, fields, units) -> int:
    tasks = [
        ScanTask(
            configs,
            fields,
            u,
            work,
            opts.energy_field,
            opts.units,
            opts.min_distance,
            opts.skip_corrupt,
            opts.seed,
        )
        for u in units
        if not unit_done(work, u.index)
    ]
    log.info(
        "phase 1/3: scanning %d input shards (%d already done)", len(tasks), len(units) - len(tasks)
    )
    _run(scan_unit, tasks, opts, "scan", [t.unit.count for t in tasks], "rec")
    return sum(t.unit.count for t in tasks)


def _write(opts: PrepOptions, work: Path, shard_tasks) -> int:
    todo = [t for t in shard_tasks if not shard_marker(work, t.split, t.shard).is_file()]
    log.info(
        "phase 3/3: writing %d output shards (%d already done)",
        len(todo),
        len(shard_tasks) - len(todo),
    )
    _run(write_shard, todo, opts, "write", [t.stop - t.start for t in todo], "rec")
    return sum(t.stop - t.start for t in todo)


def _ranges(indices: list[int]) -> str:
    shown = ", ".join(str(i) for i in indices[:10])
    return shown + (f" ... ({len(indices)} in all)" if len(indices) > 10 else "")


# ---------------------------------------------------------------- set-up / resume
def _earlier_prep(out: Path) -> bool:
    """Prep's output from before owner markers: its work folder, or a manifest of ours."""
    if (out / WORK / "options.json").is_file():
        return True
    try:
        return json.loads((out / "manifest.json").read_text())["format"] == "mace4ir-prepared-1"
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _already_done(fingerprint: dict, out: Path) -> bool:
    path = out / "manifest.json"
    if not path.is_file():
        return False
    old = json.loads(path.read_text()).get("options") or {}
    if old != fingerprint:
        changed = [k for k in fingerprint if old.get(k) != fingerprint[k]]
        why = (
            "the input shards changed since it was prepared: edited or repaired"
            if changed == ["source_digest"]
            else f"differs in {', '.join(changed)}"
        )
        raise Mace4irError(
            f"{out} already holds a prepared dataset made from other input or with other options "
            f"({why}); choose another --out (or delete {out})"
        )
    return True


def _resolve_source(opts: PrepOptions):
    configs = discover_configs(opts.source)
    required = [
        "atomic_numbers",
        "positions",
        "pbe0_forces",
        "pbe0_dipole",
        opts.energy_field,
        "charge",
        "multiplicity",
    ]
    optional = ["is_outlier", "smiles_hash"]
    if opts.split_by == "molecule":
        required.append("smiles_hash")
        optional.remove("smiles_hash")
    fields = resolve_fields(configs, required, optional, opts.source)
    primary = next(c for c, names in fields.items() if "positions" in names)
    fields = {primary: fields[primary], **{c: v for c, v in fields.items() if c != primary}}
    for name in fields:
        if configs[name].num_records != configs[primary].num_records:
            raise Mace4irError(
                f"{configs[name].folder} has {configs[name].num_records} records but "
                f"{configs[primary].folder} has {configs[primary].num_records}; configs must be "
                f"aligned"
            )
    if "is_outlier" not in {f for v in fields.values() for f in v}:
        log.warning("%s: no is_outlier field; outliers cannot be filtered", opts.source)
    log.info("reading fields %s", {c: v for c, v in fields.items()})
    return configs, fields, work_units(configs[primary])


SCAN_OPTIONS = (
    "source",
    "source_digest",
    "energy_field",
    "units",
    "min_distance",
    "skip_corrupt",
    "seed",
)


def _start_work(fingerprint: dict, owned: OwnedFolder, clean: bool) -> None:
    """Create or reuse the work folder. Staged work made with other options is discarded:
    the scan when an option it depends on changed, otherwise only the plan and shards.
    ``clean`` removes temporary files of killed runs (not while array jobs may run)."""
    out = owned.path
    work = out / WORK
    scan_fp = {k: fingerprint[k] for k in SCAN_OPTIONS}
    fp_path = work / "options.json"
    if fp_path.is_file():
        old = json.loads(fp_path.read_text())
        if old != fingerprint:
            stale = ["plan", "shards"] + (
                ["scan"] if {k: old.get(k) for k in SCAN_OPTIONS} != scan_fp else []
            )
            log.warning(
                "%s holds an unfinished run with other options; redoing its %s",
                out,
                ", ".join(stale),
            )
            for name in stale:
                owned.remove_tree(f"{WORK}/{name}")
            for name in list(SPLITS) + ["index"]:
                owned.remove_tree(name)
        else:
            log.info("resuming the unfinished run in %s", out)
    for name in ("scan", "plan", "shards"):
        (work / name).mkdir(parents=True, exist_ok=True)
    tmp = fp_path.with_name(f"options.json.tmp{os.getpid()}")
    tmp.write_text(json.dumps(fingerprint, indent=1))
    os.replace(tmp, fp_path)
    if clean:  # leftovers of a killed run, only where prep writes them
        owned.remove_stale_tmp(WORK, *SPLITS, "index")


# ---------------------------------------------------------------- phase 2
def _plan(opts: PrepOptions, work: Path, summaries: list[dict]):
    """Assign records to splits (deterministic) and store the plan arrays."""
    n_kept = sum(s["kept"] for s in summaries)
    sizes = check_sizes(
        n_kept, {"train": opts.train_size, "val": opts.val_size, "test": opts.test_size}
    )
    if opts.split_by == "molecule" and not all(s["has_smiles_hash"] for s in summaries):
        raise Mace4irError(
            f"{opts.source}: split_by=molecule needs smiles_hash for every record (dft_metadata "
            f"config)"
        )
    done = work / "plan" / "done.json"
    if not done.is_file():
        log.info(
            "phase 2/3: assigning %d records to splits (split_by=%s, seed=%d)",
            n_kept,
            opts.split_by,
            opts.seed,
        )
        rank, group, unit, local = _load_keys(work, summaries)
        plan = make_plan(rank, group, unit, local, sizes, opts.split_by)
        for split, arr in plan.items():
            tmp = work / "plan" / f"{split}.npy.tmp{os.getpid()}"
            with open(tmp, "wb") as fh:
                np.save(fh, arr)
            os.replace(tmp, work / "plan" / f"{split}.npy")
        tmp = done.with_name(f"done.json.tmp{os.getpid()}")
        tmp.write_text(json.dumps({s: int(len(a)) for s, a in plan.items()}))
        os.replace(tmp, done)
        pause_point("plan", work, lambda: 1)
    counts = json.loads(done.read_text())
    subsets = check_subsets(opts.subsets, counts["train"])
    return counts, subsets


def _load_keys(work: Path, summaries: list[dict]):
    ranks, groups, units, locals_ = [], [], [], []
    for s in summaries:
        rank, group = load_unit_keys(work, s["unit"])
        ranks.append(rank)
        groups.append(group)
        units.append(np.full(len(rank), s["unit"], np.uint32))
        locals_.append(np.arange(len(rank), dtype=np.uint32))
    cat = np.concatenate
    return cat(ranks), cat(groups), cat(units), cat(locals_)


def _shard_tasks(
    opts: PrepOptions, out: Path, work: Path, sizes: dict, subsets: list[int]
) -> list[ShardTask]:
    tasks = []
    for split in SPLITS:
        n = sizes[split]
        for j, start in enumerate(range(0, n, opts.shard_size)):
            stop = min(start + opts.shard_size, n)
            tasks.append(
                ShardTask(
                    out,
                    work,
                    split,
                    j,
                    start,
                    stop,
                    opts.formats,
                    subsets if split == "train" else [],
                    opts.r_max,
                )
            )
    return tasks


def _merge_counts(summaries: list[dict]) -> FilterCounts:
    counts = FilterCounts()
    for s in summaries:
        counts.merge(FilterCounts.from_dict(s))
    for reason in REASONS:
        if counts.rejected[reason]:
            log.info(
                "rejected %d records as %s (e.g. %s)",
                counts.rejected[reason],
                reason,
                ", ".join(counts.examples[reason]),
            )
    for detail in counts.details:
        log.info("  %s", detail)
    return counts


# ---------------------------------------------------------------- execution
def _run(
    fn: Callable, tasks: list, opts: PrepOptions, desc: str, sizes: Iterable[int], unit: str
) -> None:
    """Run tasks inline (1 worker) or in a process pool, with a progress bar in records."""
    from tqdm import tqdm

    sizes = list(sizes)
    bar = tqdm(total=sum(sizes), desc=desc, unit=unit, unit_scale=True, disable=not opts.progress)
    try:
        if opts.workers <= 1 or len(tasks) <= 1:
            for task, n in zip(tasks, sizes):
                fn(task)
                bar.update(n)
            return
        ctx = get_context(
            "fork" if "torch" not in sys.modules else "spawn"
        )  # fork is cheap; not after torch
        n = min(opts.workers, len(tasks))
        with ProcessPoolExecutor(n, mp_context=ctx, initializer=exit_with_parent) as pool:
            futures = {pool.submit(fn, t): n for t, n in zip(tasks, sizes)}
            for fut in as_completed(futures):
                fut.result()
                bar.update(futures[fut])
    finally:
        bar.close()
