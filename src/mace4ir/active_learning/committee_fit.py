"""Fitting the committee of one iteration: every member fine-tuned on all labels so far.

Iteration 0 starts every member from the foundation (EF members on different bootstrap
resamples and seeds, so they disagree where the data are thin); later iterations continue
each member from its own previous weights with a smaller step budget. Members train in
parallel processes with one thread each: for models this small, threads inside one
process burn CPU time without making a step faster. Each member is an ordinary
fine-tuning run (``resume=True``), so a killed iteration continues where it stopped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mace4ir.active_learning.options import FitOptions
from mace4ir.training.models.committee import COMMITTEE_FILE, write_committee
from mace4ir.workers import run_resilient


@dataclass
class Sources:
    """Where each kind's members start: a foundation (same for all), per-member runs, or None
    (fresh models of ``FitOptions.scratch``)."""

    ef: list[str | None]
    dipole: list[str | None]


def member_out(folder: Path, kind: str, index: int) -> Path:
    return folder / f"{kind}_{index:02d}"


def member_run(folder: Path, kind: str, index: int) -> Path:
    """The training run folder inside a member's fine-tuning output."""
    return member_out(folder, kind, index) / kind


def fit_committee(
    folder: Path, data: Path, sources: Sources, fit: FitOptions, first: bool, seed: int
) -> Path:
    """Train the members into ``folder``; returns ``folder`` (with committee.json)."""
    folder = Path(folder)
    if (folder / COMMITTEE_FILE).is_file():
        return folder
    tasks = [
        _task(folder, data, kind, i, src, fit, first, seed)
        for kind, srcs in (("ef", sources.ef), ("dipole", sources.dipole))
        for i, src in enumerate(srcs)
    ]
    workers = max(1, min(len(tasks), os.cpu_count() or 1))
    failed = []
    run_resilient(
        tasks,
        _fit_member,
        workers,
        is_done=lambda t: (Path(t["out"]) / t["kind"] / "final_model.json").is_file(),
        on_crash=failed.append,
    )
    if failed:
        from mace4ir.errors import Mace4irError

        raise Mace4irError(
            f"fine-tuning of {len(failed)} committee member(s) crashed: "
            f"{[t['out'] for t in failed]}"
        )
    members = {
        kind: [member_run(folder, kind, i) for i in range(len(srcs))]
        for kind, srcs in (("ef", sources.ef), ("dipole", sources.dipole))
    }
    write_committee(folder, members)
    return folder


def _task(folder, data, kind, index, source, fit: FitOptions, first: bool, seed: int) -> dict:
    steps = fit.first_max_steps if first else fit.max_steps
    return {
        "source": None if source is None else str(source),  # None: from scratch
        "scratch": fit.scratch,
        "data_elements_only": fit.data_elements_only,
        "data": str(data),
        "out": str(member_out(folder, kind, index)),
        "kind": kind,
        "seed": seed + 1000 * index,
        "bootstrap": kind == "ef" and fit.committee > 1 and fit.bootstrap,
        "config": fit.config,
        "val_fraction": fit.val_fraction,
        # the step budget decides (the data grow every iteration; epochs would vary)
        "overrides": {
            "max_steps": steps,
            "max_epochs": 10**6,
            "progress": False,
            "tensorboard": False,
            **fit.overrides,
        },
    }


def _fit_member(task: dict) -> None:
    """Worker: one member's fine-tuning run (one thread, see the module docstring)."""
    import torch

    from mace4ir.training.finetune.run import FinetuneOptions, finetune

    torch.set_num_threads(1)
    finetune(
        FinetuneOptions(
            source=task["source"],
            data=task["data"],
            out=task["out"],
            kinds=(task["kind"],),
            bootstrap=task["bootstrap"],
            config=task["config"],
            val_fraction=task["val_fraction"],
            seed=task["seed"],
            scratch=task["scratch"],
            data_elements_only=task["data_elements_only"],
            resume=True,
            overrides=task["overrides"],
        )
    )
