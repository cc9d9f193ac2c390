"""``mace4ir train``, ``mace4ir evaluate-errors`` and ``mace4ir scaling-curve``."""

from __future__ import annotations

import argparse

MODELS = "ef_small|ef_medium|ef_large|dipole|ef_tiny|dipole_tiny or a model YAML"


def register(sub) -> None:
    _register_train(sub)
    _register_evaluate(sub)
    _register_scaling(sub)


def _register_train(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a MACE-EF or MACE-D model on a prepared directory (1 process or torchrun)",
        description=(
            "Train a mace-torch model on the output of 'mace4ir prep'. Runs as one process, or on "
            "many "
            "GPUs/nodes when launched with torchrun (e.g. torchrun --nproc-per-node 8 -m "
            "mace4ir.cli train ...). "
            "Defaults come from configs/train/default.yaml; --config overrides them, flags "
            "override both. "
            "RUN gets checkpoints/, metrics.csv, metrics.jsonl, tensorboard/, config.yaml and "
            "best_model.safetensors/.json (EMA weights of the best validation step)."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--data", required=True, help="prepared directory (with manifest.json)")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--model", default="ef_small", help=MODELS)
    p.add_argument("--config", help="training config YAML (name in configs/train/ or a path)")
    p.add_argument(
        "--precision", choices=("float32", "float64"), help="override the model config's precision"
    )
    p.add_argument(
        "--subset", type=int, help="nested training subset size (from the manifest's subsets)"
    )
    p.add_argument(
        "--format", choices=("lmdb", "webdataset"), help="shard format to read (default lmdb)"
    )
    p.add_argument("--max-steps", type=int, help="stop after this many optimizer steps")
    p.add_argument("--max-epochs", type=int, help="stop after this many epochs (default 100)")
    p.add_argument("--batch-size", type=int, help="graphs per rank and step (default 16)")
    p.add_argument("--lr", type=float, help="base learning rate (default 0.01)")
    p.add_argument("--num-workers", type=int, help="loader workers per rank (default 2)")
    p.add_argument("--eval-every", type=int, help="validate every N steps (default: every epoch)")
    p.add_argument("--checkpoint-every", type=int, help="checkpoint every N steps (default 1000)")
    p.add_argument("--log-every", type=int, help="log train metrics every N steps (default 10)")
    p.add_argument("--seed", type=int, help="random seed (default 123)")
    p.add_argument("--device", help="auto, cpu or cuda (default auto)")
    p.add_argument("--compile", action="store_true", default=None, help="torch.compile the model")
    p.add_argument(
        "--cuequivariance",
        action="store_true",
        default=None,
        help="use cuEquivariance kernels (CUDA)",
    )
    p.add_argument(
        "--openequivariance", action="store_true", default=None, help="use OpenEquivariance kernels"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--resume", action="store_true", help="continue from the latest checkpoint in --out"
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="train into a non-empty --out folder that is not a run (its files are never "
        "overwritten or removed)",
    )
    p.add_argument(
        "--skip-corrupt",
        action="store_true",
        default=None,
        help="leave out prepared shards that fail their manifest check (sha256, record count; "
        "counted in the log and RUN/config.yaml) instead of stopping",
    )
    p.set_defaults(func=_train)


def _train(args) -> int:
    from mace4ir.training.loop.trainer import train

    overrides = dict(
        subset=args.subset,
        format=args.format,
        max_steps=args.max_steps,
        max_epochs=args.max_epochs,
        batch_size=args.batch_size,
        num_workers=args.num_workers,
        eval_every_steps=args.eval_every,
        log_every_steps=args.log_every,
        seed=args.seed,
        device=args.device,
        compile=args.compile,
        cuequivariance=args.cuequivariance,
        openequivariance=args.openequivariance,
        optimizer={"lr": args.lr},
        checkpoint={"every_steps": args.checkpoint_every},
        progress=False if args.no_progress else None,
        skip_corrupt=args.skip_corrupt,
    )
    train(
        args.data,
        args.out,
        model=args.model,
        config=args.config,
        precision=args.precision,
        resume=args.resume,
        force=args.force,
        **overrides,
    )
    return 0


def _register_evaluate(sub) -> None:
    p = sub.add_parser(
        "evaluate-errors",
        help="Table-1 test errors of a trained run (E meV/atom, F meV/Å, μ meÅ) with per-element "
        "breakdown",
        description="Evaluate RUN/best_model on a prepared split; prints the table and writes "
        "RUN/<split>_errors.json.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("run", help="training run directory (or a model stem DIR/name)")
    p.add_argument("--data", required=True, help="prepared directory")
    p.add_argument("--split", default="test", choices=("train", "val", "test"))
    p.add_argument("--dipole-run", help="MACE-D run to add the dipole column")
    p.add_argument("--format", default="lmdb", choices=("lmdb", "webdataset"))
    p.add_argument("--batch-size", type=int, default=32, help="graphs per evaluation batch")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=_evaluate)


def _evaluate(args) -> int:
    from mace4ir.training.models.weights_io import require_model
    from mace4ir.training.test_errors import evaluate_errors, format_table

    require_model(args.run)
    result = evaluate_errors(
        args.run, args.data, args.split, args.dipole_run, args.format, args.batch_size, args.device
    )
    print(format_table(result))
    return 0


def _register_scaling(sub) -> None:
    p = sub.add_parser(
        "scaling-curve",
        help="train one architecture per nested training subset; Table-1 CSV/markdown and a "
        "log-log learning curve",
        description=(
            "Trains the EF model (and optionally the dipole model) on each nested subset of the "
            "prepared data, "
            "evaluates each on the test split and writes DIR/scaling.csv, DIR/scaling.md and "
            "DIR/learning_curve.png "
            "(paper's small/float32 learning curve as reference markers). Config: "
            "configs/scaling_curve.yaml."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--data", required=True, help="prepared directory")
    p.add_argument("--out", required=True, help="output directory (one run per subset inside)")
    p.add_argument(
        "--config", default="scaling_curve", help="scaling-curve YAML (built-in name or path)"
    )
    p.add_argument("--model", help="EF model (overrides the config)")
    p.add_argument("--dipole-model", help="dipole model (overrides the config; 'none' to skip)")
    p.add_argument(
        "--subsets", type=int, nargs="+", help="subset sizes (default: all in the manifest)"
    )
    p.add_argument("--max-steps", type=int, help="step budget per run (overrides the config)")
    p.set_defaults(func=_scaling)


def _scaling(args) -> int:
    from mace4ir.training.scaling import scaling_curve

    table = scaling_curve(
        args.data,
        args.out,
        config=args.config,
        model=args.model,
        dipole_model=args.dipole_model,
        subsets=args.subsets,
        max_steps=args.max_steps,
    )
    print(table)
    return 0
