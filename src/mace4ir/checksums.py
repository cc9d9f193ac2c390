"""SHA256SUMS files: written at release export, checked at push and at load.

The format is GNU coreutils' (``<hex>  <name>``), so ``sha256sum -c SHA256SUMS``
verifies a downloaded release without this package.
"""

from __future__ import annotations

import logging
from pathlib import Path

from mace4ir.errors import Mace4irError
from mace4ir.hashing import sha256_file

log = logging.getLogger(__name__)

CHECKSUM_FILE = "SHA256SUMS"


class ChecksumError(Mace4irError):
    """A listed file is missing or does not match its recorded SHA-256."""


def write_checksums(folder: str | Path, names: list[str]) -> Path:
    folder = Path(folder)
    lines = [f"{sha256_file(folder / name)}  {name}\n" for name in sorted(names)]
    path = folder / CHECKSUM_FILE
    path.write_text("".join(lines))
    return path


def read_checksums(folder: str | Path) -> dict[str, str]:
    """{relative name: sha256 hex} from ``folder/SHA256SUMS``."""
    path = Path(folder) / CHECKSUM_FILE
    if not path.is_file():
        raise ChecksumError(f"{path}: checksum file missing; the release folder is incomplete")
    sums: dict[str, str] = {}
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64:
            raise ChecksumError(f"{path}:{lineno}: expected '<sha256>  <file>', got {line!r}")
        sums[name.lstrip("*")] = digest.lower()
    return sums


def verify_checksums(folder: str | Path, soft: frozenset[str] = frozenset()) -> dict[str, str]:
    """Check every file listed in SHA256SUMS; raise :class:`ChecksumError` naming the bad file.

    Files in ``soft`` (e.g. a release's model card, which people edit on the Hub) only log a
    warning.
    """
    folder = Path(folder)
    sums = read_checksums(folder)
    for name, expected in sums.items():
        path = folder / name
        if not path.is_file():
            raise ChecksumError(
                f"{path}: listed in {CHECKSUM_FILE} but missing (incomplete download or copy?)"
            )
        actual = sha256_file(path)
        if actual == expected:
            continue
        message = (
            f"{path}: SHA-256 {actual} does not match {CHECKSUM_FILE} ({expected}); "
            "the file is corrupted or was modified"
        )
        if name in soft:
            log.warning("%s (documentation only, loading continues)", message)
        else:
            raise ChecksumError(message + "; delete it and download the release again")
    return sums
