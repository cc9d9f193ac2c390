"""Atomic, keep-last-k training checkpoints.

``checkpoints/step-000001234.pt`` holds model, EMA, optimizer, schedule, step/epoch,
position in the epoch, RNG states, config, model spec and the manifest hash. It is
written to a temporary file, fsynced and renamed, so a kill during a save leaves
the previous checkpoint as the latest complete one. Its SHA-256 goes to
``step-000001234.pt.sha256`` (written before the rename) and is checked before a resume
loads it. Loading uses ``torch.load(weights_only=True)``: checkpoints hold tensors and
plain data only.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
from pathlib import Path

import numpy as np
import torch

from mace4ir.checksums import ChecksumError, verify_checksums, write_checksums
from mace4ir.errors import Mace4irError
from mace4ir.hashing import sha256_file

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


def digest_file(path: Path) -> Path:
    """The checkpoint's digest file, ``step-N.pt.sha256`` (``sha256sum -c`` format)."""
    return path.with_name(path.name + ".sha256")


def step_of(path: Path) -> int:
    return int(path.name.split("-")[1].split(".")[0])


def save(ckpt_dir: Path, step: int, payload: dict, keep: int) -> Path:
    """Write ``payload`` atomically as the checkpoint of ``step``, its digest file first (so a
    checkpoint never exists without one); drop all but the last ``keep`` up to ``step``."""
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    path = ckpt_dir / f"step-{step:09d}.pt"
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with open(tmp, "wb") as fh:
        torch.save(payload, fh)
        fh.flush()
        os.fsync(fh.fileno())
    write_checksums(ckpt_dir, [path.name], digest_file(path).name, {path.name: sha256_file(tmp)})
    os.replace(tmp, path)
    _prune(ckpt_dir, step, keep)
    return path


def _prune(ckpt_dir: Path, step: int, keep: int) -> None:
    """Keep the last ``keep`` checkpoints up to ``step``. Later ones come from a history this
    run did not continue (they failed verification): they are kept for the user to inspect,
    and never push this run's own checkpoints out."""
    mine = [p for p in sorted(ckpt_dir.glob(PATTERN)) if step_of(p) <= step]
    for old in mine[:-keep]:
        old.unlink(missing_ok=True)
        digest_file(old).unlink(missing_ok=True)


def _problem(path: Path) -> str | None:
    """Why a checkpoint cannot be trusted, or None: its digest file must exist and match (a
    flipped bit passes torch.load, which does not check the zip CRCs)."""
    try:
        verify_checksums(path.parent, file=digest_file(path).name, required=[path.name])
    except ChecksumError as exc:
        return str(exc)
    return None


def latest(ckpt_dir: Path) -> dict | None:
    """The newest checkpoint that verifies and loads; damaged newer ones are reported and
    skipped. None if there is no checkpoint at all; an error if there are some and none
    verifies (starting over would overwrite the run's logs and models)."""
    paths = sorted(Path(ckpt_dir).glob(PATTERN), reverse=True)
    problems = []
    for path in paths:
        problem = _problem(path)
        if problem is None:
            try:
                state = torch.load(path, map_location="cpu", weights_only=True)
            except Exception as exc:  # noqa: BLE001 (written by another torch/mace4ir?)
                problem = f"{path}: unreadable checkpoint: {exc}"
        if problem is not None:
            log.warning("skipping checkpoint %s: %s", path.name, problem)
            problems.append(problem)
            continue
        state["path"] = str(path)
        return state
    if problems:
        raise Mace4irError(
            f"{ckpt_dir}: none of the {len(paths)} checkpoint(s) verifies, so --resume stops "
            f"instead of starting over (which would overwrite metrics.csv and best_model): "
            f"{problems[0]}"
            + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
            + ". Move them away to start a new run in this folder, or train into another --out"
        )
    return None


def check_compatible(state: dict, manifest_sha: str, prepared_dir) -> None:
    if state.get("manifest_sha256") != manifest_sha:
        raise Mace4irError(
            f"{state['path']}: checkpoint was trained on different prepared data than "
            f"{prepared_dir} "
            "(manifest hash differs); resume with the same --data or start a new --out"
        )
