"""Benchmark suite files: loading and validation.

A suite is a YAML file (built-in ones live in ``configs/benchmarks/``) listing molecules
with a stable ``id``, a ``name``, a ``class`` (one of the suite's ``classes``), a
``source`` and exactly one way to get the structure:

- ``file``: a structure file readable by ASE (path relative to the suite file),
- ``smiles``: RDKit embedding (``cas`` may be given as metadata; CAS alone cannot be
  embedded offline),
- ``tmqm``: a CSD code looked up in a local tmQM copy,
- ``geckoq``: a GeckoQ record id, or ``{smiles: ...}`` matched in a local GeckoQ copy,
- ``extxyz``: ``{file: PATH, index: I}`` or ``{file: PATH, key: VALUE}`` (frame whose
  ``info['id']`` equals VALUE).

A dataset entry (``tmqm``/``geckoq``) may also carry a ``smiles`` used only when no local
copy of the dataset is configured (the result records which geometry was used).
Optional ``references``: ``experimental`` (JCAMP-DX), ``harmonic`` (DFT modes, CSV/JSON),
``spectrum`` (two-column CSV). Every error names the suite file, the molecule id and what
is wrong.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mace4ir.config import builtin_config_names, config_path
from mace4ir.errors import ConfigError

SUITE_GROUP = "benchmarks"
STRUCTURE_KEYS = ("file", "smiles", "tmqm", "geckoq", "extxyz")
DATASET_KEYS = ("tmqm", "geckoq")
REFERENCE_KINDS = ("experimental", "harmonic", "spectrum")
KINDS = ("harmonic", "md", "both")
MOLECULE_KEYS = {
    "id",
    "name",
    "class",
    "source",
    "charge",
    "multiplicity",
    "cas",
    "references",
    "notes",
    *STRUCTURE_KEYS,
}
SUITE_KEYS = {
    "name",
    "description",
    "kind",
    "classes",
    "datasets",
    "molecules",
    "harmonic",
    "md",
    "spectrum",
}


class SuiteError(ConfigError):
    """A suite file is invalid (names the file, the molecule and the problem)."""


@dataclass(frozen=True)
class Molecule:
    """One suite entry; paths are absolute (resolved against the suite file)."""

    id: str
    name: str
    cls: str
    source: str
    structure: dict[str, Any]  # {"kind": one of STRUCTURE_KEYS, "value": ..., "smiles": fallback}
    references: dict[str, str] = field(default_factory=dict)
    charge: int = 0
    multiplicity: int = 1
    cas: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "class": self.cls,
            "source": self.source,
            "structure": self.structure,
            "references": dict(self.references),
            "charge": self.charge,
            "multiplicity": self.multiplicity,
            "cas": self.cas,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Molecule:
        return cls(
            id=d["id"],
            name=d["name"],
            cls=d["class"],
            source=d["source"],
            structure=d["structure"],
            references=d.get("references", {}),
            charge=d.get("charge", 0),
            multiplicity=d.get("multiplicity", 1),
            cas=d.get("cas"),
        )


@dataclass
class Suite:
    name: str
    path: Path
    description: str
    kind: str
    classes: dict[str, str]  # class id -> label for tables
    datasets: dict[str, Path]  # dataset name -> local copy (from the suite file)
    molecules: list[Molecule]
    settings: dict[str, dict]  # "harmonic", "md", "spectrum" option blocks

    def select(
        self,
        ids: list[str] | None = None,
        limit: int | None = None,
        chunk: tuple[int, int] | None = None,
    ) -> list[Molecule]:
        """Molecules filtered by id list, then chunk ``(i, n)`` (1-based), then limit."""
        mols = self.molecules
        if ids:
            known = {m.id for m in mols}
            unknown = [i for i in ids if i not in known]
            if unknown:
                raise SuiteError(
                    f"{self.path}: unknown molecule id(s) {', '.join(unknown)} "
                    f"(suite has: {', '.join(sorted(known))})"
                )
            wanted = set(ids)
            mols = [m for m in mols if m.id in wanted]
        if chunk:
            i, n = chunk
            mols = mols[i - 1 :: n]
        if limit is not None:
            mols = mols[:limit]
        return mols


def available_suites() -> list[str]:
    return builtin_config_names(SUITE_GROUP)


def load_suite(name_or_path: str | Path) -> Suite:
    """Load and validate a built-in suite name (``nist_shipped``) or a suite YAML path."""
    path = config_path(name_or_path, SUITE_GROUP).resolve()
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise SuiteError(f"{path}: invalid YAML: {exc}") from None
    return parse_suite(data, path)


def parse_suite(data: Any, path: Path) -> Suite:
    """Validate the raw YAML mapping of a suite file and build a :class:`Suite`."""
    if not isinstance(data, dict):
        raise SuiteError(f"{path}: expected a mapping at top level")
    _no_unknown_keys(data, SUITE_KEYS, f"{path}")
    classes = _parse_classes(data.get("classes"), path)
    kind = data.get("kind", "harmonic")
    if kind not in KINDS:
        raise SuiteError(f"{path}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    entries = data.get("molecules")
    if not isinstance(entries, list) or not entries:
        raise SuiteError(f"{path}: 'molecules' must be a non-empty list")
    molecules, seen = [], {}
    for pos, entry in enumerate(entries):
        mol = _parse_molecule(entry, pos, classes, path)
        if mol.id in seen:
            raise SuiteError(
                f"{path}: molecule {mol.id!r}: duplicate id "
                f"(entries {seen[mol.id] + 1} and {pos + 1})"
            )
        seen[mol.id] = pos
        molecules.append(mol)
    settings = {}
    for block in ("harmonic", "md", "spectrum"):
        value = data.get(block, {}) or {}
        if not isinstance(value, dict):
            raise SuiteError(f"{path}: '{block}' must be a mapping of options")
        settings[block] = value
    return Suite(
        name=str(data.get("name", path.stem)),
        path=path,
        description=str(data.get("description", "")).strip(),
        kind=kind,
        classes=classes,
        datasets=_parse_datasets(data.get("datasets"), path),
        molecules=molecules,
        settings=settings,
    )


def _no_unknown_keys(d: dict, allowed: set, where: str) -> None:
    unknown = sorted(set(d) - allowed)
    if unknown:
        raise SuiteError(
            f"{where}: unknown key(s) {', '.join(map(str, unknown))} "
            f"(allowed: {', '.join(sorted(allowed))})"
        )


def _parse_classes(raw: Any, path: Path) -> dict[str, str]:
    if isinstance(raw, list):
        raw = {str(c): str(c) for c in raw}
    if not isinstance(raw, dict) or not raw:
        raise SuiteError(f"{path}: 'classes' must be a non-empty mapping of class id -> label")
    return {str(k): str(v) for k, v in raw.items()}


def _parse_datasets(raw: Any, path: Path) -> dict[str, Path]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise SuiteError(f"{path}: 'datasets' must map dataset name -> local path")
    out = {}
    for name, loc in raw.items():
        if name not in DATASET_KEYS:
            raise SuiteError(
                f"{path}: datasets: unknown dataset {name!r} (known: {', '.join(DATASET_KEYS)})"
            )
        out[name] = _resolve(os.path.expandvars(str(loc)), path)
    return out


def _resolve(p: str, suite_path: Path) -> Path:
    q = Path(p).expanduser()
    return q if q.is_absolute() else (suite_path.parent / q).resolve()


def _parse_molecule(entry: Any, pos: int, classes: dict, path: Path) -> Molecule:
    if not isinstance(entry, dict):
        raise SuiteError(f"{path}: molecules[{pos}]: expected a mapping, got {entry!r}")
    mid = entry.get("id")
    if not isinstance(mid, (str, int)) or str(mid).strip() == "":
        raise SuiteError(f"{path}: molecules[{pos}]: missing 'id'")
    mid = str(mid)
    where = f"{path}: molecule {mid!r}"
    if any(c in mid for c in "/\\ ") or mid.startswith("."):
        raise SuiteError(
            f"{where}: id must not contain '/', '\\', spaces or start with '.'"
            " (it names the result file)"
        )
    _no_unknown_keys(entry, MOLECULE_KEYS, where)
    cls = entry.get("class")
    if cls is None:
        raise SuiteError(f"{where}: missing 'class'")
    if str(cls) not in classes:
        raise SuiteError(f"{where}: unknown class {cls!r} (suite classes: {', '.join(classes)})")
    for key in ("charge", "multiplicity"):
        if key in entry and not isinstance(entry[key], int):
            raise SuiteError(f"{where}: {key} must be an integer, got {entry[key]!r}")
    return Molecule(
        id=mid,
        name=str(entry.get("name", mid)),
        cls=str(cls),
        source=str(entry.get("source", "")),
        structure=_parse_structure(entry, where, path),
        references=_parse_references(entry.get("references"), where, path),
        charge=entry.get("charge", 0),
        multiplicity=entry.get("multiplicity", 1),
        cas=str(entry["cas"]) if entry.get("cas") is not None else None,
    )


def _parse_structure(entry: dict, where: str, path: Path) -> dict[str, Any]:
    given = [k for k in STRUCTURE_KEYS if entry.get(k) is not None]
    datasets = [k for k in given if k in DATASET_KEYS]
    others = [k for k in given if k not in DATASET_KEYS and k != "smiles"]
    if not given:
        hint = (
            " (a CAS number alone cannot be embedded offline: add 'smiles')"
            if entry.get("cas")
            else ""
        )
        raise SuiteError(
            f"{where}: missing structure: give one of {', '.join(STRUCTURE_KEYS)}{hint}"
        )
    if len(datasets) + len(others) > 1 or (others and "smiles" in given):
        raise SuiteError(
            f"{where}: give exactly one structure source, got {', '.join(given)} "
            "(only a tmqm/geckoq entry may add a fallback 'smiles')"
        )
    smiles = entry.get("smiles")
    if smiles is not None and (not isinstance(smiles, str) or not smiles.strip()):
        raise SuiteError(f"{where}: smiles must be a non-empty string")
    if datasets:
        return {
            "kind": datasets[0],
            "value": _dataset_key(entry[datasets[0]], datasets[0], where),
            "smiles": smiles,
        }
    if others:
        kind = others[0]
        value = entry[kind]
        if kind == "file":
            f = _resolve(str(value), path)
            if not f.is_file():
                raise SuiteError(f"{where}: structure file missing: {f}")
            return {"kind": "file", "value": str(f)}
        return {"kind": "extxyz", "value": _extxyz_spec(value, where, path)}
    return {"kind": "smiles", "value": smiles.strip()}


def _dataset_key(value: Any, dataset: str, where: str) -> Any:
    if dataset == "geckoq" and isinstance(value, dict):
        if set(value) != {"smiles"} or not isinstance(value["smiles"], str):
            raise SuiteError(
                f"{where}: geckoq must be a record id or {{smiles: SMILES}}, got {value!r}"
            )
        return {"smiles": value["smiles"]}
    if not isinstance(value, (str, int)) or str(value).strip() == "":
        raise SuiteError(f"{where}: {dataset} must be a record id, got {value!r}")
    return str(value).strip()


def _extxyz_spec(value: Any, where: str, path: Path) -> dict[str, Any]:
    if not isinstance(value, dict) or "file" not in value or not ({"index", "key"} & set(value)):
        raise SuiteError(
            f"{where}: extxyz must be {{file: PATH, index: I}} or {{file: PATH, key: ID}}"
        )
    f = _resolve(str(value["file"]), path)
    if not f.is_file():
        raise SuiteError(f"{where}: extxyz file missing: {f}")
    spec: dict[str, Any] = {"file": str(f)}
    if "index" in value:
        if not isinstance(value["index"], int):
            raise SuiteError(f"{where}: extxyz index must be an integer, got {value['index']!r}")
        spec["index"] = value["index"]
    else:
        spec["key"] = str(value["key"])
    return spec


def _parse_references(raw: Any, where: str, path: Path) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise SuiteError(f"{where}: references must be a mapping ({', '.join(REFERENCE_KINDS)})")
    out = {}
    for kind, value in raw.items():
        if kind not in REFERENCE_KINDS:
            raise SuiteError(
                f"{where}: unknown reference kind {kind!r} (known: {', '.join(REFERENCE_KINDS)})"
            )
        if value is None:
            continue
        f = _resolve(str(value), path)
        if not f.is_file():
            raise SuiteError(f"{where}: {kind} reference file missing: {f}")
        out[kind] = str(f)
    return out
