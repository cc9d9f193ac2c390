"""Finding a release's model files: a local folder or a Hub repo, checksums verified.

Hub repositories go through huggingface_hub's cache (``snapshot_download``), so a
second load needs no network and ``HF_HUB_OFFLINE=1`` works from the cache. Every
file listed in ``SHA256SUMS`` is verified before anything is loaded. Releases made by
``mace4ir release export`` load from safetensors + JSON (no unpickling); folders with
mace-torch ``.model`` pickles (such as the original MACE4IR files) load only with
``trust_pickle=True``, because unpickling runs code from the file.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

from mace4ir.checksums import CHECKSUM_FILE, checked_name, verify_checksums
from mace4ir.errors import Mace4irError
from mace4ir.training.models.release_layout import (
    FORMAT_NAME,
    FORMAT_VERSION,
    MODEL_CARD,
    MODEL_STEMS,
    PICKLE_SUFFIX,
    RELEASE_CONFIG,
)

log = logging.getLogger(__name__)

REPO_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")
_DIPOLE_NAME = re.compile(r"dipole|(^|[_\-.])(d|mu)([_\-.]|$)", re.IGNORECASE)


def _offline() -> bool:
    """HF_HUB_OFFLINE read at call time (huggingface_hub reads it once, at import)."""
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE) or os.environ.get("HF_HUB_OFFLINE", "").upper() in {
        "1",
        "ON",
        "YES",
        "TRUE",
    }


def download(
    repo_id: str, revision: str | None = None, cache_dir: str | Path | None = None
) -> Path:
    """Snapshot of a Hub repo in the huggingface_hub cache (from the cache alone when offline)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    where = f"{repo_id}@{revision or 'main'}"
    try:
        return Path(
            snapshot_download(
                repo_id, revision=revision, cache_dir=cache_dir, local_files_only=_offline()
            )
        )
    except LocalEntryNotFoundError as exc:
        raise Mace4irError(
            f"{where}: no such local folder, not in the local Hugging Face cache, and the Hub "
            f"cannot be used (offline or unreachable): {str(exc).splitlines()[0]}"
        ) from None
    except RevisionNotFoundError:
        raise Mace4irError(f"{where}: revision not found on the Hub") from None
    except RepositoryNotFoundError:
        raise Mace4irError(
            f"{repo_id}: no such local folder, and no such repository on the Hub "
            "(private? set HF_TOKEN or log in)"
        ) from None
    except HfHubHTTPError as exc:
        raise Mace4irError(f"{where}: Hub request failed: {str(exc).splitlines()[0]}") from None


def resolve_release(
    repo_id_or_path: str | Path, revision: str | None = None, cache_dir: str | Path | None = None
) -> Path:
    """A local release folder as is, else a Hub repo id downloaded into the cache."""
    path = Path(repo_id_or_path).expanduser()
    if path.exists():
        if not path.is_dir():
            raise Mace4irError(f"{path}: expected a release folder, got a file")
        if revision:
            log.warning("%s: local folder, revision %r ignored", path, revision)
        return path
    if not REPO_ID.match(str(repo_id_or_path)):
        raise Mace4irError(
            f"{repo_id_or_path}: neither an existing folder nor a Hub repo id (ORG/NAME)"
        )
    return download(str(repo_id_or_path), revision, cache_dir)


def read_release_config(folder: Path) -> dict:
    file = folder / RELEASE_CONFIG
    try:
        config = json.loads(file.read_text())
    except json.JSONDecodeError as exc:
        raise Mace4irError(f"{file}: invalid JSON: {exc}") from None
    if not isinstance(config, dict):
        raise Mace4irError(f"{file}: expected a JSON object, got {type(config).__name__}")
    if config.get("format") != FORMAT_NAME or _version(config, file) > FORMAT_VERSION:
        raise Mace4irError(
            f"{file}: release format {config.get('format')!r} v{config.get('format_version')} "
            f"is not readable by this mace4ir (reads {FORMAT_NAME} v{FORMAT_VERSION}; upgrade "
            f"mace4ir)"
        )
    return config


def _version(config: dict, file: Path) -> int:
    try:
        return int(config.get("format_version", 0))
    except (TypeError, ValueError):
        raise Mace4irError(
            f"{file}: format_version {config.get('format_version')!r} is not a number"
        ) from None


def model_files(config: dict, folder: Path) -> dict[str, dict[str, str]]:
    """{"ef"|"dipole": {"weights": name, "spec": name, ...}}: the files the release config
    names, each checked to be a plain name inside the folder."""
    where = folder / RELEASE_CONFIG
    out = {}
    for kind in MODEL_STEMS:
        entry = (config.get("models") or {}).get(kind)
        if not isinstance(entry, dict):
            raise Mace4irError(f"{where}: no models.{kind} entry (an incomplete release config)")
        names = {}
        optional = ("torchscript_file",) if "torchscript_file" in entry else ()
        for key in ("weights", "spec", *optional):
            if not isinstance(entry.get(key), str):
                raise Mace4irError(f"{where}: models.{kind}.{key} missing or not a file name")
            names[key] = checked_name(entry[key], f"{where}: models.{kind}.{key}")
        out[kind] = names
    return out


def named_files(folder: Path) -> list[str]:
    """Every file a release folder's own config names (itself included), or its pickles."""
    if (folder / RELEASE_CONFIG).is_file():
        files = model_files(read_release_config(folder), folder)
        return [RELEASE_CONFIG] + [n for names in files.values() for n in names.values()]
    return [p.name for p in sorted(folder.glob(f"*{PICKLE_SUFFIX}"))]


def pickle_pair(folder: Path) -> tuple[Path, Path]:
    """(EF, D) mace-torch pickles in a folder, told apart by name (``*dipole*``, ``*_D*``,
    ``*mu*``)."""
    pickles = sorted(folder.glob(f"*{PICKLE_SUFFIX}"))
    dipoles = [p for p in pickles if _DIPOLE_NAME.search(p.stem)]
    efs = [p for p in pickles if p not in dipoles]
    if len(efs) != 1 or len(dipoles) != 1:
        raise Mace4irError(
            f"{folder}: expected one EF and one dipole mace-torch {PICKLE_SUFFIX} file (the dipole "
            f"one named *dipole*/*_D*/*mu*), found {[p.name for p in pickles]}"
        )
    return efs[0], dipoles[0]


def model_paths(folder: Path, trust_pickle: bool) -> tuple[Path, Path]:
    """Paths of the EF and D models in a verified release folder."""
    if (folder / RELEASE_CONFIG).is_file():
        files = model_files(read_release_config(folder), folder)
        return tuple(folder / Path(files[k]["weights"]).stem for k in ("ef", "dipole"))  # type: ignore[return-value]
    if any(folder.glob(f"*{PICKLE_SUFFIX}")):
        if not trust_pickle:
            names = ", ".join(p.name for p in sorted(folder.glob(f"*{PICKLE_SUFFIX}")))
            raise Mace4irError(
                f"{folder}: holds mace-torch pickles ({names}); unpickling runs arbitrary code "
                f"from "
                "the file, so pass trust_pickle=True (CLI: --trust-pickle) only for a source you "
                "trust"
            )
        return pickle_pair(folder)
    raise Mace4irError(
        f"{folder}: not a mace4ir release (no {RELEASE_CONFIG}) and no mace-torch "
        f"{PICKLE_SUFFIX} files; expected {MODEL_STEMS['ef']}.safetensors etc."
    )


def verify_release(folder: Path) -> None:
    """Check the release's files against SHA256SUMS, which must list every file the release
    config names (an emptied or partial SHA256SUMS must not let tampered weights through)."""
    if (folder / CHECKSUM_FILE).is_file() or (folder / RELEASE_CONFIG).is_file():
        verify_checksums(  # required for our releases; also raises when SHA256SUMS is missing
            folder, soft=frozenset({MODEL_CARD}), required=named_files(folder)
        )
    else:
        log.warning("%s: no %s; files not verified", folder, CHECKSUM_FILE)
