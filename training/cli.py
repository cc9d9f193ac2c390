"""``mace4ir train``, ``mace4ir evaluate-errors`` and ``mace4ir scaling-curve``."""

from __future__ import annotations

import argparse

MODELS = "ef_small|ef_medium|ef_large|dipole|ef_tiny|dipole_tiny or a model YAML"


def register(sub) -> None:
    _register_train(sub)
    _register_finetune(sub)
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
        "--committee",
        type=int,
        default=1,
        metavar="N",
        help="train N members with seeds SEED, SEED+1000, ... into OUT/member_00 ... "
        "(OUT/committee.json lists them; mace4ir ir --committee uses them)",
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
    from mace4ir.training.loop.trainer import train, train_committee

    overrides = dict(
        subset=args.subset,
        format=args.format,
        max_steps=args.max_steps,
        max_epochs=args.max_epochs,
        batch_size=args.batch_size,
        num_workers=args.num_workers,
        eval_every_steps=args.eval_every,
        log_every_steps=args.log_every,
        device=args.device,
        compile=args.compile,
        cuequivariance=args.cuequivariance,
        openequivariance=args.openequivariance,
        optimizer={"lr": args.lr},
        checkpoint={"every_steps": args.checkpoint_every},
        progress=False if args.no_progress else None,
        skip_corrupt=args.skip_corrupt,
    )
    common = dict(
        model=args.model,
        config=args.config,
        precision=args.precision,
        resume=args.resume,
        force=args.force,
        **overrides,
    )
    if args.committee > 1:
        train_committee(args.data, args.out, args.committee, seed=args.seed or 123, **common)
    else:
        train(args.data, args.out, seed=args.seed, **common)
    return 0


def _register_finetune(sub) -> None:
    p = sub.add_parser(
        "finetune",
        help="fine-tune a trained model (pair) on new data, optionally as a committee",
        description=(
            "Adapt a trained MACE-EF and/or MACE-D model to new reference data: a release folder "
            "or Hub id, or a training RUN, trained further on a prepared dir, an extended XYZ "
            "file (energy, forces, dipole per frame) or a QCML-format folder. Elements the "
            "model lacks are added to its element table (mace-torch's foundation transfer; each "
            "starts from the weights of the closest known element); the new energies are put on "
            "the model's energy zero; --replay mixes in the original training data so the "
            "model does not forget. Same trainer as 'mace4ir train' (torchrun, --resume, EMA, "
            "checkpoints, TensorBoard); defaults from configs/train/finetune.yaml. "
            "OUT gets ef/ and dipole/ runs (member_00 ... with --committee), data/ and "
            "finetune.json."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--from",
        dest="source",
        required=True,
        metavar="SRC",
        help="release folder, Hub id ORG/NAME, training RUN dir, or mace-torch .model "
        "(with --trust-pickle)",
    )
    p.add_argument(
        "--trust-pickle",
        action="store_true",
        help="allow mace-torch .model pickles as the source (they can run code)",
    )
    p.add_argument("--ef-file", help="EF model to start from, in a release holding several")
    p.add_argument("--dipole-file", help="dipole model to start from, in a release holding several")
    p.add_argument(
        "--data",
        required=True,
        help="new data: prepared dir, extended XYZ file, or QCML-format folder",
    )
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument(
        "--kind",
        choices=("ef", "dipole", "both"),
        help="which model(s) to fine-tune (default: all the source holds)",
    )
    p.add_argument(
        "--replay", metavar="PREPARED", help="prepared dir of the original training data to replay"
    )
    p.add_argument(
        "--replay-fraction",
        type=float,
        default=0.0,
        help="share of every split drawn from --replay (0 <= F < 1)",
    )
    p.add_argument(
        "--committee",
        type=int,
        default=1,
        metavar="N",
        help="fine-tune N members per kind, each on a bootstrap resample",
    )
    p.add_argument(
        "--data-elements-only",
        action="store_true",
        help="cut the model's element table to the elements of the new data: a faster, "
        "specialised model (mace-torch's contractions cost in proportion to the table)",
    )
    p.add_argument("--config", default="finetune", help="training config (name or YAML path)")
    p.add_argument(
        "--val-fraction",
        type=float,
        default=0.1,
        help="share of new structures held out for validation (extxyz/QCML data)",
    )
    p.add_argument("--max-steps", type=int, help="stop after this many optimizer steps")
    p.add_argument("--max-epochs", type=int, help="stop after this many epochs")
    p.add_argument("--batch-size", type=int, help="graphs per rank and step")
    p.add_argument("--lr", type=float, help="learning rate")
    p.add_argument("--seed", type=int, default=0, help="random seed (members add 1000 each)")
    p.add_argument("--device", help="auto, cpu or cuda")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--resume", action="store_true", help="continue a killed fine-tuning run")
    p.set_defaults(func=_finetune)


def _finetune(args) -> int:
    from mace4ir.training.finetune.run import FinetuneOptions, finetune

    overrides = dict(
        max_steps=args.max_steps,
        max_epochs=args.max_epochs,
        batch_size=args.batch_size,
        device=args.device,
        optimizer={"lr": args.lr},
        progress=False if args.no_progress else None,
    )
    kinds = None if args.kind in (None, "both") else (args.kind,)
    members = finetune(
        FinetuneOptions(
            source=args.source,
            data=args.data,
            out=args.out,
            kinds=kinds if args.kind != "both" else ("ef", "dipole"),
            replay=args.replay,
            replay_fraction=args.replay_fraction,
            committee=args.committee,
            config=args.config,
            val_fraction=args.val_fraction,
            trust_pickle=args.trust_pickle,
            data_elements_only=args.data_elements_only,
            ef_file=args.ef_file,
            dipole_file=args.dipole_file,
            seed=args.seed,
            resume=args.resume,
            overrides={k: v for k, v in overrides.items() if v is not None},
        )
    )
    for kind, runs in members.items():
        print(f"{kind}: {', '.join(str(r) for r in runs)}")
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
