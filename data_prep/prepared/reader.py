"""Reading a prepared directory written by ``mace4ir prep``.

Layout::

    OUT/manifest.json
    OUT/<split>/lmdb/shard-00000.lmdb ...
    OUT/<split>/webdataset/shard-00000.tar ...

``manifest["splits"][split]`` = ``{"count": n, "shards": {"lmdb": [...], "webdataset": [...]}}``
with one ``{"path": relative path, "count": c, "sha256": h}`` per shard. The train split
is stored in subset-rank order, so the nested subset of size ``n`` is exactly the
first ``n`` training records (``manifest["subsets"]`` lists the sizes).
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Sequence
from pathlib import Path

from mace4ir.data_prep.prepared.records import decode_record, record_to_atoms
from mace4ir.data_prep.prepared.shard_check import Dropped, check_shards
from mace4ir.data_prep.prepared.shards import LmdbShard, index_wds_shard, iter_wds_shard
from mace4ir.errors import DataFormatError, Mace4irError

SPLITS = ("train", "val", "test")
FORMATS = ("lmdb", "webdataset")


def load_manifest(prepared_dir: str | Path) -> dict:
    path = Path(prepared_dir) / "manifest.json"
    if not path.is_file():
        raise Mace4irError(
            f"{prepared_dir}: no manifest.json (not a prepared directory, or prep did not finish)"
        )
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DataFormatError(f"{path}: invalid JSON: {exc}") from None


def split_shards(
    prepared_dir: str | Path, split: str, fmt: str = "lmdb", manifest: dict | None = None
) -> list[dict]:
    """Shard entries ``{path (absolute), count, sha256}`` of one split in one format."""
    if split not in SPLITS:
        raise Mace4irError(f"unknown split {split!r}; expected one of {SPLITS}")
    if fmt not in FORMATS:
        raise Mace4irError(f"unknown format {fmt!r}; expected one of {FORMATS}")
    manifest = manifest or load_manifest(prepared_dir)
    shards = manifest["splits"][split]["shards"].get(fmt)
    if shards is None:
        raise Mace4irError(f"{prepared_dir}: split {split!r} was not written in format {fmt!r}")
    return [dict(s, path=str(Path(prepared_dir) / s["path"])) for s in shards]


def subset_size(manifest: dict, split: str, subset: int | None) -> int:
    """Number of records to use: the whole split, or a nested training subset."""
    total = manifest["splits"][split]["count"]
    if subset is None:
        return total
    if split != "train":
        raise Mace4irError("subsets exist only for the train split")
    if str(subset) not in manifest.get("subsets", {}):
        raise Mace4irError(
            f"training subset {subset} not prepared; available: "
            f"{', '.join(manifest.get('subsets', {}))}"
        )
    return min(int(subset), total)


class RecordSequence(Sequence):
    """Records (dicts) of a split across its shards, with random access."""

    def __init__(self, shards: list[dict], limit: int, fmt: str, dropped: Dropped | None = None):
        self.fmt, self.shards = fmt, shards
        self.dropped = dropped or Dropped()  # shards left out with skip_corrupt
        self.paths = [s["path"] for s in shards]
        self.starts = []
        total = 0
        for s in shards:
            self.starts.append(total)
            total += s["count"]
        self._len = min(limit, total)
        self._lmdb = [LmdbShard(p) for p in self.paths] if fmt == "lmdb" else None
        self._tar_index: dict[int, list] = {}

    def __len__(self) -> int:
        return self._len

    def locate(self, i: int) -> tuple[int, int]:
        """(shard number, index inside the shard) of record ``i``."""
        if i < 0:
            i += self._len
        if not 0 <= i < self._len:
            raise IndexError(i)
        shard = bisect.bisect_right(self.starts, i) - 1
        return shard, i - self.starts[shard]

    def get_bytes(self, i: int) -> bytes:
        shard, local = self.locate(i)
        if self._lmdb is not None:
            return self._lmdb[shard].get_bytes(local)
        if shard not in self._tar_index:
            self._tar_index[shard] = index_wds_shard(self.paths[shard], self.shards[shard]["count"])
        offset, size = self._tar_index[shard][local]
        with open(self.paths[shard], "rb") as fh:
            fh.seek(offset)
            return fh.read(size)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        shard, local = self.locate(i)
        return decode_record(self.get_bytes(i), f"{self.paths[shard]} record {local}")

    def __iter__(self):
        if self._lmdb is not None:
            yield from (self[i] for i in range(len(self)))
            return
        n = 0
        for entry in self.shards:  # stream tar shards sequentially
            for _, rec in iter_wds_shard(entry["path"], entry["count"]):
                if n >= self._len:
                    return
                yield rec
                n += 1


class AtomsSequence(Sequence):
    """``ase.Atoms`` view of a :class:`RecordSequence`."""

    def __init__(self, records: RecordSequence):
        self.records = records

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [record_to_atoms(r) for r in self.records[i]]
        return record_to_atoms(self.records[i])

    def __iter__(self):
        return (record_to_atoms(r) for r in self.records)


def open_records(
    prepared_dir, split: str, subset: int | None = None, fmt: str = "lmdb", skip_corrupt=False
) -> RecordSequence:
    """Records of ``split`` (optionally a nested training subset) as dicts.

    The shards holding them are checked first (``shard_check``): a damaged one stops here,
    naming it, or with ``skip_corrupt`` is left out and counted in ``.dropped``.
    """
    manifest = load_manifest(prepared_dir)
    shards = split_shards(prepared_dir, split, fmt, manifest)
    limit, start, used = subset_size(manifest, split, subset), 0, {}
    for s in shards:  # records each shard contributes to the first ``limit``
        used[s["path"]] = max(0, min(int(s["count"]), limit - start))
        start += int(s["count"])
    kept, dropped = check_shards([s for s in shards if used[s["path"]]], fmt, skip_corrupt)
    dropped.records = sum(used[p] for p in dropped.shards)
    return RecordSequence(kept, limit - dropped.records, fmt, dropped)


def open_split(
    prepared_dir, split: str, subset: int | None = None, fmt: str = "lmdb"
) -> AtomsSequence:
    """``ase.Atoms`` of a split: energy (eV) and dipole (e·Å) and key_hash in ``info``,
    forces (eV/Å) in ``arrays["forces"]``."""
    return AtomsSequence(open_records(prepared_dir, split, subset, fmt))
