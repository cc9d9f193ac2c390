"""CLI: ``mace4ir release export|import|push`` (heavy imports inside handlers)."""

from __future__ import annotations

from pathlib import Path


def _export(args) -> int:
    from mace4ir.release.export import ExportOptions, export_release

    out = export_release(
        ExportOptions(
            ef=args.ef,
            dipole=args.dipole,
            out=args.out,
            data=args.data,
            bench=args.bench,
            torchscript=args.torchscript,
            allow_missing_metrics=args.allow_missing_metrics,
            overwrite=args.overwrite,
            license=args.license,
            model_name=args.name,
            repo_id=args.repo_id,
            dataset_ids=args.dataset_id,
        )
    )
    print(out)
    return 0


def _import(args) -> int:
    from mace4ir.release.pickle_import import ImportOptions, import_release

    out = import_release(
        ImportOptions(
            source=args.source,
            out=args.out,
            trust_pickle=args.trust_pickle,
            ef=args.ef_file,
            dipole=args.dipole_file,
            revision=args.revision,
            overwrite=args.overwrite,
            license=args.license,
            model_name=args.name,
            repo_id=args.repo_id,
        )
    )
    print(out)
    return 0


def _push(args) -> int:
    from mace4ir.release.push import PushOptions, push_release

    result = push_release(
        PushOptions(
            folder=args.folder,
            repo_id=args.repo_id,
            revision=args.revision,
            tag=args.tag,
            private=args.private,
            dry_run=args.dry_run,
            allow_missing_metrics=args.allow_missing_metrics,
            retries=args.retries,
        )
    )
    if not result["dry_run"]:
        print(result["url"])
    return 0


def _add_export(sub) -> None:
    p = sub.add_parser(
        "export",
        help="write a release folder (safetensors + JSON, model card, SHA256SUMS)",
        description="Export a trained MACE-EF + MACE-D pair as a release folder: weights as "
        "safetensors with JSON specs (architecture, element table, E0s in eV, precision), "
        "mace4ir_release.json, a Hugging Face model card README.md with the test-set errors, "
        "and SHA256SUMS. Refuses models without RUN/test_errors.json.",
    )
    p.add_argument(
        "--ef", type=Path, required=True, help="training RUN dir (or model stem) of the EF model"
    )
    p.add_argument(
        "--dipole", type=Path, required=True, help="training RUN dir (or model stem) of the D model"
    )
    p.add_argument("--out", type=Path, required=True, help="release folder to create")
    p.add_argument(
        "--data",
        type=Path,
        help="prepared data dir (manifest.json) for the model card "
        "(default: the data path in the runs' config.yaml)",
    )
    p.add_argument(
        "--bench",
        type=Path,
        action="append",
        help="benchmark results for the model card: a 'mace4ir "
        "bench' output folder (tables/classes.csv), or a JSON file; repeat for several suites",
    )
    p.add_argument(
        "--torchscript",
        action="store_true",
        help="also export TorchScript (*.torchscript.pt) where possible",
    )
    p.add_argument(
        "--allow-missing-metrics", action="store_true", help="export models without test-set errors"
    )
    p.add_argument(
        "--overwrite", action="store_true", help="replace an existing non-empty --out folder"
    )
    p.add_argument("--license", default="mit", help="license id for the model card (default: mit)")
    p.add_argument("--name", default="mace4ir", help="model name in the card (default: mace4ir)")
    p.add_argument("--repo-id", help="Hub repo id ORG/NAME used in the card's loading example")
    p.add_argument(
        "--dataset-id",
        action="append",
        help="Hub dataset id of the training data for the card's "
        "'datasets' metadata (repeatable; default: none)",
    )
    p.set_defaults(func=_export)


def _add_import(sub) -> None:
    p = sub.add_parser(
        "import",
        help="convert trusted mace-torch .model pickles into a safe release folder",
        description="Convert an EF + D pair of mace-torch .model pickles (a folder or Hub repo "
        "such as the MACE4IR paper's, any mace-torch version) into a release folder: "
        "safetensors + JSON specs, mace4ir_release.json, a model card naming the source files "
        "and their SHA-256, SHA256SUMS. Each model is rebuilt from its spec and must give the "
        "pickle's energies, forces and dipoles, or nothing is written. Later loads need no "
        "unpickling.",
    )
    p.add_argument("source", metavar="REPO_OR_FOLDER", help="folder or Hub id ORG/NAME")
    p.add_argument("--out", type=Path, required=True, help="release folder to create")
    p.add_argument(
        "--trust-pickle",
        action="store_true",
        help="required: unpickling runs code from the files (only sources you trust)",
    )
    p.add_argument(
        "--ef-file",
        metavar="NAME",
        help="EF model file where the source holds several ('mace4ir models' lists them; "
        "default: the smallest float32 EF)",
    )
    p.add_argument(
        "--dipole-file", metavar="NAME", help="dipole model file (default: the only one)"
    )
    p.add_argument("--revision", help="Hub branch, tag or commit of the source")
    p.add_argument(
        "--overwrite", action="store_true", help="replace an existing non-empty --out folder"
    )
    p.add_argument(
        "--license", help="license id for the card (default: the source card's, else 'other')"
    )
    p.add_argument("--name", help="model name in the card (default: the source's name)")
    p.add_argument("--repo-id", help="Hub repo id ORG/NAME used in the card's loading example")
    p.set_defaults(func=_import)


def _add_push(sub) -> None:
    p = sub.add_parser(
        "push",
        help="upload a release folder to the Hugging Face Hub in one commit",
        description="Upload every file of a release folder to a Hub model repo in ONE commit "
        "(never half-uploaded). Token: HF_TOKEN or 'hf auth login'. Transient errors (5xx, "
        "connection) are retried with exponential back-off; 401/403 are reported, not retried.",
    )
    p.add_argument("folder", type=Path, help="release folder written by 'mace4ir release export'")
    p.add_argument(
        "--repo-id", required=True, help="ORG/NAME of the model repo (created if missing)"
    )
    p.add_argument(
        "--revision", help="branch to commit to (created from main if missing; default: main)"
    )
    p.add_argument("--tag", help="tag to create on the new commit, e.g. v1.0")
    p.add_argument("--private", action="store_true", help="create the repo as private")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the files and sizes that would be uploaded; no network",
    )
    p.add_argument(
        "--allow-missing-metrics",
        action="store_true",
        help="push a release without test-set errors",
    )
    p.add_argument(
        "--retries",
        type=int,
        default=5,
        help="retries per Hub call on transient errors (default: 5)",
    )
    p.set_defaults(func=_push)


def register(sub) -> None:
    release = sub.add_parser(
        "release",
        help="export (or import) a model pair and push it to the Hugging Face Hub",
        description="Release a trained MACE-EF + MACE-D pair: export, then push; or import "
        "mace-torch pickles (e.g. the MACE4IR paper's) into the same safe format. "
        "Load a release with mace4ir.load(REPO_ID_OR_FOLDER).",
    )
    rsub = release.add_subparsers(dest="release_command", metavar="STEP", required=True)
    _add_export(rsub)
    _add_import(rsub)
    _add_push(rsub)
