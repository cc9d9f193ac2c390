"""Push a release folder to the Hugging Face Hub as ONE commit.

Every file goes into a single ``HfApi.create_commit`` (the Hub applies a commit
atomically: a release is never half-uploaded). Transient failures (HTTP 5xx/429,
connection errors, timeouts) are retried with exponential back-off; a retried commit
is safe because files that already match on the Hub are skipped. 401/403 are not
retried and become a one-line message about the token or permissions.
Token: ``HF_TOKEN`` or the standard ``hf auth login`` token (huggingface_hub finds both).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from mace4ir.checksums import CHECKSUM_FILE, verify_checksums
from mace4ir.errors import Mace4irError
from mace4ir.training.models.release_layout import RELEASE_CONFIG, is_release_file

log = logging.getLogger(__name__)
T = TypeVar("T")
TRANSIENT_STATUS = {408, 429, 500, 502, 503, 504}


@dataclass
class PushOptions:
    folder: Path
    repo_id: str
    revision: str | None = None  # branch to commit to (created from main if missing); default main
    tag: str | None = None  # tag to put on the new commit
    private: bool = False
    dry_run: bool = False
    allow_missing_metrics: bool = False
    retries: int = 5  # attempts after the first, per Hub call
    backoff_s: float = 2.0  # first wait; doubles each retry (capped at 60 s)
    token: str | None = None  # default: HF_TOKEN or the saved login
    endpoint: str | None = None  # default: HF_ENDPOINT or https://huggingface.co


def release_files(folder: Path) -> list[tuple[str, int]]:
    """(path in repo, size in bytes) of every file push would upload, sorted."""
    files = []
    for path in sorted(Path(folder).rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_file() and is_release_file(rel):
            files.append((rel, path.stat().st_size))
    return files


def check_release(opts: PushOptions) -> list[tuple[str, int]]:
    """Refuse folders that are not complete, verified, evaluated releases."""
    folder = Path(opts.folder)
    if not (folder / RELEASE_CONFIG).is_file():
        raise Mace4irError(
            f"{folder}: no {RELEASE_CONFIG}; create the folder with 'mace4ir release export'"
        )
    files = release_files(folder)
    verify_checksums(  # every file to upload must be listed and intact
        folder, soft=frozenset(), required=[n for n, _ in files if n != CHECKSUM_FILE]
    )
    config = json.loads((folder / RELEASE_CONFIG).read_text())
    missing = [k for k in ("ef", "dipole") if not (config.get("metrics") or {}).get(k)]
    if missing and not opts.allow_missing_metrics:
        raise Mace4irError(
            f"{folder}: no test-set errors for {', '.join(missing)} in {RELEASE_CONFIG}; "
            "evaluate before releasing, or pass --allow-missing-metrics"
        )
    return files


def hub_endpoint(opts: PushOptions) -> str:
    """HF_ENDPOINT read at call time (huggingface_hub reads it once, at import)."""
    return (opts.endpoint or os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")


def format_plan(opts: PushOptions, files: list[tuple[str, int]]) -> str:
    total = sum(size for _, size in files)
    head = (
        f"would upload {len(files)} files ({total:,} bytes) to {hub_endpoint(opts)}/{opts.repo_id} "
        f"in one commit on {opts.revision or 'main'}"
        + (f", tag {opts.tag}" if opts.tag else "")
        + (", private repo" if opts.private else "")
    )
    width = max(len(name) for name, _ in files)
    return "\n".join([head] + [f"  {name:<{width}}  {size:>12,} bytes" for name, size in files])


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def _is_transient(exc: BaseException) -> bool:
    import httpx2

    status = _status(exc)
    if status is not None:
        return status in TRANSIENT_STATUS
    return isinstance(exc, (httpx2.TransportError, ConnectionError, TimeoutError))


def _auth_error(exc: BaseException, opts: PushOptions, what: str) -> Mace4irError | None:
    status = _status(exc)
    if status == 401:
        return Mace4irError(
            f"{what} on {opts.repo_id}: authentication failed (HTTP 401): set HF_TOKEN to a valid "
            "token or run 'hf auth login'"
        )
    if status == 403:
        return Mace4irError(
            f"{what} on {opts.repo_id}: permission denied (HTTP 403): the token needs write access "
            f"to the namespace '{opts.repo_id.split('/')[0]}' (fine-grained tokens: enable repo "
            f"writes)"
        )
    return None


def with_retries(call: Callable[[], T], what: str, opts: PushOptions) -> T:
    """Run one Hub call, retrying transient errors with exponential back-off."""
    from huggingface_hub.errors import HfHubHTTPError

    wait = opts.backoff_s
    for attempt in range(opts.retries + 1):
        try:
            return call()
        except Exception as exc:
            if (auth := _auth_error(exc, opts, what)) is not None:
                raise auth from None
            if not _is_transient(exc):
                if isinstance(exc, HfHubHTTPError):
                    raise Mace4irError(
                        f"{what} on {opts.repo_id} failed: {str(exc).splitlines()[0]}"
                    ) from None
                raise
            if attempt == opts.retries:
                raise Mace4irError(
                    f"{what} on {opts.repo_id}: still failing after {opts.retries + 1} attempts: "
                    f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                ) from None
            log.warning(
                "%s: transient error (%s); retry %d/%d in %.1f s",
                what,
                _status(exc) or type(exc).__name__,
                attempt + 1,
                opts.retries,
                wait,
            )
            time.sleep(wait)
            wait = min(wait * 2, 60.0)
    raise AssertionError("unreachable")


def push_release(opts: PushOptions) -> dict:
    """Upload the release folder; returns {"repo_id", "commit", "url", "files", "dry_run"}."""
    files = check_release(opts)
    if opts.dry_run:
        print(format_plan(opts, files))
        return {
            "repo_id": opts.repo_id,
            "files": files,
            "dry_run": True,
            "commit": None,
            "url": None,
        }

    from huggingface_hub import CommitOperationAdd, HfApi, get_token

    if not (opts.token or get_token()):
        raise Mace4irError(
            "no Hugging Face token: set HF_TOKEN or run 'hf auth login' (a write token is needed)"
        )
    api = HfApi(endpoint=hub_endpoint(opts), token=opts.token)
    folder = Path(opts.folder)
    with_retries(
        lambda: api.create_repo(opts.repo_id, private=opts.private, exist_ok=True),
        "create repo",
        opts,
    )
    if opts.revision and opts.revision != "main":
        with_retries(
            lambda: api.create_branch(opts.repo_id, branch=opts.revision, exist_ok=True),
            f"create branch {opts.revision}",
            opts,
        )
    # Fresh operation objects per attempt: huggingface_hub mutates (and refuses to reuse) them.
    commit = with_retries(
        lambda: api.create_commit(
            opts.repo_id,
            revision=opts.revision,
            operations=[
                CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(folder / name))
                for name, _ in files
            ],
            commit_message=f"mace4ir release {folder.name}",
            commit_description=f"{len(files)} files uploaded by 'mace4ir release push'",
        ),
        "commit",
        opts,
    )
    if opts.tag:
        with_retries(
            lambda: api.create_tag(opts.repo_id, tag=opts.tag, revision=commit.oid, exist_ok=True),
            f"tag {opts.tag}",
            opts,
        )
    log.info("pushed %d files to %s (commit %s)", len(files), opts.repo_id, commit.oid)
    return {
        "repo_id": opts.repo_id,
        "files": files,
        "dry_run": False,
        "commit": commit.oid,
        "url": commit.commit_url,
    }
