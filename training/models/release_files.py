"""Finding a release's model files: a local folder or a Hub repo, checksums verified.

Hub repositories go through huggingface_hub's cache (``snapshot_download``), so a
second load needs no network and ``HF_HUB_OFFLINE=1`` works from the cache. Every
file listed in ``SHA256SUMS`` is verified before anything is loaded. Releases made by
``mace4ir release export`` load from safetensors + JSON (no unpickling); folders with
mace-torch ``.model`` pickles (such as the original MACE4IR files, several models in one
repo) load only with ``trust_pickle=True``, because unpickling runs code from the file.
Which models a folder holds is :mod:`.model_inventory`; which of them to use,
:mod:`.model_choice`.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

from mace4ir.checksums import CHECKSUM_FILE, checked_name, verify_checksums
from mace4ir.errors import Mace4irError
from mace4ir.training.models.model_choice import choose_pair
from mace4ir.training.models.model_inventory import (
    ModelEntry,
    pickle_entries,
    pickle_files,
    release_entries,
)
from mace4ir.training.models.release_layout import (
    FORMAT_NAME,
    FORMAT_VERSION,
    MODEL_CARD,
    MODEL_STEMS,
    RELEASE_CONFIG,
)

log = logging.getLogger(__name__)

REPO_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")


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
    """Snapshot of a Hub repo in the huggingface_hub cache (from the cache alone when offline);
    ``HF_ENDPOINT`` is read at call time, as push does."""
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
                repo_id,
                revision=revision,
                cache_dir=cache_dir,
                local_files_only=_offline(),
                endpoint=os.environ.get("HF_ENDPOINT") or None,
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


def committee_files(config: dict, folder: Path) -> dict[str, list[dict[str, str]]]:
    """{"ef"|"dipole": [{"weights": name, "spec": name}, ...]}: the further committee members a
    release config names (none for a release of one pair), each name checked."""
    where = folder / RELEASE_CONFIG
    out = {}
    for kind, entries in (config.get("committee") or {}).items():
        if kind not in MODEL_STEMS or not isinstance(entries, list):
            raise Mace4irError(
                f"{where}: committee.{kind} is not a list of {', '.join(MODEL_STEMS)} models"
            )
        out[kind] = [
            {
                key: checked_name(str(e.get(key)), f"{where}: committee.{kind}[{i}].{key}")
                for key in ("weights", "spec")
            }
            for i, e in enumerate(entries)
        ]
    return out


def committee_paths(folder: Path) -> dict[str, list[Path]]:
    """Model stems of every member of each kind: the release's own model first."""
    config = read_release_config(folder)
    files = model_files(config, folder)
    extra = committee_files(config, folder)
    return {
        kind: [folder / Path(files[kind]["weights"]).stem]
        + [folder / Path(e["weights"]).stem for e in extra.get(kind, [])]
        for kind in MODEL_STEMS
    }


def named_files(folder: Path) -> list[str]:
    """Every file a release folder's own config names (itself included), or its pickles."""
    if (folder / RELEASE_CONFIG).is_file():
        config = read_release_config(folder)
        files = list(model_files(config, folder).values())
        files += [e for entries in committee_files(config, folder).values() for e in entries]
        return [RELEASE_CONFIG] + [n for names in files for n in names.values()]
    return [str(p.relative_to(folder)) for p in pickle_files(folder)]


def list_models(folder: Path, trust_pickle: bool = False, where=None) -> list[ModelEntry]:
    """Every model of a release folder: from its config, or by unpickling (trusted) pickles;
    ``where`` names the folder in messages (e.g. the Hub repo id it came from)."""
    if (folder / RELEASE_CONFIG).is_file():
        config = read_release_config(folder)
        model_files(config, folder)  # every name checked to stay inside the folder
        return release_entries(folder, config)
    return pickle_entries(folder, trust_pickle, where)


def select_models(
    folder: Path,
    trust_pickle: bool = False,
    ef: str | None = None,
    dipole: str | None = None,
    where: str | None = None,
) -> tuple[ModelEntry, ModelEntry]:
    """The EF and dipole models to use (by name, else the default of :mod:`.model_choice`);
    ``where`` names the folder in messages."""
    where = str(where or folder)
    return choose_pair(list_models(folder, trust_pickle, where), where, ef, dipole)


def verify_release(folder: Path, where: str | Path | None = None) -> None:
    """Check the release's files against SHA256SUMS, which must list every file the release
    config names (an emptied or partial SHA256SUMS must not let tampered weights through);
    ``where`` names the folder in the warning (e.g. the Hub repo id)."""
    if (folder / CHECKSUM_FILE).is_file() or (folder / RELEASE_CONFIG).is_file():
        verify_checksums(  # required for our releases; also raises when SHA256SUMS is missing
            folder, soft=frozenset({MODEL_CARD}), required=named_files(folder)
        )
    else:
        log.warning("%s: no %s; files not verified", where or folder, CHECKSUM_FILE)
