"""Training data loading: every record exactly once per epoch across ranks and loader
workers (LMDB and WebDataset), nested subsets, reshuffling, and graphs identical to
mace-torch's own ``AtomicData.from_config``."""

import numpy as np
import pytest
import torch

from mace4ir.data_prep.prepared.reader import load_manifest, open_records
from mace4ir.training.data.loaders import LoaderOptions, TrainData
from mace4ir.training.data.record_graphs import GraphBuilder

WORLD, WORKERS = 2, 2


def _builder(prepared):
    zs = sorted(int(z) for z in load_manifest(prepared)["e0s"])
    return GraphBuilder(zs, 5.0, "float64")


def _epoch_energies(prepared, fmt, epoch, subset=None, **opts):
    """Energies (unique per record) of every graph any rank/worker yields in one epoch."""
    builder = _builder(prepared)
    seen, batches_per_rank = [], []
    for rank in range(WORLD):
        data = TrainData(
            prepared,
            builder,
            LoaderOptions(batch_size=7, num_workers=WORKERS, seed=3, shuffle_buffer=16, **opts),
            fmt=fmt,
            subset=subset,
            rank=rank,
            world=WORLD,
        )
        batches = list(data.epoch(epoch))
        batches_per_rank.append(len(batches))
        for b in batches:
            seen += b.energy.tolist()
            if opts.get("max_atoms"):
                assert b.num_graphs == 1 or b.num_nodes <= opts["max_atoms"]
    return seen, batches_per_rank


@pytest.mark.parametrize("fmt", ["lmdb", "webdataset"])
def test_each_record_once_per_epoch(prepared_sample, fmt):
    subset = min(
        int(s) for s in load_manifest(prepared_sample)["subsets"]
    )  # a prefix that ends mid-shard
    expected = sorted(r["energy"] for r in open_records(prepared_sample, "train", subset))
    assert len(set(expected)) == len(expected)  # energies identify records
    first, _ = _epoch_energies(prepared_sample, fmt, epoch=0, subset=subset)
    second, _ = _epoch_energies(prepared_sample, fmt, epoch=1, subset=subset, max_atoms=40)
    for seen in (first, second):
        assert len(seen) == len(expected), "records lost or duplicated"
        assert sorted(seen) == pytest.approx(expected, rel=0, abs=1e-9)
    assert first != second, "no reshuffle between epochs"


def test_resume_offset_skips_exact_batches(prepared_sample):
    builder = _builder(prepared_sample)
    data = TrainData(prepared_sample, builder, LoaderOptions(batch_size=5, seed=1), rank=1, world=2)
    full = [b.energy.tolist() for b in data.epoch(2)]
    tail = [b.energy.tolist() for b in data.epoch(2, start=3)]
    assert tail == full[3:]


def test_graph_matches_mace_from_config(prepared_sample):
    from mace.data import AtomicData, config_from_atoms
    from mace.tools import AtomicNumberTable

    from mace4ir.data_prep.prepared.records import record_to_atoms

    builder = _builder(prepared_sample)
    table = AtomicNumberTable(builder.atomic_numbers)
    for rec in list(open_records(prepared_sample, "val"))[:5]:
        ours = builder(rec)
        atoms = record_to_atoms(rec)
        with torch.device("cpu"):
            torch.set_default_dtype(torch.float64)
            try:
                ref = AtomicData.from_config(config_from_atoms(atoms), z_table=table, cutoff=5.0)
            finally:
                torch.set_default_dtype(torch.float32)
        as_set = lambda g: sorted(map(tuple, g.edge_index.T.tolist()))  # noqa: E731
        assert as_set(ours) == as_set(ref)
        assert torch.equal(ours.node_attrs, ref.node_attrs)
        assert torch.allclose(ours.positions, ref.positions)
        np.testing.assert_allclose(ours.forces.numpy(), rec["forces"], rtol=1e-7)
        assert ours.dipole.shape == (1, 3)


@pytest.mark.parametrize("shape", ["planar", "linear", "general"])
def test_edges_of_planar_and_linear_geometries(shape):
    """matscipy's own wrap-around cell is singular for a flat or straight molecule (every
    normal-mode displacement of water is planar): the edges must still be all close pairs."""
    from mace4ir.geometry import squared_distances
    from mace4ir.training.data.record_graphs import molecule_edges

    rng = np.random.default_rng(1)
    pos = rng.uniform(-2, 2, (7, 3))
    if shape != "general":
        pos[:, 2] = 0.0
    if shape == "linear":
        pos[:, 1] = 0.0
    sender, receiver = molecule_edges(pos, 2.5)
    d2 = squared_distances(pos)
    want = {(i, j) for i in range(7) for j in range(7) if i != j and d2[i, j] < 2.5**2}
    assert set(zip(sender.tolist(), receiver.tolist())) == want
