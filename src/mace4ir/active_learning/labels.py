"""Oracle labels on disk: one file per frame, so nothing is computed twice or lost.

A frame's id is a hash of its atomic numbers and positions. Labelling writes
``labels/<id>.npz`` (the record) or ``labels/<id>.failed.json`` (an SCF that did not
converge, a crashed worker, non-finite output), each atomically and by the worker that
computed it, so a run killed at any moment keeps every finished label and a rerun submits
only frames without a file. Failures are recorded, counted and skipped, never retried
(each attempt is an oracle call).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import traceback
from pathlib import Path

import numpy as np

from mace4ir import faults
from mace4ir.active_learning.oracle import OracleSpec, label
from mace4ir.data_prep.prepared.records import make_record
from mace4ir.faults import pause_point
from mace4ir.workers import run_resilient

log = logging.getLogger(__name__)


def frame_id(numbers, positions) -> str:
    data = (
        np.asarray(numbers, np.int64).tobytes()
        + np.round(np.asarray(positions, float), 6).tobytes()
    )
    return hashlib.sha256(data).hexdigest()[:20]


class LabelStore:
    def __init__(self, root: str | Path, oracle: OracleSpec):
        self.root = Path(root) / "labels"
        self.root.mkdir(parents=True, exist_ok=True)
        self.oracle = oracle

    def ok_path(self, fid: str) -> Path:
        return self.root / f"{fid}.npz"

    def failed_path(self, fid: str) -> Path:
        return self.root / f"{fid}.failed.json"

    def done(self, fid: str) -> bool:
        return self.ok_path(fid).is_file() or self.failed_path(fid).is_file()

    def calls(self) -> int:
        """Oracle calls made so far (labels and failures)."""
        return sum(1 for _ in self.root.glob("*.npz")) + sum(
            1 for _ in self.root.glob("*.failed.json")
        )

    def failures(self) -> int:
        return sum(1 for _ in self.root.glob("*.failed.json"))

    def label_frames(self, frames: list[tuple], workers: int = 1, progress=None) -> list[str]:
        """Label every ``(numbers, positions)`` frame that has no file yet; returns all ids."""
        ids = [frame_id(n, p) for n, p in frames]
        todo, seen = [], set()
        for fid, (numbers, positions) in zip(ids, frames):
            if not self.done(fid) and fid not in seen:
                seen.add(fid)
                todo.append(
                    (str(self.root), self.oracle, fid, np.asarray(numbers), np.asarray(positions))
                )
        if todo:
            log.info("labelling %d frame(s) with %s", len(todo), self.oracle.describe())
        tick = progress.update if progress is not None else (lambda *a: None)
        if workers > 1 and len(todo) > 1:
            run_resilient(
                todo,
                _label_task,
                min(workers, len(todo)),
                is_done=lambda t: self.done(t[2]),
                on_crash=lambda t: _write_failure(
                    Path(t[0]), t[2], "worker process died (crash or out of memory)"
                ),
                on_finished=tick,
            )
        else:
            for task in todo:
                _label_task(task)
                tick()
        return ids

    def records(self, ids) -> list[dict]:
        """Records of the ids that were labelled successfully (failures skipped), in order."""
        out = []
        for fid in ids:
            if self.ok_path(fid).is_file():
                with np.load(self.ok_path(fid)) as z:
                    out.append(
                        make_record(
                            z["numbers"],
                            z["positions"],
                            float(z["energy"]),
                            z["forces"],
                            z["dipole"],
                            fid,
                        )
                    )
        return out


def _label_task(task) -> None:
    """Worker: label one frame and write its file (atomically)."""
    root, spec, fid, numbers, positions = task
    root = Path(root)
    try:
        labels = label(spec, numbers, positions)
    except Exception as exc:  # an oracle failure is data: recorded, then skipped
        _write_failure(root, fid, f"{type(exc).__name__}: {exc}", traceback.format_exc(limit=4))
        return
    tmp = root / f".{fid}.{os.getpid()}.tmp.npz"
    np.savez(tmp, numbers=numbers, positions=positions, **labels)
    os.replace(tmp, root / f"{fid}.npz")
    pause_point("label", root, lambda: sum(1 for _ in root.glob("*.npz")), faults.ACTIVE_LEARNING)


def _write_failure(root: Path, fid: str, error: str, trace: str = "") -> None:
    log.warning("oracle failed on frame %s: %s", fid, error)
    tmp = root / f".{fid}.{os.getpid()}.tmp.json"
    tmp.write_text(json.dumps({"id": fid, "error": error, "traceback": trace}, indent=1))
    os.replace(tmp, root / f"{fid}.failed.json")
