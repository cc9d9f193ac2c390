"""The ``mace4ir`` command: one entry point, one subcommand family per stage.

Each stage module ``mace4ir.<stage>.cli`` (and ``mace4ir.demo.cli``) exposes
``register(subparsers)``; it must
add its parsers cheaply (heavy imports such as torch happen inside the handlers)
and set ``func`` on each parser to a callable taking the parsed arguments.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from mace4ir import __version__
from mace4ir.errors import Mace4irError

STAGE_CLIS = (
    "mace4ir.data_prep.cli",
    "mace4ir.training.cli",
    "mace4ir.evaluation.cli",
    "mace4ir.release.cli",
    "mace4ir.active_learning.cli",
    "mace4ir.demo.cli",
)

log = logging.getLogger("mace4ir")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mace4ir",
        description=(
            "Train MACE foundation models for molecular IR spectroscopy on QCML and "
            "turn them into IR spectra. Run 'mace4ir demo' for the whole pipeline on "
            "the built-in sample, or 'mace4ir COMMAND --help' for one step."
        ),
    )
    parser.add_argument("--version", action="version", version=f"mace4ir {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in STAGE_CLIS:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    try:
        return int(args.func(args) or 0)
    except Mace4irError as exc:
        # User-facing errors: one clear line, no traceback.
        log.error("%s", exc)
        return 2
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
