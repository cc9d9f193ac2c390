"""The committee a run releases: every member refitted from the starting model on all labels.

The loop fine-tunes members a few hundred steps at a time from their previous weights:
enough to steer exploration, not enough to converge (fluoroethene, 156 labels: the loop's
last committee 10.2 cm^-1 harmonic MAE, one 3100-step refit from the demo model on the
same labels 7.5). Its learning rate (``final_fit_lr``) is higher than the loop's: one
member on fluoroethene's 111 loop labels, 3000 steps, reaches 8.7 cm^-1 at 0.03, 4.5 at 0.1
(9000 steps at 0.03: 3.3; 0.2 diverges to 12). Its members train on all labels, not on
bootstrap resamples like the loop's (``final_fit_bootstrap``): the resamples give the loop
disagreement where data are thin, but each member then sees ~60 % of the labels. On the
same 111 labels (three members at 0.1) single members reach a median 5.7 cm^-1 without
resamples, 7.3 with (nine each); the committee means scatter as much either way (3.5, 5.8,
6.8 without; 4.5, 5.7, 6.8 with), the members still differing by seed and validation split.
Its batches (``final_fit_batch_size``; default: the loop's 16) are larger than training's 8:
a step of these tiny models is mostly per-operation overhead, so 1500 steps of 16 cost
~40 % less CPU than 3000 of 8 (fluoroethene, closed loop: 20.1 CPU minutes in all,
7.4 +- 1.5 cm^-1 against 6.3 +- 0.7 with 3000 of 8).
The refit lives in ``DIR/final/after_iter_NNN_steps_S[_lr_X][_batch_B][_no_bootstrap]/`` (named by
what it depends on, so a run continued later, or refitted with another recipe, gets a new
one), with its assessment, which ``history.csv`` shows as a row of its own (``fit: final``).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from mace4ir.active_learning import budget
from mace4ir.active_learning.assessment import assess
from mace4ir.active_learning.committee_fit import Sources, fit_committee
from mace4ir.active_learning.options import FitOptions
from mace4ir.atomic_write import write_json_atomic


def final_folder(out: Path, last: int, refit: FitOptions) -> Path:
    """The refit's folder, named by its recipe (``refit_options``)."""
    lr = refit.overrides.get("optimizer", {}).get("lr")
    batch = refit.overrides.get("batch_size")
    name = f"after_iter_{last:03d}_steps_{refit.first_max_steps}"
    name += "" if lr is None else f"_lr_{lr:g}"
    name += "" if batch is None else f"_batch_{batch}"
    return Path(out) / "final" / (name + ("" if refit.bootstrap else "_no_bootstrap"))


def refit_options(
    fit: FitOptions,
    steps: int,
    lr: float | None,
    bootstrap: bool,
    batch_size: int | None = None,
) -> FitOptions:
    """The loop's fit options turned into the refit's: ``steps`` from the starting model at
    learning rate ``lr`` with batches of ``batch_size`` (None: the loop's), members on
    bootstrap resamples or not. The plain-MD baseline of the closed-loop benchmark is fitted
    with the same recipe."""
    overrides = dict(fit.overrides)
    if lr is not None:
        overrides["optimizer"] = {**overrides.get("optimizer", {}), "lr": lr}
    if batch_size is not None:
        overrides["batch_size"] = batch_size
    return replace(fit, first_max_steps=steps, overrides=overrides, bootstrap=bootstrap)


def final_fit(
    run, last: int, data: Path, sources: Sources, refs, holdout: list[str], steps: int
) -> Path:
    """Fit (or, on a rerun, reuse) and assess the final committee of ``steps`` steps (the
    loop's ``_refit_steps``: ``final_fit_steps`` within the time budgets); returns its folder."""
    o = run.opts
    fit = refit_options(o.fit, steps, o.final_fit_lr, o.final_fit_bootstrap, o.final_fit_batch_size)
    folder = final_folder(run.out, last, fit)
    seed = run.opts.seed + 17 * last + 8  # iterations use multiples of 17: own bootstraps
    with budget.measured(run, last, "refit", not folder.exists(), steps=steps):
        committee = fit_committee(folder / "committee", data, sources, fit, True, seed)
    if not (folder / "assessment.json").is_file():
        rows = assess(run, last, committee, refs, holdout, fit="final")
        write_json_atomic(folder / "assessment.json", rows)
    return committee
