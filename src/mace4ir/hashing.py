"""SHA-256 of files, read in blocks (shard checksums, release checksums, checkpoint digests),
and a cache of them keyed by size and mtime for files read back often (prepared shards,
QCML input shards)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from mace4ir.atomic_write import write_json_atomic


def sha256_file(path: str | Path, chunk: int = 1 << 22) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def cache_dir() -> Path:
    """Where mace4ir keeps small caches: ``$MACE4IR_CACHE_DIR``, else ``~/.cache/mace4ir``."""
    env = os.environ.get("MACE4IR_CACHE_DIR")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mace4ir"


class DigestCache:
    """SHA-256 of files remembered by (size, mtime): a file is hashed again only once it
    changed. ``path`` is a JSON file shared by processes (lost updates only cost a rehash);
    ``None`` keeps the digests in memory only (always hashes each file once)."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else None
        self.entries: dict[str, list] = self._read()

    @classmethod
    def default(cls) -> DigestCache:
        return cls(cache_dir() / "sha256.json")

    def _read(self) -> dict[str, list]:
        try:
            data = json.loads(self.path.read_text()) if self.path else {}
        except (OSError, ValueError):  # missing or damaged cache: start empty
            return {}
        return data if isinstance(data, dict) else {}

    def _lookup(self, path: str | Path) -> tuple[str, list, str | None]:
        key = str(Path(path).resolve())
        st = os.stat(key)
        ident = [st.st_size, st.st_mtime_ns]
        hit = self.entries.get(key)
        ok = isinstance(hit, list) and len(hit) == 3 and hit[:2] == ident
        return key, ident, hit[2] if ok else None

    def sha256(self, path: str | Path) -> str:
        key, ident, digest = self._lookup(path)
        if digest is None:
            digest = sha256_file(key)
            self.entries[key] = [*ident, digest]
        return digest

    def fill(self, paths: list[Path], workers: int = 1) -> None:
        """Hash every file not remembered yet, ``workers`` at a time (large inputs)."""
        todo = [(key, ident) for key, ident, d in map(self._lookup, paths) if d is None]
        if workers <= 1 or len(todo) <= 1:
            for key, _ in todo:
                self.sha256(key)
            return
        import multiprocessing
        import sys
        from concurrent.futures import ProcessPoolExecutor

        from mace4ir.workers import exit_with_parent

        ctx = multiprocessing.get_context("fork" if "torch" not in sys.modules else "spawn")
        n = min(workers, len(todo))
        with ProcessPoolExecutor(n, mp_context=ctx, initializer=exit_with_parent) as pool:
            for (key, ident), digest in zip(todo, pool.map(sha256_file, [k for k, _ in todo])):
                self.entries[key] = [*ident, digest]

    def save(self) -> None:
        """Merge into the file (best effort: a read-only cache folder only costs rehashing)."""
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_json_atomic(self.path, {**self._read(), **self.entries}, indent=None)
        except OSError:
            pass
