"""Export a trained MACE-EF + MACE-D pair as a release folder (:func:`write_release`, which
``mace4ir release import`` writes with too).

Weights and specs are re-saved through :mod:`mace4ir.training.models.weights_io` (safetensors +
JSON, no pickle); metrics come from each run's ``test_errors.json``: as in the paper's
workflow a model is released only after it was evaluated (``allow_missing_metrics``
overrides this). The folder is built under a temporary name and renamed at the end, so
a failed export never leaves a half-written release.
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import yaml

from mace4ir import __version__
from mace4ir.checksums import CHECKSUM_FILE, read_checksums, write_checksums
from mace4ir.errors import Mace4irError
from mace4ir.owned_folder import OwnedFolder, files_under
from mace4ir.training.models.release_layout import (
    FORMAT_NAME,
    FORMAT_VERSION,
    MODEL_CARD,
    MODEL_STEMS,
    RELEASE_CONFIG,
    TORCHSCRIPT_SUFFIX,
    member_stem,
)
from mace4ir.training.models.weights_io import (
    check_kind,
    load_model,
    require_model,
    run_dir,
    save_model,
)

log = logging.getLogger(__name__)

UNITS = {
    "positions": "Å",
    "energy": "eV",
    "forces": "eV/Å",
    "dipole": "e·Å",
    "atomic_energies": "eV",
    "metrics_energy": "meV/atom",
    "metrics_forces": "meV/Å",
    "metrics_dipole": "meÅ (milli e·Å)",
}
TEST_ERRORS = "test_errors.json"


@dataclass
class ExportOptions:
    ef: Path  # training RUN dir (or a model_io stem) of the MACE-EF model
    dipole: Path  # training RUN dir (or a model_io stem) of the MACE-D model
    out: Path  # release folder to create
    data: Path | None = None  # prepared dir (manifest.json); default: from the runs' config.yaml
    bench: list[Path] | None = (
        None  # benchmark results: `mace4ir bench` output folders or JSON files
    )
    torchscript: bool = False
    allow_missing_metrics: bool = False
    overwrite: bool = False
    license: str = "mit"
    model_name: str = "mace4ir"
    repo_id: str | None = None  # used in the model card's loading example
    dataset_ids: list[str] | None = None  # Hub dataset ids for the card's `datasets:` metadata


def read_test_errors(path: Path, kind: str, allow_missing: bool) -> dict | None:
    file = run_dir(path) / TEST_ERRORS
    if not file.is_file():
        if allow_missing:
            log.warning(
                "%s: no test-set errors; exporting without metrics (--allow-missing-metrics)", file
            )
            return None
        raise Mace4irError(
            f"{file}: missing: the {kind} model has no test-set errors. Run "
            f"'mace4ir evaluate-errors {run_dir(path)}' first, or pass --allow-missing-metrics"
        )
    try:
        return json.loads(file.read_text())
    except json.JSONDecodeError as exc:
        raise Mace4irError(f"{file}: invalid JSON: {exc}") from None


REQUIRED_METRICS = {
    "ef": ("energy_mae_mev_atom", "forces_mae_mev_A"),
    "dipole": ("dipole_mae_meA",),
}


def collect_metrics(opts: ExportOptions) -> dict:
    """Test-set errors of both models. ``evaluate-errors RUN_EF --dipole-run RUN_D`` writes
    both into the EF run's file, so the dipole numbers may come from there."""
    ef = read_test_errors(opts.ef, "ef", opts.allow_missing_metrics)
    if (
        not (run_dir(opts.dipole) / TEST_ERRORS).is_file()
        and ef
        and ef.get("dipole_mae_meA") is not None
    ):
        dipole = ef
    else:
        dipole = read_test_errors(opts.dipole, "dipole", opts.allow_missing_metrics)
    local = ("data", "models")  # paths on the machine that evaluated: not for a public release
    ef, dipole = ({k: v for k, v in m.items() if k not in local} if m else m for m in (ef, dipole))
    for kind, metrics, path in (("ef", ef, opts.ef), ("dipole", dipole, opts.dipole)):
        missing = [
            k for k in REQUIRED_METRICS[kind] if metrics is not None and metrics.get(k) is None
        ]
        if missing:
            raise Mace4irError(
                f"{run_dir(path) / TEST_ERRORS}: no {', '.join(missing)} for the {kind} model "
                "(evaluated with the wrong model or split?)"
            )
    return {"ef": ef, "dipole": dipole}


def find_manifest(opts: ExportOptions) -> dict | None:
    """The prepared data's manifest: --data, else the data path in a run's config.yaml."""
    candidates = [Path(opts.data)] if opts.data else []
    for run in (run_dir(opts.ef), run_dir(opts.dipole)):
        cfg_file = run / "config.yaml"
        if cfg_file.is_file():
            cfg = yaml.safe_load(cfg_file.read_text()) or {}
            for key in ("data", "data_dir", "prepared", "prepared_dir"):
                if isinstance(cfg.get(key), str):
                    candidates.append(Path(cfg[key]))
    for folder in candidates:
        file = folder if folder.suffix == ".json" else folder / "manifest.json"
        if file.is_file():
            return json.loads(file.read_text())
    if opts.data:
        raise Mace4irError(
            f"{opts.data}: no manifest.json (expected a folder written by 'mace4ir prep')"
        )
    log.warning(
        "training data manifest not found (pass --data PREPARED); the model card will not describe "
        "the data"
    )
    return None


def data_summary(manifest: dict | None) -> dict | None:
    """What the model card needs from the manifest (not shard paths/checksums)."""
    if manifest is None:
        return None
    keep = (
        "energy_field",
        "seed",
        "split_by",
        "rejected",
        "subsets",
        "elements",
        "units",
        "r_max",
        "versions",
    )
    summary = {k: manifest[k] for k in keep if k in manifest}
    source = manifest.get("source")
    if isinstance(source, dict):  # no local paths in a public release
        source = {
            k: source[k]
            for k in ("description", "level_of_theory", "n_records", "n_input_shards", "kind")
            if k in source
        }
    summary["source"] = source
    summary["splits"] = {
        name: split.get("count") for name, split in manifest.get("splits", {}).items()
    }
    summary["statistics"] = manifest.get("statistics", {})
    return summary


def _number(text: str):
    try:
        return float(text)
    except ValueError:
        return text


def read_bench_folder(path: Path) -> dict | None:
    """A ``mace4ir bench`` output folder: per-class table (tables/classes.csv) + run.json."""
    table = path / "tables" / "classes.csv"
    if not table.is_file():
        return None
    with open(table, newline="") as fh:
        rows = [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(fh)]
    run = json.loads((path / "run.json").read_text()) if (path / "run.json").is_file() else {}
    return {
        "source": f"mace4ir bench {run.get('suite', path.name)} ({run.get('kind', '?')})",
        "results": rows,
    }


def read_benchmarks(paths: list[Path] | Path | None) -> list[dict] | None:
    """Benchmark-suite results, one entry per --bench: a ``mace4ir bench`` output folder,
    a JSON file, or a folder with metrics.json / summary.json / results.json."""
    if not paths:
        return None
    out = []
    for path in [paths] if isinstance(paths, (str, Path)) else paths:
        path = Path(path)
        if path.is_dir() and (entry := read_bench_folder(path)):
            out.append(entry)
            continue
        if path.is_dir():
            found = [
                path / n
                for n in ("metrics.json", "summary.json", "results.json")
                if (path / n).is_file()
            ]
            if not found:
                raise Mace4irError(
                    f"{path}: not a 'mace4ir bench' output (no tables/classes.csv) and no "
                    "metrics.json / summary.json / results.json"
                )
            path = found[0]
        if not path.is_file():
            raise Mace4irError(f"{path}: benchmark results not found")
        try:
            out.append({"source": path.name, "results": json.loads(path.read_text())})
        except json.JSONDecodeError as exc:
            raise Mace4irError(f"{path}: invalid JSON: {exc}") from None
    return out


def software_versions() -> dict:
    versions = {"mace4ir": __version__}
    for dist in ("torch", "mace-torch", "e3nn", "ase", "huggingface_hub", "safetensors"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return versions


def model_entry(kind: str, spec: dict, model, stem: str | None = None) -> dict:
    from ase.data import chemical_symbols

    stem = stem or MODEL_STEMS[kind]
    entry = {
        "kind": kind,
        "weights": stem + ".safetensors",
        "spec": stem + ".json",
        "precision": spec["precision"],
        "architecture": spec["architecture"],
        "atomic_numbers": spec["atomic_numbers"],
        "elements": [chemical_symbols[z] for z in spec["atomic_numbers"]],
        "avg_num_neighbors": spec["avg_num_neighbors"],
        "n_parameters": int(sum(p.numel() for p in model.parameters())),
    }
    if kind == "ef":
        entry["atomic_energies_eV"] = dict(zip(entry["elements"], spec["atomic_energies"]))
        entry["scale"], entry["shift"] = spec["scale"], spec["shift"]
    return entry


def export_torchscript(model, path: Path) -> str:
    """TorchScript via e3nn's compiler (as mace-torch does for LAMMPS); returns a status line."""
    from e3nn.util import jit

    try:
        jit.compile(model).save(str(path))
        return "ok"
    except Exception as exc:  # mace-torch/e3nn modules are not all scriptable
        first = str(exc).strip().splitlines()
        reason = f"{type(exc).__name__}: {first[0] if first else ''}"
        log.warning(
            "TorchScript export of %s failed (%s); the safetensors weights are unaffected",
            path.name,
            reason,
        )
        return f"failed ({reason})"


def load_run_model(path: Path, kind: str):
    check_kind(path, kind)
    return load_model(require_model(path))


def earlier_release(out: Path) -> OwnedFolder | None:
    """The folder ``--overwrite`` may replace, or None when there is nothing to replace.

    A release folder carries no owner marker (every file in it is published); it is known
    by its own SHA256SUMS, which lists every file export wrote. Only those are removed: a
    folder that is not a release, or holds anything else, is refused.
    """
    if out.is_file():
        raise Mace4irError(f"{out}: exists and is a file")
    if not out.is_dir() or not any(out.iterdir()):
        return None
    if not (out / RELEASE_CONFIG).is_file() or not (out / CHECKSUM_FILE).is_file():
        raise Mace4irError(
            f"{out}: not a release written by 'mace4ir release export' (no {RELEASE_CONFIG} "
            f"and {CHECKSUM_FILE}); --overwrite replaces only such a folder, so nothing was "
            f"removed"
        )
    listed = {*read_checksums(out), CHECKSUM_FILE}
    others = sorted(set(files_under(out)) - listed)
    if others:
        raise Mace4irError(
            f"{out}: holds {', '.join(others[:5])}, which export did not write (not in "
            f"{CHECKSUM_FILE}); --overwrite never removes such files, so nothing was removed"
        )
    return OwnedFolder(out, "release export")


def check_out(out: Path, overwrite: bool) -> None:
    """Refuse, before anything is loaded or written, an output export may not replace."""
    out = Path(out)
    if (out.is_file() or (out.is_dir() and any(out.iterdir()))) and not overwrite:
        raise Mace4irError(f"{out}: exists and is not empty (pass --overwrite to replace it)")
    if overwrite:
        earlier_release(out)


def prepare_out(out: Path, overwrite: bool) -> Path:
    check_out(out, overwrite)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))


def replace_release(tmp: Path, out: Path) -> None:
    """Move the finished temporary folder to ``out``, removing only an earlier release's
    files (checked again: the folder may have changed while exporting)."""
    old = earlier_release(out)
    if old is not None:
        for name in files_under(out):
            old.remove(name)
        for sub in sorted((p for p in out.rglob("*") if p.is_dir()), reverse=True):
            sub.rmdir()
        out.rmdir()
    elif out.is_dir():
        out.rmdir()  # an empty folder
    os.chmod(tmp, 0o755)  # mkdtemp makes it private; a release is meant to be shared
    tmp.rename(out)


def release_config(model_name: str, license: str) -> dict:
    """The config every release starts from; ``models`` is filled by :func:`write_release`."""
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "model_name": model_name,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "license": license,
        "units": UNITS,
        "models": {},
    }


@dataclass
class ReleaseModel:
    """A model to write into a release: the module, its spec (what rebuilds it on load) and
    ``about``, extra keys of its entry in the release config (where it came from)."""

    model: object
    spec: dict
    about: dict


def write_release(
    out: Path,
    config: dict,
    models: dict[str, ReleaseModel],
    overwrite: bool = False,
    torchscript: bool = False,
    repo_id: str | None = None,
    dataset_ids: list[str] | None = None,
    committee: dict[str, list[ReleaseModel]] | None = None,
) -> Path:
    """Write a release folder: weights + specs, config, model card, checksums. Built under a
    temporary name and renamed at the end, so a failure leaves nothing behind. ``committee``:
    further members of each kind (``models`` holds member 0), listed under ``committee``."""
    from mace4ir.release.model_card import render_model_card

    config = {**config, "models": {}, "software": software_versions()}
    tmp = prepare_out(out, overwrite)
    try:
        names = []
        for kind, m in models.items():
            weights, spec_file = save_model(m.model, m.spec, tmp / MODEL_STEMS[kind])
            names += [weights.name, spec_file.name]
            entry = config["models"][kind] = {**model_entry(kind, m.spec, m.model), **m.about}
            if torchscript:
                names += _torchscript(m.model, kind, entry, tmp)
        if committee:
            config["committee"], member_files = _write_members(tmp, committee)
            names += member_files
        (tmp / RELEASE_CONFIG).write_text(json.dumps(config, indent=2, ensure_ascii=False))
        (tmp / MODEL_CARD).write_text(
            render_model_card(config, repo_id=repo_id, dataset_ids=dataset_ids)
        )
        write_checksums(tmp, names + [RELEASE_CONFIG, MODEL_CARD])
        out = Path(out)
        replace_release(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("release written to %s", out)
    return out


def _write_members(folder: Path, committee: dict[str, list[ReleaseModel]]):
    """(committee section of the config, file names) of the further members."""
    section, names = {}, []
    for kind, members in committee.items():
        section[kind] = []
        for i, m in enumerate(members, start=1):
            stem = member_stem(kind, i)
            weights, spec_file = save_model(m.model, m.spec, folder / stem)
            names += [weights.name, spec_file.name]
            section[kind].append({**model_entry(kind, m.spec, m.model, stem), **m.about})
    return section, names


def export_committee(
    folder: Path, out: Path, model_name: str, metrics: dict | None = None, about: dict | None = None
) -> Path:
    """A release of a committee folder (``committee.json``, from ``train``/``finetune``
    ``--committee`` or ``active-learn``): member 0 of each kind as the release's models, the
    rest under ``committee`` (``mace4ir.load(..., committee=True)`` opens them all)."""
    from mace4ir.training.models.committee import read_committee

    members = {
        kind: [ReleaseModel(*load_run_model(run, kind), {"source_run": str(run)}) for run in runs]
        for kind, runs in read_committee(folder).items()
    }
    config = {**release_config(model_name, "mit"), "metrics": metrics or {}, **(about or {})}
    first = {kind: ms[0] for kind, ms in members.items()}
    rest = {kind: ms[1:] for kind, ms in members.items() if len(ms) > 1}
    return write_release(out, config, first, overwrite=True, committee=rest)


def _torchscript(model, kind: str, entry: dict, folder: Path) -> list[str]:
    """Export where it works; returns the file names written (none on failure)."""
    ts_name = MODEL_STEMS[kind] + TORCHSCRIPT_SUFFIX
    entry["torchscript"] = export_torchscript(model, folder / ts_name)
    if entry["torchscript"] != "ok":
        return []
    entry["torchscript_file"] = ts_name
    return [ts_name]


def export_release(opts: ExportOptions) -> Path:
    """Write the release folder ``opts.out`` from two training runs; returns its path."""
    for path, kind in ((opts.ef, "ef"), (opts.dipole, "dipole")):
        require_model(path)
        check_kind(path, kind)
    config = {
        **release_config(opts.model_name, opts.license),
        "metrics": collect_metrics(opts),
        "benchmarks": read_benchmarks(opts.bench),
        "training_data": data_summary(find_manifest(opts)),
    }
    check_out(opts.out, opts.overwrite)
    models = {
        kind: ReleaseModel(*load_run_model(path, kind), {"source_run": run_dir(path).name})
        for kind, path in (("ef", opts.ef), ("dipole", opts.dipole))
    }
    return write_release(
        opts.out,
        config,
        models,
        overwrite=opts.overwrite,
        torchscript=opts.torchscript,
        repo_id=opts.repo_id,
        dataset_ids=opts.dataset_ids,
    )
