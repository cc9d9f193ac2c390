"""Training data: prepared shards -> batches of graphs, for 1 or N processes.

Two sources, same batches semantics (``batch_size`` graphs per rank, optionally
capped by atoms and edges):

* LMDB (map-style): :class:`GraphDataset` + :class:`GraphBatchSampler`, which draws
  its order from ``torch.utils.data.DistributedSampler`` (seed + epoch reshuffle)
  without the sampler's padding, so every record is seen exactly once per epoch.
  Resuming mid-epoch skips batches without reading them.
* WebDataset (streaming): :class:`WdsGraphStream`, an ``IterableDataset`` that splits
  the tar shards between ranks and loader workers (whole shards when there are
  enough, else every k-th record), shuffles shard order per epoch and records in a
  buffer, and yields finished batches.

Ranks may end an epoch with different batch counts (uneven splits, caps); the
trainer pads the shorter ranks with zero-weight steps instead of dropping data.
"""

from __future__ import annotations

import math
import random
import struct
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import (
    DataLoader,
    Dataset,
    DistributedSampler,
    IterableDataset,
    get_worker_info,
)

from mace4ir.data_prep.prepared.reader import RecordSequence, open_records
from mace4ir.data_prep.prepared.shards import iter_wds_shard
from mace4ir.training.data.record_graphs import GraphBuilder, collate

_N_ATOMS = struct.Struct("<I")  # record header: 4-byte magic then uint32 atom count


@dataclass
class LoaderOptions:
    batch_size: int = 16  # graphs per rank and step
    max_atoms: int | None = None  # optional cap on atoms per batch
    max_edges: int | None = None  # optional cap on edges per batch
    num_workers: int = 0
    shuffle: bool = True
    seed: int = 0
    shuffle_buffer: int = 1000  # WebDataset only: records held for shuffling per worker
    pin_memory: bool = False


class GraphDataset(Dataset):
    """Map-style graphs over a :class:`RecordSequence` (LMDB or indexed tar)."""

    def __init__(self, records: RecordSequence, builder: GraphBuilder):
        self.records = records
        self.builder = builder

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int):
        shard, local = self.records.locate(i)
        return self.builder(self.records[i], f"{self.records.paths[shard]} record {local}")

    def size(self, i: int, edges: bool) -> tuple[int, int]:
        """(atoms, edges) of record ``i``; atoms from the header alone, edges need the graph."""
        if edges:
            g = self[i]
            return g.num_nodes, g.edge_index.shape[1]
        return _N_ATOMS.unpack_from(self.records.get_bytes(i), 4)[0], 0


def rank_indices(n: int, rank: int, world: int, shuffle: bool, seed: int, epoch: int) -> list[int]:
    """This rank's record indices for an epoch: DistributedSampler's order minus its padding."""
    sampler = DistributedSampler(
        range(n), num_replicas=world, rank=rank, shuffle=shuffle, seed=seed, drop_last=False
    )
    sampler.set_epoch(epoch)
    # DistributedSampler pads to a multiple of world by repeating indices; drop those repeats.
    return [idx for k, idx in enumerate(sampler) if rank + k * world < n]


def group_batches(items, batch_size: int, size_fn=None, max_atoms=None, max_edges=None):
    """Group a stream into lists of at most ``batch_size`` items, closing a batch early when
    adding the next item would exceed ``max_atoms``/``max_edges`` (a lone oversized item
    still forms its own batch)."""
    batch, atoms, edges = [], 0, 0
    capped = max_atoms is not None or max_edges is not None
    for item in items:
        a, e = size_fn(item) if capped else (0, 0)
        over = batch and (
            (max_atoms and atoms + a > max_atoms) or (max_edges and edges + e > max_edges)
        )
        if len(batch) == batch_size or over:
            yield batch
            batch, atoms, edges = [], 0, 0
        batch.append(item)
        atoms, edges = atoms + a, edges + e
    if batch:
        yield batch


class GraphBatchSampler:
    """Per-rank batches of indices for one epoch; ``set_epoch`` reshuffles, ``start`` skips."""

    def __init__(self, dataset: GraphDataset, opts: LoaderOptions, rank: int = 0, world: int = 1):
        self.dataset, self.opts, self.rank, self.world = dataset, opts, rank, world
        self.epoch, self.start = 0, 0
        self._cache: tuple[int, list] | None = None

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.epoch, self.start = epoch, start

    def batches(self) -> list[list[int]]:
        if self._cache is None or self._cache[0] != self.epoch:
            o = self.opts
            idx = rank_indices(
                len(self.dataset), self.rank, self.world, o.shuffle, o.seed, self.epoch
            )
            need_edges = o.max_edges is not None
            size_fn = lambda i: self.dataset.size(i, need_edges)  # noqa: E731
            self._cache = (
                self.epoch,
                list(group_batches(idx, o.batch_size, size_fn, o.max_atoms, o.max_edges)),
            )
        return self._cache[1]

    def __iter__(self):
        return iter(self.batches()[self.start :])

    def __len__(self) -> int:
        return max(0, len(self.batches()) - self.start)


class WdsGraphStream(IterableDataset):
    """Batches of graphs streamed from WebDataset tar shards, split by rank and worker."""

    def __init__(
        self,
        shards: list[dict],
        limit: int,
        builder: GraphBuilder,
        opts: LoaderOptions,
        rank: int = 0,
        world: int = 1,
    ):
        self.shards, self.limit, self.builder, self.opts = shards, limit, builder, opts
        self.rank, self.world, self.epoch = rank, world, 0
        starts = np.cumsum([0] + [s["count"] for s in shards])
        # (shard, records used from it) within the subset prefix
        self.plan = [
            (k, int(min(s["count"], limit - starts[k])))
            for k, s in enumerate(shards)
            if starts[k] < limit
        ]

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.epoch = epoch  # mid-epoch resume: the trainer discards the first ``start`` batches

    def _my_records(self, slot: int, n_slots: int):
        """Records of this (rank, worker) slot: whole shards if enough, else every n_slots-th
        record."""
        order = list(range(len(self.plan)))
        if self.opts.shuffle:
            random.Random(self.opts.seed * 100003 + self.epoch).shuffle(order)
        whole = len(order) >= n_slots
        pos = 0
        for j, p in enumerate(order):
            shard, used = self.plan[p]
            if whole and j % n_slots != slot:
                continue
            path = self.shards[shard]["path"]
            for local, (_, rec) in enumerate(iter_wds_shard(path, self.shards[shard]["count"])):
                if local >= used:
                    break
                if whole or (pos + local) % n_slots == slot:
                    yield rec, f"{path} record {local}"
            pos += used

    def _shuffled(self, items, rng: random.Random):
        if not self.opts.shuffle:
            yield from items
            return
        buf = []
        for item in items:
            buf.append(item)
            if len(buf) >= self.opts.shuffle_buffer:
                yield buf.pop(rng.randrange(len(buf)))
        rng.shuffle(buf)
        yield from buf

    def __iter__(self):
        info = get_worker_info()
        wid, n_workers = (info.id, info.num_workers) if info else (0, 1)
        slot, n_slots = self.rank * n_workers + wid, self.world * n_workers
        rng = random.Random((self.opts.seed * 1000 + self.epoch) * 100003 + slot)
        graphs = (
            self.builder(rec, where)
            for rec, where in self._shuffled(self._my_records(slot, n_slots), rng)
        )
        size_fn = lambda g: (g.num_nodes, g.edge_index.shape[1])  # noqa: E731
        for group in group_batches(
            graphs, self.opts.batch_size, size_fn, self.opts.max_atoms, self.opts.max_edges
        ):
            yield collate(group)


class TrainData:
    """The training loader of one rank: ``epoch(e, start)`` yields that epoch's batches."""

    def __init__(
        self,
        prepared_dir,
        builder: GraphBuilder,
        opts: LoaderOptions,
        fmt: str = "lmdb",
        subset: int | None = None,
        rank: int = 0,
        world: int = 1,
        split: str = "train",
        skip_corrupt: bool = False,
    ):
        self.fmt, self.opts = fmt, opts
        self.records = open_records(prepared_dir, split, subset, fmt, skip_corrupt)
        common = dict(num_workers=opts.num_workers, pin_memory=opts.pin_memory)
        if fmt == "lmdb":
            self.dataset = GraphDataset(self.records, builder)
            self.sampler = GraphBatchSampler(self.dataset, opts, rank, world)
            self.loader = DataLoader(
                self.dataset,
                batch_sampler=self.sampler,
                collate_fn=collate,
                persistent_workers=opts.num_workers > 0,
                **common,
            )
        else:  # the shards that passed their check, and the records they hold
            self.dataset = WdsGraphStream(
                self.records.shards, len(self.records), builder, opts, rank, world
            )
            self.sampler = self.dataset
            self.loader = DataLoader(self.dataset, batch_size=None, **common)
        self.builder = builder

    def __len__(self) -> int:
        return len(self.records)

    def epoch(self, epoch: int, start: int = 0):
        self.sampler.set_epoch(epoch, start if self.fmt == "lmdb" else 0)
        it = iter(self.loader)
        if self.fmt != "lmdb":  # streams cannot seek: read and drop the batches already trained on
            for _ in range(start):
                next(it, None)
        return it

    def dummy_batch(self):
        """A one-graph batch for zero-weight padding steps of ranks that ran out of data."""
        return collate([self.builder(self.records[0], "padding batch")])

    def batches_hint(self) -> int:
        """Approximate batches per epoch on this rank (for progress bars)."""
        if self.fmt == "lmdb":
            return len(self.sampler.batches())
        per_rank = math.ceil(len(self.records) / self.dataset.world)
        return math.ceil(per_rank / self.opts.batch_size)


def eval_batches(
    prepared_dir,
    split: str,
    builder: GraphBuilder,
    batch_size: int,
    rank: int = 0,
    world: int = 1,
    fmt: str = "lmdb",
    num_workers: int = 0,
    skip_corrupt: bool = False,
):
    """Loader over this rank's share of a split (no shuffling, no duplicates) for evaluation."""
    records = open_records(prepared_dir, split, None, fmt, skip_corrupt)
    dataset = GraphDataset(records, builder)
    idx = rank_indices(len(dataset), rank, world, False, 0, 0)
    batches = [idx[i : i + batch_size] for i in range(0, len(idx), batch_size)]
    return DataLoader(
        dataset,
        batch_sampler=batches,
        collate_fn=collate,
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
    )


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
