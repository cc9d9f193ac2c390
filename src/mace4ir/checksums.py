"""SHA256SUMS files: written at release export, checked at push and at load; the same
format for the digest file next to each training checkpoint (``step-N.pt.sha256``).

The format is GNU coreutils' (``<hex>  <name>``), so ``sha256sum -c SHA256SUMS``
verifies a downloaded release without this package. Names must stay inside the folder:
an absolute name or one with ``..`` is refused before any file is opened.
"""

from __future__ import annotations

import logging
from pathlib import Path

from mace4ir.atomic_write import write_text_atomic
from mace4ir.errors import DataFormatError
from mace4ir.hashing import sha256_file

log = logging.getLogger(__name__)

CHECKSUM_FILE = "SHA256SUMS"


class ChecksumError(DataFormatError):
    """A listed file is missing, does not match its recorded SHA-256, or is not listed."""


def checked_name(name: str, where: str) -> str:
    """``name`` if it is a plain relative path inside the folder; a name that is absolute or
    goes up (``..``) would read (and reveal) files elsewhere, so it is refused unread."""
    parts = name.replace("\\", "/").split("/")
    if not name or name.startswith(("/", "\\")) or ":" in parts[0] or ".." in parts:
        raise ChecksumError(f"{where}: file name {name!r} leaves the folder; refusing to read it")
    return name


def format_checksums(digests: dict[str, str]) -> str:
    return "".join(f"{digests[name]}  {name}\n" for name in sorted(digests))


def write_checksums(
    folder: str | Path,
    names: list[str],
    file: str = CHECKSUM_FILE,
    digests: dict[str, str] | None = None,
) -> Path:
    """Write ``folder/file`` listing ``names`` (hashed now unless ``digests`` gives them),
    atomically: tmp file + rename."""
    folder = Path(folder)
    digests = digests or {name: sha256_file(folder / checked_name(name, file)) for name in names}
    return write_text_atomic(folder / file, format_checksums(digests))


def read_checksums(folder: str | Path, file: str = CHECKSUM_FILE) -> dict[str, str]:
    """{relative name: sha256 hex} from ``folder/file``."""
    path = Path(folder) / file
    if not path.is_file():
        raise ChecksumError(f"{path}: checksum file missing; the folder is incomplete")
    sums: dict[str, str] = {}
    for lineno, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64 or any(c not in "0123456789abcdefABCDEF" for c in digest):
            raise ChecksumError(f"{path}:{lineno}: expected '<sha256>  <file>', got {line!r}")
        sums[checked_name(name.lstrip("*"), f"{path}:{lineno}")] = digest.lower()
    return sums


def verify_checksums(
    folder: str | Path,
    soft: frozenset[str] = frozenset(),
    file: str = CHECKSUM_FILE,
    required: tuple[str, ...] | list[str] = (),
) -> dict[str, str]:
    """Check every file listed in ``folder/file``; raise :class:`ChecksumError` naming the bad
    file. Every name in ``required`` must be listed: an emptied or partial checksum file
    must not let unlisted files through.

    Files in ``soft`` (e.g. a release's model card, which people edit on the Hub) only log a
    warning.
    """
    folder = Path(folder)
    sums = read_checksums(folder, file)
    unlisted = sorted({checked_name(n, str(folder / file)) for n in required} - set(sums))
    if unlisted:
        raise ChecksumError(
            f"{folder / file}: does not list {', '.join(unlisted)}, so they cannot be verified; "
            f"the checksum file is incomplete or was modified"
        )
    for name, expected in sums.items():
        path = folder / name
        if not path.is_file():
            raise ChecksumError(
                f"{path}: listed in {file} but missing (incomplete download or copy?)"
            )
        actual = sha256_file(path)
        if actual == expected:
            continue
        message = (
            f"{path}: SHA-256 {actual} does not match {file} ({expected}); "
            "the file is corrupted or was modified"
        )
        if name in soft:
            log.warning("%s (documentation only, loading continues)", message)
        else:
            raise ChecksumError(message + "; replace it with an intact copy")
    return sums
