"""Turn a suite molecule into ``ase.Atoms``: structure files, SMILES, tmQM, GeckoQ, extxyz.

Local dataset copies are found, in order of precedence, from ``--dataset NAME=PATH``,
the environment (``MACE4IR_TMQM``, ``MACE4IR_GECKOQ``) and the suite's ``datasets:`` block.
"""

from __future__ import annotations

import os
from pathlib import Path

from ase import Atoms

from mace4ir.errors import ConfigError, DataFormatError
from mace4ir.evaluation.suites.dataset_readers import (
    DatasetRecordMissing,
    GeckoQ,
    read_extxyz_frame,
    read_tmqm_records,
    tmqm_files,
)
from mace4ir.evaluation.suites.suite_files import DATASET_KEYS, Molecule, Suite

ENV_VARS = {"tmqm": "MACE4IR_TMQM", "geckoq": "MACE4IR_GECKOQ"}


def parse_dataset_options(items: list[str] | None) -> dict[str, Path]:
    """``["tmqm=/data/tmQM", ...]`` -> {"tmqm": Path}."""
    out = {}
    for item in items or []:
        name, sep, path = item.partition("=")
        if not sep or name not in DATASET_KEYS or not path:
            raise ConfigError(
                f"--dataset {item!r}: expected NAME=PATH with NAME one of {', '.join(DATASET_KEYS)}"
            )
        out[name] = Path(path).expanduser().resolve()
    return out


def dataset_locations(suite: Suite, overrides: dict[str, Path] | None = None) -> dict[str, Path]:
    locations = dict(suite.datasets)
    for name, var in ENV_VARS.items():
        if os.environ.get(var):
            locations[name] = Path(os.environ[var]).expanduser().resolve()
    locations.update(overrides or {})
    return locations


def resolve_structures(molecules: list[Molecule], locations: dict[str, Path]) -> dict[str, tuple]:
    """{id: (atoms, provenance)} or {id: (None, error message)} for every molecule.

    tmQM codes are looked up together (one pass over the tmQM files); a molecule that
    cannot be resolved gets its error message instead of stopping the others.
    """
    out: dict[str, tuple] = {}
    tmqm = _resolve_tmqm([m for m in molecules if m.structure["kind"] == "tmqm"], locations, out)
    geckoq = None
    for mol in molecules:
        if mol.id in out or mol.id in tmqm:
            continue
        try:
            if mol.structure["kind"] == "geckoq" and "geckoq" in locations:
                geckoq = geckoq or GeckoQ(locations["geckoq"])
                out[mol.id] = _from_geckoq(mol, geckoq)
            else:
                out[mol.id] = _from_spec(mol, locations)
        except Exception as exc:  # recorded per molecule, the suite goes on
            out[mol.id] = (None, _message(exc))
    out.update(tmqm)
    for mol in molecules:
        atoms = out[mol.id][0]
        if atoms is not None:
            atoms.info.setdefault("charge", mol.charge)
            atoms.info.setdefault("multiplicity", mol.multiplicity)
            atoms.info["name"] = mol.name
    return out


def _message(exc: Exception) -> str:
    return str(exc) if str(exc) else type(exc).__name__


def _resolve_tmqm(mols: list[Molecule], locations: dict, out: dict) -> dict[str, tuple]:
    if not mols:
        return {}
    if "tmqm" not in locations:
        done = {}
        for mol in mols:
            if mol.structure.get("smiles"):
                continue  # falls back to the SMILES in _from_spec
            done[mol.id] = (
                None,
                f"molecule {mol.id!r}: tmQM record {mol.structure['value']!r} needs a "
                "local tmQM copy: pass --dataset tmqm=PATH or set MACE4IR_TMQM",
            )
        return done
    codes = {m.structure["value"] for m in mols}
    try:
        found = read_tmqm_records(locations["tmqm"], codes)
        searched = ", ".join(str(p) for p in tmqm_files(locations["tmqm"]))
    except Exception as exc:
        return {m.id: (None, f"molecule {m.id!r}: {_message(exc)}") for m in mols}
    result = {}
    for mol in mols:
        code = mol.structure["value"]
        if code in found:
            result[mol.id] = (found[code].copy(), f"tmQM {code}")
        else:
            result[mol.id] = (
                None,
                f"molecule {mol.id!r}: tmQM record {code!r} not found (searched {searched})",
            )
    return result


def _from_geckoq(mol: Molecule, geckoq: GeckoQ) -> tuple[Atoms, str]:
    key = mol.structure["value"]
    rid = geckoq.id_for_smiles(key["smiles"]) if isinstance(key, dict) else key
    try:
        return geckoq.read(rid), f"GeckoQ {rid}"
    except DatasetRecordMissing as exc:
        raise DatasetRecordMissing(f"molecule {mol.id!r}: {exc}") from None


def _from_spec(mol: Molecule, locations: dict) -> tuple[Atoms, str]:
    kind, value = mol.structure["kind"], mol.structure["value"]
    if kind == "extxyz":
        atoms = read_extxyz_frame(value["file"], index=value.get("index"), key=value.get("key"))
        return atoms, f"extxyz {value['file']}"
    if kind in DATASET_KEYS:  # no local copy configured: documented SMILES fallback
        smiles = mol.structure.get("smiles")
        if not smiles:
            raise DatasetRecordMissing(
                f"molecule {mol.id!r}: {kind} record {value!r} needs a local copy: "
                f"pass --dataset {kind}=PATH or set {ENV_VARS[kind]}"
            )
        return _embed(smiles), f"RDKit embedding of {smiles} (no local {kind} copy)"
    if kind == "smiles":
        return _embed(value), f"RDKit embedding of {value}"
    return _read_file(value), f"file {value}"


def _embed(smiles: str) -> Atoms:
    from mace4ir.molecules import load_molecule

    return load_molecule(smiles)


def _read_file(path: str) -> Atoms:
    from ase.io import read

    try:
        return read(path, index=0)
    except Exception as exc:  # ASE raises many types for unreadable files
        raise DataFormatError(f"{path}: cannot read structure: {exc}") from None
