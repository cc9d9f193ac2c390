"""``history.csv`` and ``history.png``: what each iteration bought.

One row per (iteration, molecule), and after the last iteration one per molecule for the
final refit (``fit``: ``loop`` or ``final``, drawn as a star): labelled structures, oracle
calls, held-out force and dipole errors, committee uncertainty (force disagreement on the
held-out frames, mean per-mode harmonic-frequency spread), the harmonic-frequency MAE and
intensity Pearson against the oracle's own harmonic spectrum, elapsed and CPU minutes.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

COLUMNS = (
    "iteration",
    "fit",
    "molecule",
    "n_train",
    "oracle_calls",
    "oracle_failures",
    "holdout_force_mae_meV_A",
    "holdout_dipole_mae_meA",
    "holdout_force_disagreement_meV_A",
    "frequency_spread_cm1",
    "frequency_mae_cm1",
    "frequency_mae_shape_cm1",
    "intensity_pearson",
    "elapsed_min",
    "cpu_min",
)


def write_history(out: Path, rows: list[dict]) -> None:
    out = Path(out)
    tmp = out / "history.csv.tmp"
    with open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(out / "history.csv")
    plot_history(out / "history.png", rows)


def read_assessments(out: Path) -> list[dict]:
    """Every assessment of the run in ``out``: iterations in order, each final refit after
    the iteration it was made on."""
    rows = []
    for path in sorted(Path(out).glob("iterations/iter_*/assessment.json")):
        rows += json.loads(path.read_text())
    for path in sorted(Path(out).glob("final/*/assessment.json")):
        rows += json.loads(path.read_text())
    for r in rows:
        r.setdefault("fit", "loop")  # runs from before final refits existed
    return sorted(rows, key=lambda r: (r["iteration"], r["fit"] == "final"))


def plot_history(path: Path, rows: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = (
        ("holdout_force_mae_meV_A", "held-out force MAE (meV/Å)"),
        ("frequency_spread_cm1", "committee frequency spread (cm⁻¹)"),
        ("frequency_mae_cm1", "harmonic MAE vs oracle (cm⁻¹)"),
        ("n_train", "labelled structures"),
    )
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.2))
    for ax, (key, label) in zip(axes, panels):
        for mol in dict.fromkeys(r["molecule"] for r in rows):
            mine = [r for r in rows if r["molecule"] == mol and r.get(key) is not None]
            loop = [(r["iteration"], r[key]) for r in mine if r["fit"] == "loop"]
            final = [(r["iteration"], r[key]) for r in mine if r["fit"] == "final"]
            if loop:
                (line,) = ax.plot(*zip(*loop), "o-", label=mol, ms=3)
                if final:
                    ax.plot(*zip(*final), "*", ms=10, color=line.get_color())
        ax.set_xlabel("iteration")
        ax.set_title(label, fontsize=9)
        if key != "n_train":
            ax.set_yscale("log")
    axes[0].legend(fontsize=7)
    if any(r["fit"] == "final" for r in rows):
        fig.suptitle("★ the final refit on all labels", fontsize=8, x=0.99, ha="right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
