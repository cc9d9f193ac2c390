"""Time budgets for the whole run, the final refit included (``stop.max_minutes`` of wall
time, ``stop.max_cpu_minutes`` of CPU time).

The loop measures what each iteration and each committee fit costs (``state.json``,
``costs``) and stops before an iteration that, with the refit after it, would overrun a
budget. The refit's cost is predicted from the loop's own fits: cost = start-up + per-step
x steps, fitted to the fits' measured costs (iteration 0 fine-tunes ``fit.first_max_steps``
steps from the foundation, later ones ``fit.max_steps``). A larger refit batch costs more
per step: r = refit batch / loop batch. Once the start-up is separated, a step costs r
times a loop step (an upper bound: four members sharing two cores paid 1.6-1.8x for r = 2,
one member on an idle core 1.15x); with one step count measured, the per-step cost still
holds the start-up, and sqrt(r) keeps the estimate from doubling it. Measured (closed-loop
benchmark, CPU): fluoroethene's refit (two fits measured) 9.8 min against 11.6 predicted
(with sqrt(r) for it too, an earlier run: 10.7 against 8.6, over budget); dimethyl ether's
and selenide's (one fit) 14.8 and 15.5 against 15.7 and 15.4. Whatever budget the loop
leaves, the refit's steps shrink to fit it (never below ``MIN_REFIT_FRACTION`` of
``final_fit_steps``). Only phases that ran whole in one process are measured: a resumed
phase's cost would read too low.
"""

from __future__ import annotations

import logging
import math
from contextlib import contextmanager

import numpy as np

log = logging.getLogger(__name__)

BUDGETS = (("max_minutes", "wall"), ("max_cpu_minutes", "CPU"))
MIN_REFIT_FRACTION = 0.1


def _clock(run, kind: str) -> float:
    return run.elapsed_s() if kind == "wall" else run.cpu_s()


@contextmanager
def measured(run, k: int, phase: str, whole: bool, **extra):
    """Record the wall and CPU seconds of ``phase`` of iteration ``k`` in ``run.state``
    (saved with the iteration's end) when it runs ``whole``, not resumed half-way."""
    start = {kind: _clock(run, kind) for _, kind in BUDGETS}
    yield
    if whole:
        cost = {kind: _clock(run, kind) - start[kind] for _, kind in BUDGETS}
        run.state.setdefault("costs", {}).setdefault(str(k), {})[phase] = {**cost, **extra}


def _phases(run, phase: str) -> list[dict]:
    costs = run.state.get("costs", {})
    return [costs[k][phase] for k in sorted(costs, key=int) if phase in costs[k]]


def next_iteration_cost(run, kind: str) -> float:
    """Seconds the next iteration should take: the last measured one's (iteration 0's, with
    its larger first fit and initial labels, until a later one is measured)."""
    rows = _phases(run, "iteration")
    return rows[-1][kind] if rows else 0.0


def refit_cost_model(run, kind: str) -> tuple[float, float]:
    """(start-up seconds, seconds per step) of a committee fit at the loop's batch size,
    fitted to the loop's measured fits; (0, 0) before any was measured."""
    rows = _phases(run, "fit")
    steps = np.array([r["steps"] for r in rows], float)
    cost = np.array([r[kind] for r in rows], float)
    if len(set(steps)) < 2:  # one step count: no start-up term (the safe side)
        return 0.0, float((cost / steps).max()) if len(rows) else 0.0
    slope, start = np.polyfit(steps, cost, 1)
    if slope <= 0 or start < 0:  # noisy measurements: all cost per step
        return 0.0, float((cost / steps).max())
    return float(start), float(slope)


def batch_ratio(refit_batch: int | None, loop_batch: int) -> float:
    """Refit batch over loop batch (1 when the refit keeps the loop's)."""
    return refit_batch / loop_batch if refit_batch else 1.0


def step_factor(start: float, ratio: float) -> float:
    """Cost of a refit step over a loop step: ``ratio`` once the start-up is separated
    (``start`` > 0), sqrt(ratio) while the per-step cost still holds it."""
    return ratio if start > 0 else math.sqrt(ratio)


def refit_cost(run, kind: str, steps: int, ratio: float) -> float:
    start, per_step = refit_cost_model(run, kind)
    return start + per_step * step_factor(start, ratio) * steps


def loop_budget_reason(run, refit_steps: int, ratio: float) -> str | None:
    """Why the loop must stop now to keep every budget (with the refit of ``refit_steps`` at
    :func:`batch_ratio` ``ratio``), or None."""
    for attr, kind in BUDGETS:
        limit = getattr(run.opts.stop, attr)
        if limit is None:
            continue
        spent, ahead = _clock(run, kind), next_iteration_cost(run, kind)
        refit = refit_cost(run, kind, refit_steps, ratio) if refit_steps else 0.0
        if spent + ahead + refit >= 60 * limit:
            return (
                f"{kind} budget: {spent / 60:.1f} of {limit:g} min spent, another iteration "
                f"(~{ahead / 60:.1f}) and the final refit (~{refit / 60:.1f}) would not fit"
            )
    return None


def affordable_refit_steps(run, steps: int, ratio: float) -> int:
    """The refit's steps: ``steps``, or fewer where a budget has less left than they cost."""
    chosen = steps
    for attr, kind in BUDGETS:
        limit = getattr(run.opts.stop, attr)
        start, per_step = refit_cost_model(run, kind)
        if limit is None or per_step <= 0:
            continue
        left = 60 * limit - _clock(run, kind) - start
        chosen = min(chosen, int(left / (per_step * step_factor(start, ratio))))
    floor = max(1, math.ceil(MIN_REFIT_FRACTION * steps))
    if chosen < steps:
        log.warning(
            "the final refit gets %d of %d steps to fit the time budget%s",
            max(chosen, floor),
            steps,
            "" if chosen >= floor else f" (at least {floor}: the budget will be overrun)",
        )
    return max(chosen, floor)
