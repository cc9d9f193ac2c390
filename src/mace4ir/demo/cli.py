"""CLI: ``mace4ir demo``, the main job (heavy imports inside the handler)."""

from __future__ import annotations

from pathlib import Path


def _demo(args) -> int:
    from mace4ir.demo.run import run_demo

    run_demo(out=args.out, quick=args.quick, config=args.config, steps=args.steps, force=args.force)
    return 0


def register(sub) -> None:
    demo = sub.add_parser(
        "demo",
        help="run the whole pipeline on the built-in sample (~15 min on 2 CPU cores)",
        description="Generate the QCML-format GFN2-xTB sample, prepare it, train tiny EF and D "
        "models, compute test-set errors, harmonic and MD IR spectra of molecules not in the "
        "training set (model vs GFN2-xTB), write report.md/report.html, export a release and "
        "push it as a dry run. Finished steps are reused when rerun.",
    )
    demo.add_argument(
        "--out", type=Path, default=Path("demo_run"), help="output folder (default: demo_run)"
    )
    demo.add_argument(
        "--quick",
        action="store_true",
        help="a ~2 minute version (tiny sample, one molecule, short MD)",
    )
    demo.add_argument("--config", help="demo config YAML (default: built-in configs/demo.yaml)")
    demo.add_argument(
        "--steps",
        help="comma-separated subset of steps to run (their dependencies must be done): "
        "sample, prep, train_ef, train_dipole, errors, harmonic, md, export, push, report",
    )
    demo.add_argument("--force", action="store_true", help="redo the selected steps even if done")
    demo.set_defaults(func=_demo)
