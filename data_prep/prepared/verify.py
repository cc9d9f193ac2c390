"""``mace4ir prep verify OUT``: re-check a prepared directory against its manifest.

Checks every shard file listed in ``manifest.json``: it exists, its sha256 matches,
its record count matches (LMDB ``__len__`` / tar members), split counts add up, and
subsets fit in the training split. With ``deep=True`` it also decodes every record,
checks that LMDB and WebDataset hold identical bytes, and that no key_hash appears
in two splits.
"""

from __future__ import annotations

import logging
from pathlib import Path

from mace4ir.data_prep.prepared.reader import SPLITS, load_manifest
from mace4ir.data_prep.prepared.shard_check import shard_problem
from mace4ir.data_prep.prepared.shards import index_wds_shard
from mace4ir.errors import DataFormatError
from mace4ir.hashing import DigestCache

log = logging.getLogger(__name__)


def check_shards(out: Path, manifest: dict, progress: bool = False) -> list[str]:
    from tqdm import tqdm

    problems = []
    entries = [
        (fmt, dict(s, path=str(out / s["path"])))
        for split in SPLITS
        for fmt, shards in manifest["splits"][split]["shards"].items()
        for s in shards
    ]
    digests = DigestCache()  # prep verify re-reads every byte: no remembered digests
    for fmt, s in tqdm(entries, desc="verify", unit="shard", disable=not progress):
        problem = shard_problem(s, fmt, digests)
        if problem is None and fmt == "webdataset":
            try:
                index_wds_shard(s["path"], s["count"])
            except DataFormatError as exc:
                problem = str(exc).removeprefix(f"{s['path']}: ")
        if problem:
            problems.append(f"{s['path']}: {problem}")
    for split in SPLITS:
        entry = manifest["splits"][split]
        for fmt, shards in entry["shards"].items():
            if sum(s["count"] for s in shards) != entry["count"]:
                problems.append(
                    f"split {split} ({fmt}): shard counts do not add up to {entry['count']}"
                )
    for size in manifest.get("subsets", {}).values():
        if size > manifest["splits"]["train"]["count"]:
            problems.append(f"subset {size} larger than the training split")
    return problems


def check_records(out: Path, manifest: dict) -> list[str]:
    from mace4ir.data_prep.prepared.reader import open_records

    problems, seen = [], {}
    for split in SPLITS:
        fmts = list(manifest["splits"][split]["shards"])
        seqs = [open_records(out, split, fmt=f) for f in fmts]
        for i, rec in enumerate(seqs[0]):
            if rec["key_hash"] in seen:
                problems.append(
                    f"key_hash {rec['key_hash']} in both {seen[rec['key_hash']]} and {split}"
                )
            seen[rec["key_hash"]] = split
            for other in seqs[1:]:
                if other.get_bytes(i) != seqs[0].get_bytes(i):
                    problems.append(f"{split} record {i}: {fmts[0]} and {other.fmt} differ")
    return problems


def verify(prepared_dir: str | Path, deep: bool = False, progress: bool = False) -> None:
    """Raise DataFormatError listing every problem found; log a summary when all is well."""
    out = Path(prepared_dir)
    manifest = load_manifest(out)
    problems = check_shards(out, manifest, progress)
    if deep and not problems:
        problems += check_records(out, manifest)
    if problems:
        shown = "; ".join(problems[:10]) + (
            f"; ... ({len(problems)} problems)" if len(problems) > 10 else ""
        )
        raise DataFormatError(f"{out}: verification failed: {shown}")
    n = sum(len(v) for s in SPLITS for v in manifest["splits"][s]["shards"].values())
    log.info("%s: %d shards verified (counts and sha256%s)", out, n, ", records" if deep else "")
