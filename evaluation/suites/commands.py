"""``mace4ir bench``, ``mace4ir bench-merge`` and ``mace4ir bench-report``.

Registered by ``mace4ir.evaluation.cli.register`` (call :func:`register` from there).
Parsers are built without heavy imports; torch/mace load inside the handlers.
"""

from __future__ import annotations

import logging
from pathlib import Path

import yaml

from mace4ir.errors import ConfigError
from mace4ir.evaluation.calculators import from_options as calculator_options

log = logging.getLogger("mace4ir.bench")


def register(subparsers) -> None:
    _add_bench(subparsers)
    _add_merge(subparsers)
    _add_report(subparsers)


def _builtin_suites() -> str:
    from mace4ir.evaluation.suites.suite_files import available_suites

    return ", ".join(available_suites()) or "none"


def _add_bench(subparsers) -> None:
    p = subparsers.add_parser(
        "bench",
        help="run a benchmark suite (harmonic/MD IR) and write tables, plots and report.md",
        description="Compute IR spectra for every molecule of a suite with a model or GFN2-xTB, "
        "compare "
        "them with the suite's references (NIST experiment, DFT modes) or a previous bench "
        "run (--reference), and write per-molecule/per-class tables, overlay plots and "
        "report.md. Each molecule's result is saved as soon as it is done; rerunning the same "
        "command skips finished molecules. See docs/benchmarks.md.",
    )
    p.add_argument(
        "suite",
        metavar="SUITE",
        help=f"built-in suite name ({_builtin_suites()}) or a suite YAML file",
    )
    calculator_options.add_arguments(
        p.add_argument_group(
            "what to evaluate (exactly one of --model, --ef/--dipole, --calculator xtb)"
        )
    )
    p.add_argument(
        "--kind",
        choices=["harmonic", "md", "both"],
        help="spectra to compute (default: the suite's kind)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="parallel worker processes; 1 (default) runs in this process, N > 1 spawns N "
        "processes "
        "with cpu_count/N threads each",
    )
    p.add_argument(
        "--out", type=Path, help="output folder (default: bench-SUITE-LABEL in the current folder)"
    )
    p.add_argument("--molecules", help="comma-separated molecule ids to run (default: all)")
    p.add_argument("--limit", type=int, help="run only the first N selected molecules")
    p.add_argument(
        "--chunk",
        metavar="I/N",
        help="run chunk I of N (1-based, round robin), e.g. for Slurm arrays",
    )
    p.add_argument(
        "--reference",
        type=Path,
        metavar="DIR",
        help="a previous bench output (e.g. --calculator xtb) to compare against, molecule by "
        "molecule",
    )
    p.add_argument(
        "--dataset",
        action="append",
        metavar="NAME=PATH",
        help="local dataset copy: tmqm=PATH (tmQM_X*.xyz[.gz]) or geckoq=PATH (CSV + xyz); "
        "also MACE4IR_TMQM / MACE4IR_GECKOQ",
    )
    p.add_argument(
        "--set",
        action="append",
        metavar="BLOCK.KEY=VALUE",
        dest="overrides",
        help="override a suite option, e.g. md.production_ps=5 or spectrum.fwhm_cm1=10 "
        "(YAML value)",
    )
    p.add_argument(
        "--retry-failed", action="store_true", help="recompute molecules recorded as failed"
    )
    p.add_argument(
        "--no-report",
        action="store_true",
        help="only compute (e.g. Slurm chunks; bench-merge reports)",
    )
    p.add_argument(
        "--no-plots", action="store_true", help="write tables and report.md without figures"
    )
    p.add_argument(
        "--strict", action="store_true", help="exit with status 1 if any molecule failed"
    )
    p.set_defaults(func=run_bench)


def _add_merge(subparsers) -> None:
    p = subparsers.add_parser(
        "bench-merge",
        help="merge the outputs of bench chunks (e.g. a Slurm array) and write the report",
        description="Copy the per-molecule results of several bench output folders (same suite, "
        "model and "
        "settings) into one folder and write its tables, plots and report.md. An ok result "
        "wins over a failed one for the same molecule.",
    )
    p.add_argument(
        "dirs", nargs="+", type=Path, metavar="DIR", help="bench output folders (chunks)"
    )
    p.add_argument("--out", type=Path, required=True, help="merged output folder")
    p.add_argument(
        "--reference", type=Path, metavar="DIR", help="a bench output to compare against"
    )
    p.add_argument("--no-plots", action="store_true", help="skip figures")
    p.set_defaults(func=run_merge)


def _add_report(subparsers) -> None:
    p = subparsers.add_parser(
        "bench-report",
        help="rewrite the tables, plots and report.md of a bench output folder",
        description="Recompute comparisons from saved results (no spectra are recomputed), e.g. "
        "against "
        "another --reference run.",
    )
    p.add_argument("dir", type=Path, metavar="DIR", help="bench output folder")
    p.add_argument(
        "--reference", type=Path, metavar="DIR", help="a bench output to compare against"
    )
    p.add_argument("--no-plots", action="store_true", help="skip figures")
    p.set_defaults(func=run_report)


# ---------------------------------------------------------------------------- handlers


def run_bench(args) -> int:
    from mace4ir.evaluation.suites.report import write_report
    from mace4ir.evaluation.suites.runner import BenchOptions, run_suite
    from mace4ir.evaluation.suites.structures import dataset_locations, parse_dataset_options
    from mace4ir.evaluation.suites.suite_files import load_suite

    suite = load_suite(args.suite)
    molecules = suite.select(_ids(args.molecules), args.limit, parse_chunk(args.chunk))
    calculator = calculator_options.spec_from_args(args)
    label = calculator_options.label(calculator)
    settings = apply_overrides(suite.settings, args.overrides)
    options = BenchOptions(
        kind=args.kind or suite.kind,
        calculator=calculator,
        workers=max(1, args.workers),
        retry_failed=args.retry_failed,
        settings=settings,
    )
    out = args.out or Path(f"bench-{suite.name}-{label}")
    if args.reference is not None and not (args.reference / "run.json").is_file():
        raise ConfigError(f"--reference {args.reference}: not a bench output folder (no run.json)")
    locations = dataset_locations(suite, parse_dataset_options(args.dataset))
    log.info(
        "suite %s: %d molecule(s), kind %s, %s -> %s",
        suite.name,
        len(molecules),
        options.kind,
        label,
        out,
    )
    summary = run_suite(suite, molecules, out, options, locations)
    log.info("%s", summary)
    if not args.no_report:
        log.info("report: %s", write_report(out, args.reference, plots=not args.no_plots))
    return 1 if args.strict and summary.failed else 0


def run_merge(args) -> int:
    from mace4ir.evaluation.suites.report import merge_outputs, write_report

    for d in args.dirs:
        if not d.is_dir():
            raise ConfigError(f"bench-merge: {d} is not a folder")
    counts = merge_outputs(args.dirs, args.out)
    log.info(
        "merged %d result(s) into %s (%d duplicate(s) kept)",
        counts["copied"],
        args.out,
        counts["kept"],
    )
    log.info("report: %s", write_report(args.out, args.reference, plots=not args.no_plots))
    return 0


def run_report(args) -> int:
    from mace4ir.evaluation.suites.report import write_report

    if not (args.dir / "run.json").is_file():
        raise ConfigError(f"{args.dir}: not a bench output folder (no run.json)")
    log.info("report: %s", write_report(args.dir, args.reference, plots=not args.no_plots))
    return 0


# ---------------------------------------------------------------------------- helpers


def _ids(text: str | None) -> list[str] | None:
    return [s.strip() for s in text.split(",") if s.strip()] if text else None


def parse_chunk(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise ConfigError(f"--chunk {text!r}: expected I/N, e.g. 3/10") from None
    if not 1 <= i <= n:
        raise ConfigError(f"--chunk {text!r}: need 1 <= I <= N")
    return i, n


def apply_overrides(settings: dict[str, dict], overrides: list[str] | None) -> dict[str, dict]:
    """``["md.production_ps=5"]`` applied to a copy of the suite's option blocks."""
    out = {k: dict(v) for k, v in settings.items()}
    for item in overrides or []:
        key, sep, value = item.partition("=")
        block, dot, name = key.partition(".")
        if not sep or not dot or block not in ("harmonic", "md", "spectrum") or not name:
            raise ConfigError(
                f"--set {item!r}: expected BLOCK.KEY=VALUE with BLOCK harmonic, md or spectrum"
            )
        out.setdefault(block, {})[name] = yaml.safe_load(value)
    return out
