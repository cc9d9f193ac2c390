"""``mace4ir sample`` and ``mace4ir prep`` (and ``mace4ir prep verify``)."""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)

PREP_EPILOG = """\
Options not given on the command line come from --config (default: the built-in
'qcml' config, configs/data/qcml.yaml: 100k val, 100k test, 10M train pool, nested
subsets 50k..10M). Source units default to QCML's atomic units (Bohr, Hartree,
Hartree/Bohr, e*Bohr); records are stored in Å, eV, eV/Å, e·Å.

A run killed at any moment resumes when the same command is run again, and the
output is byte-identical to an uninterrupted run.

examples:
  mace4ir sample --out qcml_sample
  mace4ir prep --source qcml_sample --out prepared --config sample --workers 2
  mace4ir prep --source /data/tfds --out /scratch/qcml_prepared --workers 32
  mace4ir prep verify prepared --deep

cluster (shared file system): one `--stage hash` job, a job array of `--stage scan
--part I/N`, then one of `--stage write --part I/N`, then one plain run that writes
manifest.json; see slurm/prep_array.sh and docs/data_prep.md.

--out must be new, empty or made by prep (--force: any folder; its files are kept).
"""


FORCE_HELP = (
    "write into a non-empty --out folder this command did not make (its files are never "
    "overwritten or removed)"
)


def _int_list(text: str) -> list[int]:
    return [int(x.replace("_", "")) for x in text.split(",") if x.strip()]


def _str_list(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def _part(text: str) -> tuple[int, int]:
    i, _, n = text.partition("/")
    try:
        return int(i), int(n)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected I/N (e.g. 3/32), got {text!r}") from None


def register(sub) -> None:
    p = sub.add_parser(
        "sample",
        help="write the built-in QCML-format sample (real GFN2-xTB labels)",
        description=(
            "Write a QCML-format TFDS data_dir (configs dft_force_field, dft_multipole_moments, "
            "dft_metadata; atomic units) from GFN2-xTB (tblite) single points of conformers "
            "sampled "
            "at 0-1000 K around a few dozen small molecules (16 elements), including charged, "
            "triplet and outlier-flagged records that 'mace4ir prep' drops."
        ),
    )
    p.add_argument(
        "--out", required=True, help="output data_dir (creates OUT/qcml/<config>/1.0.0/)"
    )
    p.add_argument("--records", type=int, default=3000, help="number of conformers (default: 3000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument(
        "--records-per-shard",
        type=int,
        default=100,
        help="records per TFRecord shard (default: 100)",
    )
    p.add_argument("--workers", type=int, default=1, help="processes running GFN2-xTB (default: 1)")
    p.add_argument("--force", action="store_true", help=FORCE_HELP)
    p.set_defaults(func=run_sample)

    p = sub.add_parser(
        "prep",
        help="QCML -> filtered, split, sharded LMDB + WebDataset with manifest.json",
        description=(
            "Read a QCML TFDS data_dir (no TensorFlow needed), keep neutral singlets that are not "
            "outliers, convert units, split into fixed test/val sets and a training pool with "
            "nested "
            "subsets, and write LMDB and WebDataset shards, a Parquet index, statistics (E0s, "
            "average neighbours, force RMS) and an element heat map."
        ),
        epilog=PREP_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--source", help="QCML TFDS data_dir (holding qcml/<config>/<version>/)")
    p.add_argument("--out", help="output folder (resumes an unfinished run with the same options)")
    p.add_argument(
        "--config",
        default="qcml",
        help="data config: built-in name (qcml, sample) or YAML path (default: qcml)",
    )
    p.add_argument("--val-size", type=int, help="validation records (qcml config: 100000)")
    p.add_argument("--test-size", type=int, help="test records (qcml config: 100000)")
    p.add_argument("--train-size", type=int, help="training pool records (qcml config: 10000000)")
    p.add_argument(
        "--subsets",
        type=_int_list,
        help="nested training subset sizes, comma separated (qcml config: 50000,...,10000000)",
    )
    p.add_argument("--shard-size", type=int, help="records per output shard (qcml config: 10000)")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes (default: 1); output does not depend on it",
    )
    p.add_argument("--seed", type=int, help="seed of the split order (qcml config: 0)")
    p.add_argument("--formats", type=_str_list, help="lmdb,webdataset (default: both)")
    p.add_argument(
        "--split-by",
        choices=("conformer", "molecule"),
        help="split conformers, or whole molecules by smiles_hash (default: conformer)",
    )
    p.add_argument("--energy-field", help="QCML energy field (default: pbe0_formation_energy)")
    p.add_argument(
        "--r-max", type=float, help="neighbour cutoff in Å for avg_num_neighbors (default: 5.0)"
    )
    p.add_argument(
        "--min-distance",
        type=float,
        help="records with atoms closer than this (Å) are invalid (default: 0.5)",
    )
    p.add_argument(
        "--skip-corrupt",
        action="store_true",
        default=None,
        help="count corrupt TFRecords instead of stopping",
    )
    p.add_argument(
        "--stage",
        choices=("all", "hash", "scan", "write"),
        default="all",
        help="all (default); hash, scan or write: only that phase, for job arrays (see "
        "slurm/prep_array.sh)",
    )
    p.add_argument(
        "--part",
        type=_part,
        default=(0, 1),
        metavar="I/N",
        help="with --stage scan|write: do input/output shards I, I+N, I+2N, ... (default 0/1)",
    )
    p.add_argument(
        "--keep-work", action="store_true", help="keep OUT/.work (staged records) after success"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--force", action="store_true", help=FORCE_HELP)
    p.set_defaults(func=run_prep)
    psub = p.add_subparsers(dest="prep_command", metavar="verify")
    v = psub.add_parser(
        "verify",
        help="re-check counts and sha256 of a prepared folder",
        description="Re-check every shard of a prepared folder against manifest.json.",
    )
    v.add_argument("prepared", help="prepared folder (holding manifest.json)")
    v.add_argument(
        "--deep",
        action="store_true",
        help="also decode all records, compare LMDB with WebDataset and check splits are disjoint",
    )
    v.set_defaults(func=run_verify)


def run_sample(args) -> int:
    from mace4ir.data_prep.sample import write_sample

    write_sample(
        args.out,
        n_records=args.records,
        seed=args.seed,
        records_per_shard=args.records_per_shard,
        workers=args.workers,
        progress=True,
        force=args.force,
    )
    return 0


CLI_TO_OPTION = {
    "val_size": "val_size",
    "test_size": "test_size",
    "train_size": "train_size",
    "subsets": "subsets",
    "shard_size": "shard_size",
    "seed": "seed",
    "formats": "formats",
    "split_by": "split_by",
    "energy_field": "energy_field",
    "r_max": "r_max",
    "min_distance": "min_distance",
    "skip_corrupt": "skip_corrupt",
}


def prep_options(args):
    """PrepOptions from the YAML config overridden by the command-line flags."""
    from mace4ir.data_prep.pipeline.prepare import PrepOptions
    from mace4ir.errors import ConfigError

    if not args.source or not args.out:
        raise ConfigError("mace4ir prep needs --source and --out (or: mace4ir prep verify OUT)")
    overrides = {key: getattr(args, arg) for arg, key in CLI_TO_OPTION.items()}
    return PrepOptions.from_config(
        args.config,
        args.source,
        args.out,
        workers=args.workers,
        keep_work=args.keep_work,
        progress=not args.no_progress,
        force=args.force,
        **overrides,
    )


def run_prep(args) -> int:
    from mace4ir.data_prep.pipeline.prepare import prepare

    prepare(prep_options(args), stage=args.stage, part=args.part)
    return 0


def run_verify(args) -> int:
    from mace4ir.data_prep.prepared.verify import verify

    verify(args.prepared, deep=args.deep, progress=True)
    return 0
