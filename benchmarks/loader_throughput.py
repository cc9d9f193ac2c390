"""Loader throughput: prepared shards -> collated batch of graphs, graphs/s per loader worker.

Anchor (same structures, same run): mace-torch's own pipeline, i.e. the HDF5 file
that ``mace_prepare_data`` writes (``save_configurations_as_HDF5``) read through
``mace.data.HDF5Dataset`` -> ``AtomicData.from_config`` -> mace's torch_geometric
DataLoader. Both run in one process (num_workers=0), i.e. the throughput of one
loader worker. Target: ours >= 3x.

    python benchmarks/loader_throughput.py [--data PREPARED] [--n 2000] [--batch-size 16] [--repeats
    3]

Without --data a sample is generated and prepared first (GFN2-xTB, takes a while).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import h5py  # noqa: E402
import mace.modules  # noqa: E402,F401
import torch  # noqa: E402
from mace.data import HDF5Dataset, config_from_atoms  # noqa: E402
from mace.data.utils import save_configurations_as_HDF5  # noqa: E402
from mace.tools import AtomicNumberTable, torch_geometric  # noqa: E402

from mace4ir.data_prep.prepared.reader import load_manifest  # noqa: E402
from mace4ir.data_prep.prepared.records import record_to_atoms  # noqa: E402
from mace4ir.training.data.loaders import LoaderOptions, TrainData  # noqa: E402
from mace4ir.training.data.record_graphs import GraphBuilder  # noqa: E402


def sample_prepared(root: Path) -> Path:
    from mace4ir.data_prep.pipeline.prepare import PrepOptions, prepare
    from mace4ir.data_prep.sample import write_sample

    write_sample(root / "qcml", n_records=600, seed=1)
    prepare(
        PrepOptions(
            source=root / "qcml",
            out=root / "prepared",
            val_size=50,
            test_size=50,
            train_size=450,
            subsets=(450,),
            shard_size=128,
            workers=1,
            seed=1,
        )
    )
    return root / "prepared"


def time_loader(make_iter, n_graphs_expected: int, repeats: int) -> float:
    """Best graphs/s over ``repeats`` full passes."""
    best = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        n = sum(batch.num_graphs for batch in make_iter())
        dt = time.perf_counter() - t0
        assert n == n_graphs_expected, (n, n_graphs_expected)
        best = max(best, n / dt)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", type=Path, help="prepared directory (default: generate a sample)")
    ap.add_argument("--n", type=int, default=2000, help="max training structures to load")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--precision", default="float64", choices=("float32", "float64"))
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="m4r_loader_"))
    data = args.data or sample_prepared(tmp)
    manifest = load_manifest(data)
    zs = sorted(int(z) for z in manifest["e0s"])
    n_train = manifest["splits"]["train"]["count"]
    subset = next(
        (int(s) for s in sorted(manifest["subsets"], key=int) if int(s) >= min(args.n, n_train)),
        None,
    )

    # ours: LMDB shards -> GraphBuilder -> mace Batch
    builder = GraphBuilder(zs, 5.0, args.precision)
    train = TrainData(
        data,
        builder,
        LoaderOptions(batch_size=args.batch_size, num_workers=0, shuffle=True),
        subset=subset,
    )
    expected = len(train)
    ours = time_loader(lambda: train.epoch(0), expected, args.repeats)
    wds = TrainData(
        data,
        builder,
        LoaderOptions(batch_size=args.batch_size, num_workers=0, shuffle=True),
        fmt="webdataset",
        subset=subset,
    )
    ours_wds = time_loader(lambda: wds.epoch(0), expected, args.repeats)

    # anchor: the same structures through mace-torch's HDF5 pipeline
    h5 = tmp / "train.h5"
    configs = [
        config_from_atoms(record_to_atoms(r)) for r in train.records
    ]  # one LMDB handle per process
    with h5py.File(h5, "w") as f:
        f.attrs["drop_last"] = False
        save_configurations_as_HDF5(configs, 0, f)
    torch.set_default_dtype(torch.float64 if args.precision == "float64" else torch.float32)
    mace_ds = HDF5Dataset(str(h5), r_max=5.0, z_table=AtomicNumberTable(zs))
    mace_loader = torch_geometric.dataloader.DataLoader(
        mace_ds, batch_size=args.batch_size, shuffle=True, num_workers=0
    )
    anchor = time_loader(lambda: iter(mace_loader), expected, args.repeats)

    print(
        f"structures: {expected}, batch size {args.batch_size}, {args.precision}, 1 loader worker "
        f"each"
    )
    print(f"mace4ir LMDB loader      : {ours:9.1f} graphs/s")
    print(f"mace4ir WebDataset loader: {ours_wds:9.1f} graphs/s")
    print(f"mace-torch HDF5 pipeline : {anchor:9.1f} graphs/s")
    print(
        f"ratio (ours / mace-torch): {ours / anchor:9.2f}x LMDB, {ours_wds / anchor:.2f}x "
        f"WebDataset   (target >= 3x)"
    )


if __name__ == "__main__":
    main()
