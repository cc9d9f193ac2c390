"""The evaluation stage's commands: ``mace4ir ir ...``, ``mace4ir models`` and the
benchmark-suite commands."""

from __future__ import annotations

from mace4ir.evaluation import ir_commands, models_command
from mace4ir.evaluation.suites import commands as suite_commands


def register(subparsers) -> None:
    ir_commands.register(subparsers)
    models_command.register(subparsers)
    suite_commands.register(subparsers)
