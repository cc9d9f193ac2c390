"""Deterministic split assignment from keyed hashes.

Every kept record gets a 64-bit rank: a BLAKE2b hash of its ``key_hash`` keyed with
the seed. Sorting by rank gives a random permutation that depends only on the seed
and the record ids, not on how many workers read the data or in which order, and
needs only a few bytes per record. In rank order: the first ``test_size`` records
form the test set, the next ``val_size`` the validation set, the next
``train_size`` the training pool; the training pool is stored in rank order, so
each nested subset is a prefix of the next.

``split_by="molecule"`` ranks molecules (``smiles_hash``) instead and fills test,
then validation, with whole molecules (a molecule that would overshoot the exact
size is passed over), so no molecule has conformers on both sides.
"""

from __future__ import annotations

import hashlib
import logging

import numpy as np

from mace4ir.errors import ConfigError

log = logging.getLogger(__name__)

PLAN_DTYPE = np.dtype([("unit", "<u4"), ("local", "<u4")])


def keyed_hash(text: str | bytes, seed: int) -> int:
    """Unsigned 64-bit BLAKE2b hash of ``text`` keyed with ``seed``."""
    data = text.encode() if isinstance(text, str) else text
    digest = hashlib.blake2b(
        data, digest_size=8, key=seed.to_bytes(8, "little", signed=True)
    ).digest()
    return int.from_bytes(digest, "little")


def _record_order(
    rank: np.ndarray, unit: np.ndarray, local: np.ndarray, idx: np.ndarray | None = None
) -> np.ndarray:
    """Indices sorted by (rank, unit, local): ties (hash collisions) broken by input position."""
    if idx is None:
        return np.lexsort((local, unit, rank))
    return idx[np.lexsort((local[idx], unit[idx], rank[idx]))]


def plan_conformer(rank, unit, local, sizes: dict) -> dict[str, np.ndarray]:
    order = _record_order(rank, unit, local)
    t, v = sizes["test"], sizes["val"]
    return {
        "test": order[:t],
        "val": order[t : t + v],
        "train": order[t + v : t + v + sizes["train"]],
    }


def plan_molecule(rank, group, unit, local, sizes: dict) -> dict[str, np.ndarray]:
    groups, inverse, counts = np.unique(
        group, return_inverse=True, return_counts=True
    )  # sorted by group rank
    owner = np.full(len(groups), -1, np.int8)  # 0 test, 1 val, -1 pool
    for split_id, target in ((0, sizes["test"]), (1, sizes["val"])):
        filled = 0
        for g in np.flatnonzero(owner == -1):
            if filled == target:
                break
            if filled + counts[g] <= target:
                owner[g] = split_id
                filled += counts[g]
        if filled < target:
            log.warning(
                "molecule split: %s has %d records, %d requested (whole molecules only)",
                ("test", "val")[split_id],
                filled,
                target,
            )
    rec_owner = owner[inverse]
    out = {}
    for name, split_id in (("test", 0), ("val", 1)):
        out[name] = _record_order(rank, unit, local, np.flatnonzero(rec_owner == split_id))
    out["train"] = _record_order(rank, unit, local, np.flatnonzero(rec_owner == -1))[
        : sizes["train"]
    ]
    return out


def check_sizes(n_kept: int, sizes: dict) -> dict:
    """Effective split sizes; errors when val+test do not fit, warns when train is short."""
    if sizes["val"] + sizes["test"] >= n_kept:
        raise ConfigError(
            f"only {n_kept} records pass the filter; val_size {sizes['val']} + test_size "
            f"{sizes['test']} "
            f"leaves nothing to train on"
        )
    out = dict(sizes)
    available = n_kept - sizes["val"] - sizes["test"]
    if sizes["train"] > available:
        log.warning(
            "training pool: %d records available, %d requested; using %d",
            available,
            sizes["train"],
            available,
        )
        out["train"] = available
    return out


def check_subsets(subsets, n_train: int) -> list[int]:
    subsets = sorted(int(s) for s in subsets)
    too_big = [s for s in subsets if s > n_train]
    if too_big:
        raise ConfigError(
            f"training subsets {too_big} are larger than the training pool ({n_train} records)"
        )
    return subsets


def make_plan(rank, group, unit, local, sizes: dict, split_by: str) -> dict[str, np.ndarray]:
    """Per split, a structured array (unit, local) of records in stored order."""
    if split_by == "conformer":
        idx = plan_conformer(rank, unit, local, sizes)
    elif split_by == "molecule":
        idx = plan_molecule(rank, group, unit, local, sizes)
    else:
        raise ConfigError(f"split_by must be 'conformer' or 'molecule', got {split_by!r}")
    out = {}
    for name, ids in idx.items():
        arr = np.empty(len(ids), PLAN_DTYPE)
        arr["unit"], arr["local"] = unit[ids], local[ids]
        out[name] = arr
    return out
