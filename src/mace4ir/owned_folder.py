"""Output folders a command owns: it writes there, and removes only what it wrote.

A command that writes into OUT first *claims* it with :func:`claim`:

- OUT missing or empty: created, and the marker ``OUT/.mace4ir-owner.json`` (naming the
  command) is written before anything else;
- OUT holds that command's marker (or is recognisably its output from before markers
  existed): a rerun or resume, fine;
- OUT holds files but no marker, or another command's marker: refused with a one-line
  error, unless ``force``. Then the folder is adopted and every file already there is
  recorded in the marker as *foreign*: the command may add files next to them, but never
  overwrites or removes one.

Every removal goes through the :class:`OwnedFolder` it returns, which refuses paths
outside the folder and foreign files. Temporary files of killed runs are recognised by
the names this project's writers give them (``NAME.tmp<pid>``), never by a loose glob.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

from mace4ir.atomic_write import write_text_atomic
from mace4ir.errors import Mace4irError

log = logging.getLogger(__name__)

MARKER = ".mace4ir-owner.json"
# NAME.tmp<pid> (os.replace writers), NAME.tmp<pid>.c (LMDB compaction), NAME.tmp<pid>.npz
# and .png (numpy and matplotlib insist on their own suffix)
STALE_TMP = re.compile(r"\.tmp\d+(\.c|\.npz|\.png)?$")


def _is_marker(name: str) -> bool:
    return name == MARKER or name.startswith(MARKER + ".tmp")


def files_under(root: Path) -> list[str]:
    """Relative POSIX paths of every file (and link) under ``root``, the marker excluded."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        links = [d for d in dirnames if (Path(dirpath) / d).is_symlink()]
        for name in filenames + links:
            if not (rel == Path(".") and _is_marker(name)):
                out.append((rel / name).as_posix())
    return sorted(out)


class OwnedFolder:
    """A claimed output folder: removals limited to what the command may remove."""

    def __init__(self, path: Path, command: str, foreign: frozenset[str] = frozenset()):
        self.path, self.command, self.foreign = path, command, foreign

    def _rel(self, path: str | Path) -> str:
        full = Path(os.path.abspath(self.path / path))
        root = Path(os.path.abspath(self.path))
        if full == root or root not in full.parents:
            raise Mace4irError(f"{path}: outside the output folder {self.path}; not removed")
        return full.relative_to(root).as_posix()

    def _foreign_at(self, path: str | Path) -> str | None:
        """The first foreign file at or under ``path``, if any."""
        rel = self._rel(path)
        if rel in self.foreign:
            return rel
        return next((f for f in sorted(self.foreign) if f.startswith(rel + "/")), None)

    def is_foreign(self, path: str | Path) -> bool:
        """True if ``path`` (or a file under it) was in the folder before the command adopted
        it."""
        return self._foreign_at(path) is not None

    def _check(self, path: str | Path, what: str) -> None:
        hit = self._foreign_at(path)
        if hit is not None:
            raise Mace4irError(
                f"{self.path / hit}: was in {self.path} before 'mace4ir {self.command}' adopted "
                f"the folder (--force); it is never {what}. Move it away or choose another "
                f"output folder"
            )

    def require_free(self, *names: str) -> None:
        """Refuse to go on if a foreign file lies at or under any of ``names`` (the command is
        about to write or replace them)."""
        for name in names:
            self._check(name, "overwritten or removed")

    def remove(self, path: str | Path) -> None:
        """Remove one file the command wrote (missing is fine)."""
        self._check(path, "removed")
        (self.path / self._rel(path)).unlink(missing_ok=True)

    def remove_tree(self, path: str | Path) -> None:
        """Remove a folder the command wrote, with everything in it."""
        self._check(path, "removed")
        shutil.rmtree(self.path / self._rel(path), ignore_errors=True)

    def remove_stale_tmp(self, *subfolders: str) -> int:
        """Remove temporary files of killed runs (``NAME.tmp<pid>``) at the top level and under
        ``subfolders``; foreign files are left alone. Returns how many were removed."""
        candidates = [p for p in self.path.iterdir() if p.is_file()]
        for sub in subfolders:
            if (self.path / sub).is_dir():
                candidates += [p for p in (self.path / sub).rglob("*") if p.is_file()]
        removed = 0
        for p in candidates:
            rel = p.relative_to(self.path)
            if STALE_TMP.search(p.name) and not _is_marker(p.name) and not self.is_foreign(rel):
                p.unlink(missing_ok=True)
                removed += 1
        return removed


def _read_marker(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
        if not isinstance(data, dict) or not isinstance(data.get("command"), str):
            raise ValueError("no 'command'")
        return data
    except (OSError, ValueError) as exc:
        raise Mace4irError(
            f"{path}: unreadable owner marker ({exc}); delete it and pass --force to adopt "
            f"the folder"
        ) from None


def _write_marker(folder: Path, command: str, foreign: list[str]) -> None:
    body = {
        "command": command,
        "note": "written by mace4ir: this command created this folder (or adopted it with "
        "--force; 'foreign' files were already there and are never removed)",
        "foreign": foreign,
    }
    write_text_atomic(folder / MARKER, json.dumps(body, indent=1) + "\n")


def claim(
    folder: str | Path,
    command: str,
    force: bool = False,
    earlier_output: Callable[[Path], bool] | None = None,
) -> OwnedFolder:
    """Create or reuse ``folder`` as the output of ``mace4ir <command>`` (see module docs).

    ``earlier_output(folder)`` recognises the command's own output from before markers
    existed (a run to resume): such a folder is adopted as the command's own.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise Mace4irError(f"{folder}: exists and is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / MARKER
    owner = _read_marker(marker) if marker.is_file() else None
    if owner is not None and owner["command"] == command:
        return OwnedFolder(folder, command, frozenset(owner.get("foreign") or ()))
    present = [p.name for p in folder.iterdir() if not _is_marker(p.name)]
    if owner is None and (not present or (earlier_output and earlier_output(folder))):
        if present:
            log.info("%s: adopting output of an earlier 'mace4ir %s'", folder, command)
        _write_marker(folder, command, [])
        return OwnedFolder(folder, command)
    if not force:
        made_by = (
            f"was made by 'mace4ir {owner['command']}'"
            if owner
            else f"is not empty and was not made by 'mace4ir {command}' (no {MARKER})"
        )
        raise Mace4irError(
            f"{folder}: {made_by}; choose a new or empty folder, or pass --force to write into "
            f"it (files already there are never overwritten or removed)"
        )
    foreign = files_under(folder)
    log.warning(
        "%s: adopting a folder that holds %d file(s) (--force); they are never overwritten "
        "or removed",
        folder,
        len(foreign),
    )
    _write_marker(folder, command, foreign)
    return OwnedFolder(folder, command, frozenset(foreign))
