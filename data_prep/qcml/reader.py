"""Reading a QCML TFDS data_dir without TensorFlow: configs, fields, aligned records.

The reader finds, for every field it needs, the config that provides it: the bundled
configs first (``dft_force_field``, ``dft_multipole_moments``, ``dft_metadata``),
then the per-feature config ``dft_<field>``, then any other config. Records of the
chosen configs are zipped by global record index and their ``key_hash`` must agree.

Work is split into *units*: one unit per TFRecord shard of the primary config (the
one holding ``positions``); other configs are read over the same global record
range, whatever their own sharding.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mace4ir.data_prep.qcml import layout as fmt
from mace4ir.data_prep.qcml.example_proto import decode_example
from mace4ir.data_prep.qcml.tfrecord import CorruptRecord, count_records, iter_tfrecord
from mace4ir.errors import ConfigError, DataFormatError
from mace4ir.hashing import DigestCache

PREFERRED_CONFIGS = tuple(fmt.BUNDLED_CONFIGS)


@dataclass
class QcmlConfig:
    """One TFDS config folder (newest version) and its shards."""

    name: str
    folder: Path
    features: list[str]
    shards: list[Path]
    shard_lengths: list[int]
    description: str = ""
    metadata: dict = field(default_factory=dict)

    @property
    def num_records(self) -> int:
        return sum(self.shard_lengths)

    def shard_starts(self) -> list[int]:
        starts, total = [], 0
        for n in self.shard_lengths:
            starts.append(total)
            total += n
        return starts


def qcml_root(source: str | Path) -> Path:
    """``<data_dir>/qcml`` for a data_dir or the qcml folder itself."""
    source = Path(source)
    if not source.is_dir():
        raise ConfigError(f"QCML source {source} is not a directory")
    if (source / fmt.DATASET).is_dir():
        return source / fmt.DATASET
    if source.name == fmt.DATASET:
        return source
    raise ConfigError(
        f"{source}: no '{fmt.DATASET}/' folder (expected a TFDS data_dir "
        f"<dir>/qcml/<config>/<version>/)"
    )


def _version_key(name: str):
    return tuple(int(p) if p.isdigit() else -1 for p in name.split("."))


def load_config(folder: Path) -> QcmlConfig:
    """Read one ``<config>/<version>`` folder: features.json, shard list and lengths."""
    feats_path = folder / "features.json"
    if not feats_path.is_file():
        raise DataFormatError(f"{folder}: no features.json (not a TFDS prepared config)")
    try:
        feats = _read_json(feats_path)["featuresDict"]["features"]
        if not isinstance(feats, dict) or not all(isinstance(v, dict) for v in feats.values()):
            raise TypeError("features is not an object of feature objects")
    except (KeyError, TypeError) as exc:
        raise DataFormatError(f"{feats_path}: unreadable TFDS features ({exc})") from None
    shards = sorted(folder.glob(f"{fmt.DATASET}-{fmt.SPLIT}.tfrecord-*-of-*"))
    if not shards:
        raise DataFormatError(
            f"{folder}: no TFRecord shards named {fmt.DATASET}-{fmt.SPLIT}.tfrecord-XXXXX-of-NNNNN"
        )
    info, lengths = {}, None
    if (folder / "dataset_info.json").is_file():
        info = _read_json(folder / "dataset_info.json")
        lengths = _shard_lengths(info, folder / "dataset_info.json")
        if lengths is not None:
            if len(lengths) != len(shards):
                raise DataFormatError(
                    f"{folder}: dataset_info.json lists {len(lengths)} shards but {len(shards)} "
                    f"files exist"
                )
    if lengths is None:  # no dataset_info: count the records from the framing
        lengths = [count_records(p) for p in shards]
    meta = {}
    if (folder / "metadata.json").is_file():
        meta = _read_json(folder / "metadata.json")
    _check_encodings(feats, feats_path)
    return QcmlConfig(
        folder.parent.name,
        folder,
        sorted(feats),
        shards,
        lengths,
        info.get("description", ""),
        meta,
    )


def _read_json(path: Path) -> dict:
    """A JSON object from a TFDS metadata file, or a DataFormatError naming the file."""
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataFormatError(f"{path}: unreadable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise DataFormatError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def _shard_lengths(info: dict, path: Path) -> list[int] | None:
    """``shardLengths`` of the split ``full`` in dataset_info.json (None when not given)."""
    try:
        split = next((s for s in info.get("splits") or [] if s.get("name") == fmt.SPLIT), None)
        if not split or not split.get("shardLengths"):
            return None
        lengths = [int(n) for n in split["shardLengths"]]
    except (AttributeError, TypeError, ValueError) as exc:
        raise DataFormatError(f"{path}: unreadable splits/shardLengths ({exc})") from None
    if any(n < 0 for n in lengths):
        raise DataFormatError(f"{path}: negative shard length in {lengths}")
    return lengths


def _check_encodings(feats: dict, where: Path) -> None:
    """The reader handles TFDS tensors stored as plain lists (encoding 'none'), as QCML does."""
    for name, spec in feats.items():
        tensor = spec.get("tensor")
        encoding = tensor.get("encoding", "none") if isinstance(tensor, dict) else "none"
        if encoding not in ("none", "", None):
            raise DataFormatError(
                f"{where}: feature {name!r} uses TFDS tensor encoding {encoding!r}; only 'none' is "
                f"supported"
            )


def discover_configs(source: str | Path) -> dict[str, QcmlConfig]:
    """All configs of a data_dir (newest version of each), by name."""
    root = qcml_root(source)
    out = {}
    for cfg_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        versions = sorted(
            (p for p in cfg_dir.iterdir() if p.is_dir()), key=lambda p: _version_key(p.name)
        )
        if versions:
            out[cfg_dir.name] = load_config(versions[-1])
    if not out:
        raise ConfigError(f"{root}: no QCML configs found")
    return out


def resolve_fields(
    configs: dict[str, QcmlConfig], required: list[str], optional: list[str], source
) -> dict[str, list[str]]:
    """Map config name -> fields to read from it; a missing required field is a ConfigError."""
    chosen: dict[str, list[str]] = {}
    for name in required + optional:
        order = list(PREFERRED_CONFIGS) + [f"dft_{name}"] + sorted(configs)
        cfg = next((c for c in order if c in configs and name in configs[c].features), None)
        if cfg is None:
            if name in optional:
                continue
            wanted = ", ".join(order[:4])
            raise ConfigError(
                f"{source}: no QCML config provides field {name!r} (looked for it in {wanted}, "
                f"...; "
                f"configs present: {', '.join(sorted(configs))})"
            )
        chosen.setdefault(cfg, []).append(name)
    for cfg in chosen:
        if "key_hash" not in configs[cfg].features:
            raise DataFormatError(
                f"{configs[cfg].folder}: config has no key_hash field; cannot align records"
            )
    return chosen


@dataclass
class Unit:
    """A range of global record indices [start, start + count), the primary shard that holds it."""

    index: int
    start: int
    count: int
    path: Path


def work_units(primary: QcmlConfig) -> list[Unit]:
    return [
        Unit(i, s, n, p)
        for i, (s, n, p) in enumerate(
            zip(primary.shard_starts(), primary.shard_lengths, primary.shards)
        )
    ]


def iter_range(
    cfg: QcmlConfig, start: int, count: int, skip_corrupt: bool, corrupt: list
) -> Iterator:
    """Yield ``(path, local index, payload bytes or None)`` for global records [start, start+count).

    With ``skip_corrupt``, a corrupt record gives ``None`` (and is appended to ``corrupt``);
    records after an unrecoverable framing error in a shard also give ``None``.
    """
    starts = cfg.shard_starts()
    remaining, pos = count, start
    for shard, (s0, n) in enumerate(zip(starts, cfg.shard_lengths)):
        if remaining == 0:
            return
        if pos >= s0 + n:
            continue
        local, take = pos - s0, min(n - (pos - s0), remaining)
        path = cfg.shards[shard]
        got = 0
        for payload in iter_tfrecord(
            path, skip=local, skip_corrupt=skip_corrupt, on_corrupt=corrupt.append
        ):
            yield path, local + got, payload
            got += 1
            if got == take:
                break
        if got < take:
            if not skip_corrupt:
                raise DataFormatError(
                    f"{path}: has {local + got} records, dataset_info.json says {n} (truncated "
                    f"shard?)"
                )
            for k in range(got, take):
                yield path, local + k, None
        pos += take
        remaining -= take
    if remaining:
        raise DataFormatError(
            f"{cfg.folder}: ends before record {pos} (fewer records than the primary config)"
        )


def iter_unit(
    configs: dict[str, QcmlConfig],
    fields: dict[str, list[str]],
    unit: Unit,
    skip_corrupt: bool,
    corrupt: list,
):
    """Yield ``(global index, {field: value} or None)`` for one unit, zipping configs by order.

    ``None`` marks a corrupt record (only with ``skip_corrupt``). Raises DataFormatError
    when key_hashes disagree, naming both files and the record index.
    """
    names = list(fields)
    wanted = {c: ["key_hash", *fields[c]] for c in names}
    streams = [iter_range(configs[c], unit.start, unit.count, skip_corrupt, corrupt) for c in names]
    for offset, parts in enumerate(zip(*streams)):
        index = unit.start + offset
        if any(p[2] is None for p in parts):
            yield index, None
            continue
        merged, key = {}, None
        for cfg_name, (path, local, payload) in zip(names, parts):
            ex = decode_example(payload, f"{path} record {local}", wanted[cfg_name])
            _check_kinds(ex, path, local)
            this_key = _key_of(ex, path, local)
            if key is None:
                key, key_where = this_key, (path, local)
            elif this_key != key:
                raise DataFormatError(
                    f"key_hash mismatch at global record {index}: {key_where[0]} record "
                    f"{key_where[1]} has "
                    f"{key!r} but {path} record {local} has {this_key!r} (configs not aligned)"
                )
            for name in fields[cfg_name]:
                if name not in ex:
                    raise DataFormatError(f"{path} record {local}: field {name!r} missing")
                merged[name] = ex[name]
        merged["key_hash"] = key
        yield index, merged


STRING_FIELDS = frozenset({"key_hash", "smiles", "smiles_hash", "chemical_formula"})


def _check_kinds(ex: dict, path, local) -> None:
    """Text fields must hold bytes and numeric fields numbers (another QCML version or a
    hand-made file could differ): a one-line error instead of a crash later."""
    for name, value in ex.items():
        if value is None:
            continue  # an empty feature: reported where the field is needed
        is_text = isinstance(value, list)
        if is_text != (name in STRING_FIELDS):
            found = "text (bytes_list)" if is_text else f"numbers ({value.dtype})"
            wanted = "text (bytes_list)" if name in STRING_FIELDS else "numbers"
            raise DataFormatError(
                f"{path} record {local}: field {name!r} holds {found}, expected {wanted}"
            )


def source_digest(
    configs: dict[str, QcmlConfig], names, digests: DigestCache | None = None, workers: int = 1
) -> str:
    """Fingerprint of the input: every shard's name and full SHA-256 (remembered by size and
    mtime, so only changed shards are read again).

    A shard repaired or edited anywhere changes it, so a rerun never mistakes stale output for
    finished work; a copy of the same data (new mtimes) is hashed again and still resumes.
    """
    import hashlib

    digests = digests or DigestCache.default()
    h = hashlib.sha256()
    try:
        digests.fill([p for name in names for p in configs[name].shards], workers)
        for name in sorted(names):
            for path in configs[name].shards:
                h.update(f"{name}/{path.name}:{digests.sha256(path)};".encode())
    finally:
        digests.save()
    return h.hexdigest()


def _key_of(ex: dict, path, local) -> str:
    value = ex.get("key_hash")
    if not value:
        raise DataFormatError(f"{path} record {local}: no key_hash")
    return value[0].decode() if isinstance(value, list) else str(value)


__all__ = [
    "CorruptRecord",
    "QcmlConfig",
    "Unit",
    "discover_configs",
    "iter_unit",
    "qcml_root",
    "resolve_fields",
    "work_units",
]
