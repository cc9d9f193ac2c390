"""The active-learning loop (PALIRS): label, fit, explore, select, repeat until it converges.

Reading guide: :func:`active_learn` prepares each molecule's oracle reference and held-out
frames, then runs :func:`_iteration` until a stop rule fires, then :func:`_finish` writes
the outputs (after a final refit of the committee on all labels, ``final_fit_steps``).
Each iteration's phases keep their results in ``DIR/iterations/iter_NNN/`` (selected
frames, the committee, the assessment), and labels live in ``DIR/labels/`` (one file per
frame), so a run killed at any moment continues where it stopped and no oracle result is
computed twice or lost. A rerun picks up after the last finished iteration; a finished run
whose stop rules were relaxed continues.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import time
from pathlib import Path

import numpy as np

from mace4ir.active_learning import budget, exploration
from mace4ir.active_learning.committee_fit import Sources, fit_committee, member_run
from mace4ir.active_learning.history import read_assessments, write_history
from mace4ir.active_learning.labels import LabelStore
from mace4ir.active_learning.options import ALOptions, with_new_defaults
from mace4ir.active_learning.reference import reference
from mace4ir.active_learning.sampling import choose_frames, normal_mode_frames, normal_mode_samples
from mace4ir.atomic_write import write_json_atomic
from mace4ir.errors import Mace4irError
from mace4ir.molecules import load_molecule

log = logging.getLogger(__name__)


# options that do not change what the iterations did, so a rerun may change them (``out``:
# a run folder copied or moved elsewhere continues there)
RERUN_MAY_CHANGE = (
    "out",
    "stop",
    "final_fit_steps",
    "final_fit_lr",
    "final_fit_bootstrap",
    "final_fit_batch_size",
    "workers",
)


class Run:
    """Paths, molecules and bookkeeping of one active-learning folder."""

    def __init__(self, opts: ALOptions):
        self.opts, self.out = opts, Path(opts.out)
        self.molecules = [load_molecule(m) for m in opts.molecules]
        self.names = [_name(a, i) for i, a in enumerate(self.molecules)]
        self.labels = LabelStore(self.out, opts.oracle)
        self.started, self.cpu_mark = time.monotonic(), _cpu_seconds()
        self.state = self._claim()

    def _claim(self) -> dict:
        """Record the inputs; a rerun must use the same ones (then it resumes)."""
        self.out.mkdir(parents=True, exist_ok=True)
        record, state = self.out / "run.json", self.out / "state.json"
        wanted = json.loads(json.dumps(self.opts.record()))  # as it reads back (tuples: lists)
        if record.is_file():
            saved = json.loads(record.read_text())
            saved = with_new_defaults(saved)
            changed = sorted(
                k for k in wanted if k not in RERUN_MAY_CHANGE and saved.get(k) != wanted[k]
            )
            if changed:
                raise Mace4irError(
                    f"{self.out}: holds an active-learning run with other inputs "
                    f"({', '.join(changed)}); use another --out"
                )
        else:
            write_json_atomic(record, wanted)
        fresh = {"elapsed_s": 0.0, "cpu_s": 0.0, "done": False}
        return json.loads(state.read_text()) if state.is_file() else fresh

    def iteration_dir(self, k: int) -> Path:
        return self.out / "iterations" / f"iter_{k:03d}"

    def elapsed_s(self) -> float:
        return self.state["elapsed_s"] + time.monotonic() - self.started

    def cpu_s(self) -> float:
        return self.state["cpu_s"] + _cpu_seconds() - self.cpu_mark

    def save_state(self, **changes) -> None:
        self.state.update(changes, elapsed_s=self.elapsed_s(), cpu_s=self.cpu_s())
        self.started, self.cpu_mark = time.monotonic(), _cpu_seconds()
        write_json_atomic(self.out / "state.json", self.state)

    @property
    def workers(self) -> int:
        return self.opts.workers or os.cpu_count() or 1


def _name(atoms, i: int) -> str:
    return f"{i:02d}_{atoms.info.get('name') or atoms.get_chemical_formula()}"


# ---- the loop --------------------------------------------------------------------------------
def active_learn(opts: ALOptions) -> Path:
    """Run (or resume) active learning; returns the output folder."""
    run = Run(opts)
    refs = [
        reference(opts.oracle, a, run.out / "reference", n)[0]
        for a, n in zip(run.molecules, run.names)
    ]
    holdout = _holdout(run, refs)
    k = _next_iteration(run)
    while not run.state["done"]:
        _iteration(run, k, refs, holdout)
        reason = _stop_reason(run, k)
        run.save_state(iteration=k, done=bool(reason), stop_reason=reason)
        if reason:
            log.info("active learning stops after iteration %d: %s", k, reason)
        k += 1
    return _finish(run, refs, holdout)


def _next_iteration(run: Run) -> int:
    """Where a rerun picks up: after the last finished iteration. A finished run whose stop
    rules no longer hold (raised budgets) continues; one whose rules still hold only
    (re)writes its outputs."""
    if "iteration" not in run.state:
        return 0
    last = int(run.state["iteration"])
    if run.state["done"] and _stop_reason(run, last) is None:
        log.info("the stop rules allow more iterations: continuing after iteration %d", last)
        run.save_state(done=False, stop_reason=None, final_fit=None)
    return last + 1


def _holdout(run: Run, refs) -> list[str]:
    """Held-out oracle frames (never trained on): thermal normal-mode samples at 300 K."""
    frames = []
    for m, ref in enumerate(refs):
        for pos in normal_mode_samples(
            ref, run.opts.holdout_per_molecule, 300.0, run.opts.seed + 7919 + m
        ):
            frames.append((ref.atoms.numbers, pos))
    return run.labels.label_frames(frames, run.workers)


def _iteration(run: Run, k: int, refs, holdout: list[str]) -> None:
    folder = run.iteration_dir(k)
    whole = not folder.exists()  # a resumed iteration's cost would read too low
    folder.mkdir(parents=True, exist_ok=True)
    with budget.measured(run, k, "iteration", whole):
        selected = _selection(run, k, refs, folder)
        run.labels.label_frames(selected, run.workers)
        data = _training_data(run, k, holdout)
        fit = run.opts.fit
        steps = fit.first_max_steps if k == 0 else fit.max_steps
        fresh = not (folder / "committee").exists()
        with budget.measured(run, k, "fit", fresh, steps=steps):
            committee = fit_committee(
                folder / "committee", data, _sources(run, k), fit, k == 0, run.opts.seed + 17 * k
            )
        if not (folder / "assessment.json").is_file():
            from mace4ir.active_learning.assessment import assess

            write_json_atomic(folder / "assessment.json", assess(run, k, committee, refs, holdout))
    write_history(run.out, read_assessments(run.out))


def _selection(run: Run, k: int, refs, folder: Path) -> list[tuple]:
    """The frames iteration ``k`` labels (kept in selected.npz: a rerun labels the same ones)."""
    path = folder / "selected.npz"
    if path.is_file():
        return _load_selection(path)
    frames = _initial_frames(run, refs) if k == 0 else _explored_frames(run, k, refs)
    frames = frames[: _label_budget(run)]
    arrays = {f"numbers_{i}": n for i, (n, _) in enumerate(frames)}
    arrays.update({f"positions_{i}": p for i, (_, p) in enumerate(frames)})
    tmp = folder / f".selected.{os.getpid()}.tmp.npz"
    np.savez(tmp, n=len(frames), **arrays)
    os.replace(tmp, path)
    return frames


def _load_selection(path: Path) -> list[tuple]:
    with np.load(path, allow_pickle=False) as z:
        return [(z[f"numbers_{i}"], z[f"positions_{i}"]) for i in range(int(z["n"]))]


def _label_budget(run: Run) -> int:
    cap = run.opts.stop.max_oracle_calls
    return 10**9 if cap is None else max(0, cap - run.labels.calls())


def _initial_frames(run: Run, refs) -> list[tuple]:
    opts, frames = run.opts, []
    for m, ref in enumerate(refs):
        n = opts.initial_per_mode * len(ref.frequencies_cm1)
        if opts.initial_sampling == "oracle_md":
            from mace4ir.active_learning.oracle_md import oracle_md_frames

            folder = run.iteration_dir(0) / "oracle_md" / run.names[m]
            every = opts.oracle_md_every_steps
            samples = oracle_md_frames(
                opts.oracle, ref, n, opts.explore, every, folder, opts.seed + m
            )
        else:
            temps = opts.initial_temperatures
            seeds = [opts.seed + m + 100_003 * i for i in range(len(temps))]
            samples = normal_mode_frames(ref, n, temps, seeds)
        frames += [(ref.atoms.numbers, pos) for pos in samples]
    return frames


def _explored_frames(run: Run, k: int, refs) -> list[tuple]:
    """Committee MD from where the last exploration ended; the most uncertain frames."""
    from mace4ir.evaluation.calculators.committee import CommitteeCalculator

    committee = CommitteeCalculator.from_folder(run.iteration_dir(k - 1) / "committee")
    starts = [ref.atoms for ref in refs]
    previous = _load_final_positions(run.iteration_dir(k - 1))
    result = exploration.explore(committee, starts, run.opts.explore, run.opts.seed + k, previous)
    _save_final_positions(run.iteration_dir(k), result)
    layout = exploration.replica_layout(starts, run.opts.explore)
    frames = []
    for m, ref in enumerate(refs):
        for t, temp in enumerate(run.opts.explore.temperatures_K):
            pool = [c for c in result.candidates if layout[c.trajectory] == (m, temp)]
            chosen = choose_frames(
                run.opts.selection,
                pool,
                run.opts.frames_per_temperature,
                run.opts.min_separation_steps,
                seed=run.opts.seed + 10_007 * k + 101 * m + t,  # own draws per pool
            )
            frames += [(ref.atoms.numbers, c.positions) for c in chosen]
    return frames


def _save_final_positions(folder: Path, result: exploration.Exploration) -> None:
    """Next iteration's starts: where each replica ended (a stopped one at its start)."""
    np.savez(folder / "exploration.npz", *result.final_positions, stopped=np.array(result.stopped))


def _load_final_positions(folder: Path):
    path = folder / "exploration.npz"
    if not path.is_file():
        return None
    with np.load(path) as z:
        return [z[f"arr_{i}"] for i in range(len(z.files) - 1)]


def _training_data(run: Run, k: int, holdout: list[str]) -> Path:
    """All labelled frames of iterations 0..k (held-out frames excluded), as extxyz."""
    from mace4ir.active_learning.labels import frame_id
    from mace4ir.data_prep.labelled_frames import write_labelled_frames

    path = run.iteration_dir(k) / "train.extxyz"
    if not path.is_file():
        ids = []
        for j in range(k + 1):
            ids += [
                frame_id(n, p) for n, p in _load_selection(run.iteration_dir(j) / "selected.npz")
            ]
        held = set(holdout)
        records = run.labels.records(dict.fromkeys(i for i in ids if i not in held))
        if not records:
            raise Mace4irError(
                f"{run.out}: no labelled training frames (every oracle call failed?)"
            )
        write_labelled_frames(path, records)
    return path


def _sources(run: Run, k: int) -> Sources:
    fit = run.opts.fit
    if k > 0:
        prev = run.iteration_dir(k - 1) / "committee"
        return Sources(
            ef=[str(member_run(prev, "ef", i)) for i in range(fit.committee)],
            dipole=[str(member_run(prev, "dipole", i)) for i in range(fit.dipole_members)],
        )
    ef = run.opts.ef or run.opts.source
    dipole = run.opts.dipole or run.opts.source
    if bool(ef) != bool(dipole):
        raise Mace4irError(
            "give --ef and --dipole together (or --from RELEASE, or neither: from scratch)"
        )
    if not ef:
        log.info("no starting model: fresh %s and %s models (fit.scratch)", *fit.scratch.values())
    return Sources(ef=[ef] * fit.committee, dipole=[dipole] * fit.dipole_members)


def _stop_reason(run: Run, k: int) -> str | None:
    rules, rows = run.opts.stop, json.loads((run.iteration_dir(k) / "assessment.json").read_text())
    spread = max(r["frequency_spread_cm1"] for r in rows)
    holdout = max(r["holdout_force_mae_meV_A"] for r in rows)
    if rules.frequency_spread_cm1 is not None and spread < rules.frequency_spread_cm1:
        return f"committee frequency spread {spread:.2f} < {rules.frequency_spread_cm1} cm^-1"
    if rules.holdout_force_mae_meV_A is not None and holdout < rules.holdout_force_mae_meV_A:
        return f"held-out force MAE {holdout:.1f} < {rules.holdout_force_mae_meV_A} meV/Å"
    if k + 1 >= rules.max_iterations:
        return f"{rules.max_iterations} iterations"
    if rules.max_oracle_calls is not None and run.labels.calls() >= rules.max_oracle_calls:
        return f"oracle budget spent ({run.labels.calls()} calls)"
    return budget.loop_budget_reason(run, run.opts.final_fit_steps or 0, _refit_ratio(run.opts))


def _refit_steps(run: Run) -> int:
    """The final refit's steps: ``final_fit_steps``, or fewer where a time budget has less left
    (decided once, kept in state.json, so a rerun refits the same way)."""
    o, plan = run.opts, run.state.get("final_fit")
    if plan and plan["requested"] == o.final_fit_steps:
        return int(plan["steps"])
    ratio = _refit_ratio(o)
    steps = budget.affordable_refit_steps(run, o.final_fit_steps, ratio)
    predicted = {kind: budget.refit_cost(run, kind, steps, ratio) for _, kind in budget.BUDGETS}
    log.info(
        "final refit: %d steps, predicted %s",
        steps,
        ", ".join(f"{v / 60:.1f} {kind} min" for kind, v in predicted.items()),
    )
    run.save_state(
        final_fit={"requested": o.final_fit_steps, "steps": steps, "predicted": predicted}
    )
    return steps


def _refit_ratio(opts: ALOptions) -> float:
    """The refit's batch over the loop's (budget.batch_ratio)."""
    from mace4ir.training.train_config import resolve

    loop_batch = resolve(opts.fit.config, opts.fit.overrides)["batch_size"]
    return budget.batch_ratio(opts.final_fit_batch_size, loop_batch)


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (oracle and training workers)."""
    own, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _finish(run: Run, refs, holdout: list[str]) -> Path:
    """The final committee (refitted, or the last iteration's) and the outputs."""
    from mace4ir.active_learning.outputs import write_outputs

    last = int(run.state["iteration"])
    committee, data = (run.iteration_dir(last) / name for name in ("committee", "train.extxyz"))
    if run.opts.final_fit_steps:
        from mace4ir.active_learning.final_fit import final_fit

        steps = _refit_steps(run)
        committee = final_fit(run, last, data, _sources(run, 0), refs, holdout, steps)
        run.save_state()
    write_history(run.out, read_assessments(run.out))
    write_outputs(run, committee, data)
    run.save_state()  # the outputs' time counts too
    return run.out
