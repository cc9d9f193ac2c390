"""Atomic, keep-last-k training checkpoints.

``checkpoints/step-000001234.pt`` holds model, EMA, optimizer, schedule, step/epoch,
position in the epoch, RNG states, config, model spec and the manifest hash. It is
written to a temporary file, fsynced and renamed, so a kill during a save leaves
the previous checkpoint as the latest complete one. Loading uses
``torch.load(weights_only=True)``: checkpoints hold tensors and plain data only.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
from pathlib import Path

import numpy as np
import torch

from mace4ir.errors import Mace4irError

log = logging.getLogger(__name__)
PATTERN = "step-*.pt"


def manifest_hash(prepared_dir) -> str:
    return hashlib.sha256((Path(prepared_dir) / "manifest.json").read_bytes()).hexdigest()


def rng_state() -> dict:
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "numpy": [
            np_state[0],
            torch.from_numpy(np_state[1].astype(np.int64)),
            *map(float, np_state[2:]),
        ],
        "python": repr(random.getstate()),
    }


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state(
        (name, keys.numpy().astype(np.uint32), int(pos), int(has_gauss), float(cached))
    )
    import ast

    random.setstate(_to_tuple(ast.literal_eval(state["python"])))


def _to_tuple(x):
    return tuple(_to_tuple(v) for v in x) if isinstance(x, (list, tuple)) else x


def save(ckpt_dir: Path, step: int, payload: dict, keep: int) -> Path:
    """Write ``payload`` atomically as the checkpoint of ``step``; drop all but the last
    ``keep``."""
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    path = ckpt_dir / f"step-{step:09d}.pt"
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with open(tmp, "wb") as fh:
        torch.save(payload, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    for old in sorted(ckpt_dir.glob(PATTERN))[:-keep]:
        old.unlink(missing_ok=True)
    return path


def latest(ckpt_dir: Path) -> dict | None:
    """The newest checkpoint that loads; a damaged newer one is reported and skipped."""
    for path in sorted(Path(ckpt_dir).glob(PATTERN), reverse=True):
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # truncated file from a crash outside our atomic writer
            log.warning("skipping unreadable checkpoint %s: %s", path, exc)
            continue
        state["path"] = str(path)
        return state
    return None


def check_compatible(state: dict, manifest_sha: str, prepared_dir) -> None:
    if state.get("manifest_sha256") != manifest_sha:
        raise Mace4irError(
            f"{state['path']}: checkpoint was trained on different prepared data than "
            f"{prepared_dir} "
            "(manifest hash differs); resume with the same --data or start a new --out"
        )
