"""Overlay plots of predicted vs reference spectra (PNG), in the style of MACE4IR Figures 4–6."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _axes(ax, title):
    ax.set_xlabel("wavenumber / cm$^{-1}$")
    ax.set_ylabel("intensity (normalised)")
    ax.set_xlim(4000, 400)  # spectroscopists' convention: decreasing wavenumber
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    ax.legend(frameon=False, loc="upper left")


def overlay(
    path, grid, curves: list[dict], title: str = "", sticks: list[dict] | None = None
) -> Path:
    """Write an overlay PNG.

    curves: [{"y": array, "label": str, "std": array|None}] on ``grid``, each scaled to unit max
    (a band of ±std around a replica mean is drawn when given). sticks: [{"freq": ..., "intensity":
    ..., "label": ...}] harmonic line lists drawn as scaled sticks.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.2), dpi=150)
    for i, c in enumerate(curves):
        y = np.asarray(c["y"], float)
        scale = np.max(np.abs(y)) or 1.0
        (line,) = ax.plot(grid, y / scale, lw=1.2, label=c.get("label", f"spectrum {i}"))
        if c.get("std") is not None:
            s = np.asarray(c["std"], float) / scale
            ax.fill_between(
                grid, y / scale - s, y / scale + s, color=line.get_color(), alpha=0.25, lw=0
            )
    for s in sticks or []:
        f, inten = np.asarray(s["freq"], float), np.asarray(s["intensity"], float)
        keep = f > 0
        top = inten[keep].max() if keep.any() and inten[keep].max() > 0 else 1.0
        ax.vlines(
            f[keep],
            0,
            inten[keep] / top,
            lw=0.8,
            alpha=0.7,
            label=s.get("label", "modes"),
            colors=s.get("color", "k"),
        )
    _axes(ax, title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
