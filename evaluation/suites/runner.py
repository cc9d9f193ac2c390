"""Run a benchmark suite: every molecule in parallel, each result saved as soon as it is done.

- ``workers == 1`` runs in this process; ``workers > 1`` uses a pool of spawned processes
  (safe with torch/CUDA), each building its calculator once.
- A result file is written by the worker itself (atomically), so a killed run keeps every
  finished molecule; a rerun skips finished ones (``retry_failed`` recomputes failures).
- A molecule that raises is recorded with its error; if a worker process dies (segfault,
  out of memory), the molecules it may have held are retried one at a time, and one that
  kills a worker again is recorded as failed.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from ase import Atoms
from tqdm.auto import tqdm

from mace4ir.evaluation.calculators import from_options as calculator_options
from mace4ir.evaluation.suites.store import ResultStore
from mace4ir.evaluation.suites.structures import resolve_structures
from mace4ir.evaluation.suites.suite_files import Molecule, Suite
from mace4ir.workers import run_resilient

log = logging.getLogger(__name__)


@dataclass
class BenchOptions:
    kind: str = "harmonic"  # harmonic | md | both
    calculator: dict[str, Any] = field(default_factory=lambda: {"type": "xtb"})
    workers: int = 1
    retry_failed: bool = False
    settings: dict[str, dict] = field(default_factory=dict)  # harmonic / md / spectrum blocks


@dataclass
class RunSummary:
    computed: list[str]
    skipped: list[str]
    failed: list[str]

    def __str__(self) -> str:
        return (
            f"{len(self.computed)} computed ({len(self.failed)} failed), "
            f"{len(self.skipped)} already done"
        )


def run_suite(
    suite: Suite,
    molecules: list[Molecule],
    out,
    options: BenchOptions,
    locations: dict | None = None,
    compute: Callable | None = None,
) -> RunSummary:
    """Compute every molecule not finished in ``out``.

    ``compute(atoms, calculator, kind, settings, workdir=...)`` returns the result dict
    (default: :func:`bench_compute.compute_molecule`); tests may pass a stand-in.
    """
    from mace4ir.evaluation.suites.compute import check_settings, compute_molecule

    compute = compute or compute_molecule
    check_settings(options.kind, options.settings)
    store = ResultStore(out)
    store.start_run(run_record(suite, options))
    done = store.statuses()
    todo = [
        m for m in molecules if m.id not in done or (options.retry_failed and done[m.id] != "ok")
    ]
    skipped = [m.id for m in molecules if m.id in done and m not in todo]
    if skipped:
        log.info("%d molecule(s) already done in %s, skipped", len(skipped), store.out)
    tasks = prepare_tasks(todo, locations or {}, options, store)
    pool_size = min(options.workers, len(tasks))
    if tasks and pool_size <= 1:
        calculator_options.cached(
            options.calculator
        )  # a model that cannot load stops here, with its own error
    with tqdm(
        total=len(todo), desc=f"bench {suite.name}", unit="mol", initial=len(todo) - len(tasks)
    ) as bar:
        if pool_size <= 1:
            for task in tasks:
                run_task(task, compute)
                bar.update()
        else:
            _run_pool(tasks, compute, pool_size, bar)
    statuses = store.statuses()
    computed = [m.id for m in todo]
    return RunSummary(
        computed=computed, skipped=skipped, failed=[i for i in computed if statuses.get(i) != "ok"]
    )


def prepare_tasks(
    todo: list[Molecule], locations: dict, options: BenchOptions, store: ResultStore
) -> list[dict]:
    """Build every structure; a molecule whose structure fails is recorded as failed here."""
    structures = resolve_structures(todo, locations) if todo else {}
    tasks = []
    for mol in todo:
        atoms, note = structures[mol.id]
        if atoms is None:
            store.write(failed_record(mol, note, structure_source=None))
        else:
            tasks.append(make_task(mol, atoms, note, options, str(store.out)))
    return tasks


def run_record(suite: Suite, options: BenchOptions) -> dict[str, Any]:
    from mace4ir import __version__

    return {
        "suite": suite.name,
        "suite_path": str(suite.path),
        "kind": options.kind,
        "calculator": options.calculator,
        "settings": options.settings,
        "classes": suite.classes,
        "mace4ir_version": __version__,
    }


def make_task(mol: Molecule, atoms: Atoms, note: str, options: BenchOptions, out: str) -> dict:
    """A picklable description of one molecule's work."""
    info = {k: v for k, v in atoms.info.items() if isinstance(v, (str, int, float, bool))}
    return {
        "molecule": mol.to_dict(),
        "numbers": atoms.numbers.tolist(),
        "positions": atoms.positions.tolist(),
        "info": info,
        "structure_source": note,
        "kind": options.kind,
        "calculator": options.calculator,
        "settings": options.settings,
        "out": out,
    }


def failed_record(mol: Molecule, error: str, structure_source: str | None, **extra) -> dict:
    return {
        "id": mol.id,
        "status": "failed",
        "molecule": mol.to_dict(),
        "structure_source": structure_source,
        "error": error,
        **extra,
    }


# ---------------------------------------------------------------------------- workers


def run_task(task: dict, compute: Callable) -> str:
    """Compute one molecule and write its result file; returns the status."""
    mol = Molecule.from_dict(task["molecule"])
    store = ResultStore(task["out"])
    atoms = Atoms(numbers=task["numbers"], positions=task["positions"])
    atoms.info.update(task["info"])
    start = time.perf_counter()
    try:
        calc = calculator_options.cached(task["calculator"])
        workdir = store.out / "md" / mol.id if task["kind"] in ("md", "both") else None
        result = compute(atoms, calc, task["kind"], task["settings"], workdir=workdir)
        record = {
            "id": mol.id,
            "status": "ok",
            "molecule": mol.to_dict(),
            "structure_source": task["structure_source"],
            **result,
        }
    except Exception as exc:
        log.warning("molecule %s failed: %s: %s", mol.id, type(exc).__name__, exc)
        record = failed_record(
            mol,
            f"{type(exc).__name__}: {exc}",
            task["structure_source"],
            traceback=traceback.format_exc(limit=8),
        )
    record["elapsed_s"] = round(time.perf_counter() - start, 3)
    store.write(record)
    return record["status"]


def _run_pool(tasks: list[dict], compute: Callable, workers: int, bar) -> None:
    def lost_twice(task):
        ResultStore(task["out"]).write(
            failed_record(
                Molecule.from_dict(task["molecule"]),
                "worker process died while computing this molecule (crash or out of memory)",
                task["structure_source"],
            )
        )

    run_resilient(
        tasks,
        partial(run_task, compute=compute),
        workers,
        is_done=lambda t: ResultStore(t["out"]).path(t["molecule"]["id"]).is_file(),
        on_crash=lost_twice,
        on_finished=bar.update,
    )
