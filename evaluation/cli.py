"""CLI registration for the evaluation stage: ``mace4ir ir ...`` (IR engine) and, when present,
the benchmark-suite commands of :mod:`mace4ir.evaluation.bench_cli`."""

from __future__ import annotations

import importlib

_PARTS = ("mace4ir.evaluation.ir_cli", "mace4ir.evaluation.bench_cli")


def register(subparsers) -> None:
    for name in _PARTS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(subparsers)
