"""A committee: several models of one kind that differ by seed or data (bootstrap).

Layout of a committee run folder::

    RUN/committee.json          {"ef": ["ef/member_00", ...], "dipole": ["dipole/member_00", ...]}
    RUN/ef/member_00/ ...       ordinary training runs (best_model.safetensors/.json, ...)

(``mace4ir train --committee N`` writes ``RUN/member_00`` ... for its one kind.)

A committee of one is an ordinary run (``RUN/ef``). Readers take ``RUN`` (the folder with
committee.json) and get the members' run folders.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from mace4ir.atomic_write import write_text_atomic
from mace4ir.errors import Mace4irError

COMMITTEE_FILE = "committee.json"


def member_dir(root: Path, index: int, size: int) -> Path:
    """Run folder of member ``index``: ``root`` itself for a committee of one."""
    return Path(root) if size == 1 else Path(root) / f"member_{index:02d}"


def write_committee(out: Path, members: dict[str, list[Path]]) -> Path:
    """Record the member run folders of each kind (relative to ``out``)."""
    data = {kind: [os.path.relpath(p, out) for p in paths] for kind, paths in members.items()}
    Path(out).mkdir(parents=True, exist_ok=True)
    return write_text_atomic(Path(out) / COMMITTEE_FILE, json.dumps(data, indent=2) + "\n")


def is_committee(path: str | Path) -> bool:
    return (Path(path) / COMMITTEE_FILE).is_file()


def read_committee(path: str | Path) -> dict[str, list[Path]]:
    """``{"ef": [run dirs], "dipole": [run dirs]}`` of a committee folder (kinds it holds)."""
    file = Path(path) / COMMITTEE_FILE
    if not file.is_file():
        raise Mace4irError(f"{path}: not a committee (no {COMMITTEE_FILE})")
    try:
        data = json.loads(file.read_text())
    except json.JSONDecodeError as exc:
        raise Mace4irError(f"{file}: invalid JSON: {exc}") from None
    members = {kind: [Path(path) / p for p in data.get(kind, [])] for kind in ("ef", "dipole")}
    for kind, paths in members.items():
        for p in paths:
            if not (p / "best_model.json").is_file():
                raise Mace4irError(f"{file}: {kind} member {p} has no best_model (not finished?)")
    return {k: v for k, v in members.items() if v}
