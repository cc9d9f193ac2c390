"""CLI: ``mace4ir active-learn`` (heavy imports inside the handler)."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser(
        "active-learn",
        help="make a model accurate for your molecules: committee MD + oracle labels + fine-tuning",
        description=(
            "Active learning (the PALIRS protocol): label normal-mode samples of the oracle's "
            "minimum, fine-tune a committee (from --from RELEASE or --ef/--dipole RUNs), run "
            "committee-mean MD at several temperatures, label the frames the committee disagrees "
            "on most, fine-tune again, until the committee's harmonic-frequency spread or a "
            "held-out error falls below its threshold or a budget is spent; then refit the "
            "committee on all labels. Rerun the same command to resume a killed run (no oracle "
            "result is computed twice or lost), or with a larger budget to continue a finished "
            "one. Writes history.csv/png, data/labelled.extxyz, data/prepared/, committee/ and "
            "release/. Defaults: configs/active_learning.yaml."
        ),
    )
    p.add_argument("molecules", nargs="+", metavar="MOLECULE", help="SMILES or structure file")
    p.add_argument("--out", required=True, help="output folder (rerun to resume)")
    p.add_argument("--oracle", choices=("xtb", "pbe0"), help="reference method (default xtb)")
    p.add_argument("--basis", help="PBE0 basis set (default def2-SVP)")
    p.add_argument("--from", dest="source", metavar="RELEASE", help="release folder or Hub id")
    p.add_argument("--ef", metavar="RUN", help="EF model to start from (training RUN)")
    p.add_argument("--dipole", metavar="RUN", help="dipole model to start from (training RUN)")
    p.add_argument(
        "--scratch-models",
        nargs=2,
        metavar=("EF", "DIPOLE"),
        help="model configs trained from scratch when no starting model is given "
        "(default ef_small dipole)",
    )
    p.add_argument("--config", help="active-learning config YAML (overrides the defaults)")
    p.add_argument("--committee", type=int, help="EF committee members (default 3)")
    p.add_argument("--max-oracle-calls", type=int, help="label budget, all molecules (default 600)")
    p.add_argument(
        "--max-minutes",
        type=float,
        help="wall-time budget of the whole run in minutes, the final refit included (the loop "
        "stops before an iteration that would leave too little for it)",
    )
    p.add_argument(
        "--max-cpu-minutes",
        type=float,
        help="CPU-time budget (all processes) of the whole run in minutes, likewise",
    )
    p.add_argument("--max-iterations", type=int, help="iteration budget (default 40)")
    p.add_argument("--spread", type=float, help="stop below this committee frequency spread, cm^-1")
    p.add_argument("--holdout-mae", type=float, help="stop below this held-out force MAE, meV/Å")
    p.add_argument(
        "--final-fit-steps",
        type=int,
        help="after the loop, refit every member from the starting model on all labels with "
        "this many steps (default 1500; 0: release the last iteration's committee)",
    )
    p.add_argument(
        "--final-fit-lr",
        type=float,
        help="learning rate of the final refit (default 0.1; the loop's short fits use 0.03)",
    )
    p.add_argument(
        "--final-fit-batch-size",
        type=int,
        help="batch size of the final refit (default: the loop's, fit.overrides.batch_size: 16)",
    )
    p.add_argument("--workers", type=int, help="oracle processes (default: one per core)")
    p.add_argument("--seed", type=int, help="random seed (default 0)")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from mace4ir.active_learning.loop import active_learn
    from mace4ir.active_learning.options import load_options

    overrides = {
        "oracle": args.oracle,
        "oracle_options": {"basis": args.basis} if args.basis else None,
        "source": args.source,
        "ef": args.ef,
        "dipole": args.dipole,
        "workers": args.workers,
        "final_fit_steps": args.final_fit_steps,
        "final_fit_lr": args.final_fit_lr,
        "final_fit_batch_size": args.final_fit_batch_size,
        "seed": args.seed,
        "fit": {
            "committee": args.committee,
            "scratch": dict(zip(("ef", "dipole"), args.scratch_models))
            if args.scratch_models
            else None,
        },
        "stop": {
            "max_oracle_calls": args.max_oracle_calls,
            "max_minutes": args.max_minutes,
            "max_cpu_minutes": args.max_cpu_minutes,
            "max_iterations": args.max_iterations,
            "frequency_spread_cm1": args.spread,
            "holdout_force_mae_meV_A": args.holdout_mae,
        },
    }
    opts = load_options(args.molecules, args.out, args.config, overrides)
    print(active_learn(opts))
    return 0
