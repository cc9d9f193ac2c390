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
from mace4ir.data_prep.prepared.shards import LmdbShard, index_wds_shard
from mace4ir.errors import DataFormatError
from mace4ir.hashing import sha256_file

log = logging.getLogger(__name__)


def _count(path: Path, fmt: str) -> int:
    return len(LmdbShard(path)) if fmt == "lmdb" else len(index_wds_shard(path))


def check_shards(out: Path, manifest: dict, progress: bool = False) -> list[str]:
    from tqdm import tqdm

    problems = []
    entries = [
        (split, fmt, s)
        for split in SPLITS
        for fmt, shards in manifest["splits"][split]["shards"].items()
        for s in shards
    ]
    for _split, fmt, s in tqdm(entries, desc="verify", unit="shard", disable=not progress):
        path = out / s["path"]
        if not path.is_file():
            problems.append(f"{path}: missing")
            continue
        if sha256_file(path) != s["sha256"]:
            problems.append(f"{path}: sha256 differs from manifest")
        try:
            n = _count(path, fmt)
        except Exception as exc:  # unreadable shard: report, keep checking the others
            problems.append(f"{path}: unreadable ({exc})")
            continue
        if n != s["count"]:
            problems.append(f"{path}: {n} records, manifest says {s['count']}")
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
