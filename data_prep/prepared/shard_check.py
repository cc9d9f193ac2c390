"""Checking prepared shards against ``manifest.json`` before anything reads them.

Every reader of a prepared folder (training, evaluation, ``prep verify``) goes through
:func:`check_shards`: a shard must exist, its SHA-256 must match the manifest (hashed on
first use, then remembered by size and mtime in :class:`~mace4ir.hashing.DigestCache`) and
an LMDB shard's record count must match. Tar record counts are checked as the tar is read
(``shards.iter_wds_shard``/``index_wds_shard``): ``tarfile`` takes a damaged header for the
end of the archive, so only the count shows that records are missing.

A bad shard stops the job with a message naming it and what is wrong; with
``skip_corrupt`` it is left out, and the caller counts what was dropped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from mace4ir.data_prep.prepared.shards import LmdbShard
from mace4ir.errors import DataFormatError
from mace4ir.hashing import DigestCache

log = logging.getLogger(__name__)


@dataclass
class Dropped:
    """Shards left out with ``skip_corrupt``: paths, what was wrong, records lost."""

    shards: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    records: int = 0

    def to_dict(self) -> dict:
        return {"shards": self.shards, "records": self.records, "problems": self.problems}


def shard_problem(entry: dict, fmt: str, digests: DigestCache) -> str | None:
    """What is wrong with one shard entry ``{path (absolute), count, sha256}``, or None."""
    path = Path(entry["path"])
    if not path.is_file():
        return "missing"
    actual = digests.sha256(path)
    if actual != entry["sha256"]:
        return (
            f"sha256 {actual} differs from manifest.json ({entry['sha256']}); the file was "
            f"damaged or modified after prep"
        )
    if fmt == "lmdb":
        try:
            n = len(LmdbShard(path))
        except Exception as exc:  # noqa: BLE001 (lmdb raises its own error types)
            return f"unreadable LMDB ({exc})"
        if n != entry["count"]:
            return f"{n} records, manifest.json says {entry['count']}"
    return None


def check_shards(
    shards: list[dict], fmt: str, skip_corrupt: bool = False, digests: DigestCache | None = None
) -> tuple[list[dict], Dropped]:
    """(shards that passed, what was dropped); raises DataFormatError on the first bad shard
    unless ``skip_corrupt``."""
    digests = digests or DigestCache.default()
    kept, dropped = [], Dropped()
    try:
        for entry in shards:
            problem = shard_problem(entry, fmt, digests)
            if problem is None:
                kept.append(entry)
                continue
            message = f"{entry['path']}: {problem}"
            if not skip_corrupt:
                raise DataFormatError(
                    message + " (check the folder with 'mace4ir prep verify', or pass "
                    "--skip-corrupt to leave the shard out)"
                )
            log.warning("%s; skipped with its %d records (--skip-corrupt)", message, entry["count"])
            dropped.shards.append(entry["path"])
            dropped.problems.append(message)
            dropped.records += int(entry["count"])
    finally:
        digests.save()
    return kept, dropped
