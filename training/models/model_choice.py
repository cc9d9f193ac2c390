"""Choosing the EF and the dipole model among the models a release folder holds.

By name: the file's path below the folder, its file name or its stem
(``MACE4IR_EF_small_float32.model`` or ``MACE4IR_EF_small_float32``). Without a name:
the EF model is the float32 EF with the fewest parameters (the fastest), else the smallest
EF of any precision; the dipole model is the only one. Anything else is a one-line error
listing what the folder holds.
"""

from __future__ import annotations

import logging
from pathlib import PurePosixPath

from mace4ir.errors import Mace4irError
from mace4ir.training.models.model_inventory import ModelEntry, holdings

log = logging.getLogger(__name__)

KIND_NAMES = {"ef": "EF", "dipole": "dipole"}
A_KIND = {"ef": "an EF", "dipole": "a dipole"}
OPTION = {"ef": "ef=NAME (CLI: --ef-file NAME)", "dipole": "dipole=NAME (CLI: --dipole-file NAME)"}
DEFAULT_RULE = "the float32 EF model with the fewest parameters, else the smallest EF model"


def choose_pair(
    entries: list[ModelEntry], where: str, ef: str | None = None, dipole: str | None = None
) -> tuple[ModelEntry, ModelEntry]:
    """(EF entry, dipole entry) of ``where`` (a folder or repo id, for messages)."""
    return choose(entries, "ef", ef, where), choose(entries, "dipole", dipole, where)


def choose(entries: list[ModelEntry], kind: str, name: str | None, where: str) -> ModelEntry:
    return by_name(entries, kind, name, where) if name else default(entries, kind, where)


def by_name(entries: list[ModelEntry], kind: str, name: str, where: str) -> ModelEntry:
    found = [e for e in entries if name in _names(e)]
    if not found:
        raise Mace4irError(f"{where}: no model file {name!r}; it holds: {holdings(entries)}")
    if len(found) > 1:
        raise Mace4irError(
            f"{where}: {name!r} is ambiguous ({', '.join(e.name for e in found)}); give the path "
            f"below the folder. It holds: {holdings(entries)}"
        )
    if found[0].kind != kind:
        raise Mace4irError(
            f"{where}: {found[0].label()} is not {A_KIND[kind]} model; it holds: "
            f"{holdings(entries)}"
        )
    return found[0]


def default(entries: list[ModelEntry], kind: str, where: str) -> ModelEntry:
    """The default model of a kind (logged), or an error listing what the folder holds."""
    found = default_candidates(entries, kind)
    if not found:
        raise Mace4irError(f"{where}: no {KIND_NAMES[kind]} model; it holds: {holdings(entries)}")
    if len(found) > 1:
        raise Mace4irError(
            f"{where}: several {KIND_NAMES[kind]} models fit the default "
            f"({', '.join(e.name for e in found)}): choose one with {OPTION[kind]}. It holds: "
            f"{holdings(entries)}"
        )
    log.info(
        "%s: using %s model %s (default: %s; choose another with %s)",
        where,
        KIND_NAMES[kind],
        found[0].name,
        DEFAULT_RULE if kind == "ef" else "the only dipole model",
        OPTION[kind],
    )
    return found[0]


def default_candidates(entries: list[ModelEntry], kind: str) -> list[ModelEntry]:
    """The models the default rule leaves for a kind (one, or none, or a tie)."""
    of_kind = [e for e in entries if e.kind == kind]
    if kind != "ef" or not of_kind:
        return of_kind
    pool = [e for e in of_kind if e.precision == "float32"] or of_kind
    smallest = min(e.n_parameters for e in pool)
    return [e for e in pool if e.n_parameters == smallest]


def _names(entry: ModelEntry) -> set[str]:
    path = PurePosixPath(entry.name)
    return {entry.name, path.name, path.stem, str(path.with_suffix(""))}
