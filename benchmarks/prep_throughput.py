"""Throughput of `mace4ir prep` vs mace-torch's own preprocessing, in the same run.

    python benchmarks/prep_throughput.py [--records 20000] [--base 300] [--workers 1]

1. Writes a real GFN2-xTB QCML-format sample (``--base`` records) and replicates it,
   with small random position perturbations and new key_hashes, into a larger
   QCML-format TFDS directory of ``--records`` records (this measures throughput,
   not labels; the labels of replicas are those of their originals).
2. Runs ``mace4ir prep`` on it (all phases: TFRecord + CRC + protobuf parsing,
   filtering, unit conversion, splitting, LMDB + WebDataset + Parquet writing,
   statistics) with ``--workers`` processes.
3. Writes the conformers that prep kept as extxyz (train/val/test as prep split
   them; not timed) and runs ``python -m mace.cli.preprocess_data`` on them
   (reading, HDF5 writing, E0s and statistics with --compute_statistics) with one
   process.
4. Prints records per second per worker for both, their ratio, and a projection
   of the full QCML run (33.5M records) on a 32-core node, assuming linear scaling.

Both tools run as command-line subprocesses. Per-core throughput is measured in
CPU time (user + sys of the process and all its children, from getrusage), which
stays meaningful on a shared machine where wall time depends on other load; wall
times are printed too. The import cost of each CLI (measured separately) is
subtracted in the "net" figures. The projection uses prep's net CPU time per input
record; it is conservative for QCML, where fewer records survive the filter
(15.6M of 33.5M) than in the sample (~92%), and fixed costs (plot, manifest) are
amortised over far more records.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

QCML_RECORDS = 33_500_000
NODE_CORES = 32
TARGET_RATIO = 20.0
TARGET_MINUTES = 30.0


def replicate_sample(
    base_dir: Path, out: Path, n_records: int, shard_records: int, seed: int = 0
) -> None:
    """A QCML-format directory of ``n_records`` made from perturbed copies of the base sample."""
    from mace4ir.data_prep.qcml import layout as fmt
    from mace4ir.data_prep.qcml.example_proto import decode_example
    from mace4ir.data_prep.qcml.tfrecord import iter_tfrecord

    rows = []
    streams = [
        (
            p
            for path in sorted((base_dir / "qcml" / c / "1.0.0").glob("*.tfrecord-*"))
            for p in iter_tfrecord(path)
        )
        for c in fmt.BUNDLED_CONFIGS
    ]
    for parts in zip(*streams):
        row = {}
        for p in parts:
            row.update(
                {
                    k: (v[0].decode() if isinstance(v, list) else v)
                    for k, v in decode_example(p).items()
                }
            )
        rows.append(row)
    rng = np.random.default_rng(seed)
    shards = []
    for start in range(0, n_records, shard_records):
        shard = []
        for i in range(start, min(start + shard_records, n_records)):
            row = dict(rows[i % len(rows)])
            row["key_hash"] = f"{row['key_hash']}-{i // len(rows)}"
            row["positions"] = row["positions"] + rng.normal(
                scale=1e-3, size=row["positions"].shape
            ).astype(np.float32)
            shard.append(row)
        shards.append(shard)
    for config, feats in fmt.BUNDLED_CONFIGS.items():
        fmt.write_config(
            out, config, feats, shards, "benchmark replica of the mace4ir GFN2-xTB sample"
        )


def write_extxyz(prepared: Path, folder: Path) -> dict[str, Path]:
    """The kept conformers as extxyz, with REF_energy / REF_forces / REF_dipole."""
    from ase.io import write

    from mace4ir.data_prep import open_split

    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for split in ("train", "val", "test"):
        frames = []
        for atoms in open_split(prepared, split):
            atoms.info = {"REF_energy": atoms.info["energy"], "REF_dipole": atoms.info["dipole"]}
            atoms.arrays["REF_forces"] = atoms.arrays.pop("forces")
            frames.append(atoms)
        paths[split] = folder / f"{split}.xyz"
        write(paths[split], frames, format="extxyz")
    return paths


def timed(cmd: list[str], env: dict) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the command and all its descendants)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    res = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if res.returncode != 0:
        sys.exit(
            f"command failed ({res.returncode}): {' '.join(cmd)}\n{res.stdout.decode()[-3000:]}"
        )
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def run(args) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    work = Path(args.work or tempfile.mkdtemp(prefix="prep_bench_"))
    base, source, prepared = work / "base", work / "qcml", work / "prepared"
    shutil.rmtree(prepared, ignore_errors=True)
    if not source.is_dir():
        from mace4ir.data_prep.sample import write_sample

        print(
            f"writing {args.base} GFN2-xTB records and replicating them to {args.records} ...",
            flush=True,
        )
        write_sample(base, n_records=args.base, seed=args.seed)
        replicate_sample(base, source, args.records, args.shard_records, args.seed)

    n_val = n_test = max(args.records // 20, 10)
    prep_cmd = [
        sys.executable,
        "-m",
        "mace4ir.cli",
        "prep",
        "--source",
        str(source),
        "--out",
        str(prepared),
        "--val-size",
        str(n_val),
        "--test-size",
        str(n_test),
        "--subsets",
        "1000",
        "--shard-size",
        "10000",
        "--workers",
        str(args.workers),
        "--no-progress",
    ]
    prep_import = timed(
        [
            sys.executable,
            "-c",
            "import mace4ir.cli, mace4ir.data_prep.pipeline.prepare, matplotlib.figure",
        ],
        env,
    )
    print("running mace4ir prep ...", flush=True)
    prep = timed(prep_cmd, env)
    manifest = json.loads((prepared / "manifest.json").read_text())
    n_kept = sum(manifest["splits"][s]["count"] for s in ("train", "val", "test"))

    xyz = write_extxyz(prepared, work / "xyz")
    h5 = work / "mace_h5"
    shutil.rmtree(h5, ignore_errors=True)
    mace_cmd = [
        sys.executable,
        "-m",
        "mace.cli.preprocess_data",
        "--train_file",
        str(xyz["train"]),
        "--valid_file",
        str(xyz["val"]),
        "--test_file",
        str(xyz["test"]),
        "--h5_prefix",
        f"{h5}/",
        "--r_max",
        "5.0",
        "--compute_statistics",
        "--E0s",
        "average",
        "--num_process",
        "1",
        "--energy_key",
        "REF_energy",
        "--forces_key",
        "REF_forces",
        "--dipole_key",
        "REF_dipole",
        "--seed",
        "0",
        "--batch_size",
        "16",
    ]
    mace_import = timed([sys.executable, "-c", "import mace.cli.preprocess_data"], env)
    print("running mace.cli.preprocess_data ...", flush=True)
    mace = timed(mace_cmd, env)

    return report(args, prep, prep_import, mace, mace_import, n_kept)


def report(args, prep, prep_import, mace, mace_import, n_kept) -> dict:
    """Figures from (wall, cpu) pairs of the runs and of the bare imports."""
    res = {
        "records_in": args.records,
        "records_kept": n_kept,
        "workers": args.workers,
        "prep_wall_s": prep[0],
        "prep_cpu_s": prep[1],
        "prep_import_cpu_s": prep_import[1],
        "mace_wall_s": mace[0],
        "mace_cpu_s": mace[1],
        "mace_import_cpu_s": mace_import[1],
    }
    # prep reads every input record (and rejects some); mace-torch gets only the kept ones.
    res["prep_rec_per_cpu_s"] = args.records / prep[1]
    res["prep_net_rec_per_cpu_s"] = args.records / max(prep[1] - prep_import[1], 1e-9)
    res["prep_rec_per_wall_s_per_worker"] = args.records / prep[0] / args.workers
    res["mace_rec_per_cpu_s"] = n_kept / mace[1]
    res["mace_net_rec_per_cpu_s"] = n_kept / max(mace[1] - mace_import[1], 1e-9)
    res["mace_rec_per_wall_s"] = n_kept / mace[0]
    res["ratio_per_core"] = res["prep_rec_per_cpu_s"] / res["mace_rec_per_cpu_s"]
    res["ratio_per_core_net"] = res["prep_net_rec_per_cpu_s"] / res["mace_net_rec_per_cpu_s"]
    res["ratio_wall"] = res["prep_rec_per_wall_s_per_worker"] / res["mace_rec_per_wall_s"]
    res["qcml_projection_min_32_cores"] = (
        QCML_RECORDS / (res["prep_net_rec_per_cpu_s"] * NODE_CORES) / 60
    )
    # pessimistic variant: wall time of this run (includes waiting for the CPU on a shared machine)
    res["qcml_projection_min_32_cores_wall"] = (
        QCML_RECORDS / (res["prep_rec_per_wall_s_per_worker"] * NODE_CORES) / 60
    )
    res["mace_projection_min_32_cores"] = (
        QCML_RECORDS / (res["mace_net_rec_per_cpu_s"] * NODE_CORES) / 60
    )
    print(json.dumps(res, indent=2))
    print(
        f"\nmace4ir prep:               {res['prep_net_rec_per_cpu_s']:8,.0f} records per "
        f"CPU-second "
        f"(net of imports; {res['prep_rec_per_cpu_s']:,.0f} gross; "
        f"{res['prep_rec_per_wall_s_per_worker']:,.0f} "
        f"per wall-second per worker)\n"
        f"mace-torch preprocess_data: {res['mace_net_rec_per_cpu_s']:8,.0f} records per CPU-second "
        f"(net of imports; {res['mace_rec_per_cpu_s']:,.0f} gross; "
        f"{res['mace_rec_per_wall_s']:,.0f} per wall-second)\n"
        f"ratio per core: {res['ratio_per_core_net']:.1f}x net, {res['ratio_per_core']:.1f}x "
        f"gross, "
        f"{res['ratio_wall']:.1f}x in wall time (target >= {TARGET_RATIO:.0f}x)\n"
        f"projected full QCML ({QCML_RECORDS / 1e6:.1f}M records) on {NODE_CORES} cores: "
        f"{res['qcml_projection_min_32_cores']:.1f} min from CPU time, "
        f"{res['qcml_projection_min_32_cores_wall']:.1f} min from this run's wall time (target < "
        f"{TARGET_MINUTES:.0f} min; "
        f"mace-torch: {res['mace_projection_min_32_cores']:.0f} min)"
    )
    return res


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--records", type=int, default=20_000, help="input records (default 20000)")
    p.add_argument(
        "--base", type=int, default=300, help="real GFN2-xTB records to replicate (default 300)"
    )
    p.add_argument(
        "--shard-records", type=int, default=2_000, help="records per input TFRecord shard"
    )
    p.add_argument("--workers", type=int, default=1, help="mace4ir prep workers (default 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--work", help="work folder (default: a new temporary folder); reused if it holds the input"
    )
    p.add_argument("--json", help="also write the results to this JSON file")
    args = p.parse_args()
    res = run(args)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
