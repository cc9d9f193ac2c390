"""The committee a run releases: every member refitted from the starting model on all labels.

The loop fine-tunes members a few hundred steps at a time from their previous weights:
enough to steer exploration, not enough to converge (fluoroethene, 156 labels: the loop's
last committee 10.2 cm^-1 harmonic MAE, one 3100-step refit from the demo model on the
same labels 7.5). The refit lives in ``DIR/final/after_iter_NNN_steps_S/`` (named by what it
depends on, so a run continued later gets a new one), with its assessment, which
``history.csv`` shows as a row of its own (``fit: final``).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from mace4ir.active_learning.assessment import assess
from mace4ir.active_learning.committee_fit import Sources, fit_committee
from mace4ir.atomic_write import write_json_atomic


def final_folder(out: Path, last: int, steps: int) -> Path:
    return Path(out) / "final" / f"after_iter_{last:03d}_steps_{steps}"


def final_fit(run, last: int, data: Path, sources: Sources, refs, holdout: list[str]) -> Path:
    """Fit (or, on a rerun, reuse) and assess the final committee; returns its folder."""
    steps = run.opts.final_fit_steps
    folder = final_folder(run.out, last, steps)
    fit = replace(run.opts.fit, first_max_steps=steps)
    seed = run.opts.seed + 17 * last + 8  # iterations use multiples of 17: own bootstraps
    committee = fit_committee(folder / "committee", data, sources, fit, True, seed)
    if not (folder / "assessment.json").is_file():
        rows = assess(run, last, committee, refs, holdout, fit="final")
        write_json_atomic(folder / "assessment.json", rows)
    return committee
