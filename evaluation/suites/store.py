"""On-disk layout of a benchmark run: one atomic JSON file per molecule.

    OUT/run.json              suite, kind, calculator, settings (the run's fingerprint)
    OUT/results/<id>.json     {"id", "status": "ok"|"failed", "molecule", "structure_source",
                               "harmonic", "md", "error", "elapsed_s", ...}
    OUT/tables/, OUT/plots/, OUT/report.md   written by the report

A result file appears only complete (tmp file + rename), so a run killed at any moment
leaves finished molecules intact and nothing half-written; a rerun skips them.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from mace4ir.errors import ConfigError, DataFormatError

FINGERPRINT_KEYS = ("suite", "kind", "calculator", "settings")


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(payload, fh, indent=1, default=_jsonable)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _jsonable(obj):
    import numpy as np

    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (np.floating, np.integer, np.bool_)):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DataFormatError(f"{path}: unreadable JSON: {exc}") from None


class ResultStore:
    """The results of one benchmark output folder."""

    def __init__(self, out: str | Path):
        self.out = Path(out)
        self.results_dir = self.out / "results"

    def path(self, mol_id: str) -> Path:
        return self.results_dir / f"{mol_id}.json"

    def write(self, payload: dict[str, Any]) -> None:
        write_json_atomic(self.path(payload["id"]), payload)

    def statuses(self) -> dict[str, str]:
        """{id: status} of every finished molecule (ok or failed)."""
        if not self.results_dir.is_dir():
            return {}
        return {r["id"]: r["status"] for r in self.results()}

    def results(self) -> list[dict[str, Any]]:
        if not self.results_dir.is_dir():
            return []
        return [read_json(p) for p in sorted(self.results_dir.glob("*.json"))]

    def read_run(self) -> dict[str, Any] | None:
        path = self.out / "run.json"
        return read_json(path) if path.is_file() else None

    def start_run(self, run: dict[str, Any]) -> None:
        """Write run.json, or check that an existing one describes the same setup."""
        old = self.read_run()
        if old is not None:
            check_same_setup(old, run, self.out)
            return
        write_json_atomic(self.out / "run.json", run)


def check_same_setup(old: dict, new: dict, where: Path) -> None:
    """Refuse to mix results of different models, kinds or settings in one folder."""
    old_fp = json.loads(json.dumps({k: old.get(k) for k in FINGERPRINT_KEYS}, default=str))
    new_fp = json.loads(json.dumps({k: new.get(k) for k in FINGERPRINT_KEYS}, default=str))
    for key in FINGERPRINT_KEYS:
        if old_fp[key] != new_fp[key]:
            raise ConfigError(
                f"{where}: holds results for a different {key} ({old_fp[key]!r}, now "
                f"{new_fp[key]!r}); "
                "use another --out folder, or remove the old one"
            )
