"""Periodic-table heat map of element frequency (like Figure 2 of the MACE4IR paper)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from ase.data import chemical_symbols


def table_position(z: int) -> tuple[int, int]:
    """(row, column) of element ``z`` in an 18-column table; f-block on rows 8-9."""
    if z == 1:
        return 0, 0
    if z == 2:
        return 0, 17
    starts = [(3, 1), (11, 2), (19, 3), (37, 4), (55, 5), (87, 6)]
    for first, row in reversed(starts):
        if z >= first:
            k = z - first
            break
    if row in (1, 2):  # s then p block with a gap
        return row, k if k < 2 else k + 10
    if row >= 5:  # lanthanides / actinides go to the f-block rows
        if 2 <= k < 16:
            return row + 3, k + 1
        return row, k if k < 2 else k - 14
    return row, k


def plot_elements(counts: dict[str, int], path: str | Path, title: str = "structures containing each element") -> None:
    """Write a PNG: each element cell coloured by log10(number of structures containing it)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state

    grid = np.full((10, 18), np.nan)
    for z_str, n in counts.items():
        r, c = table_position(int(z_str))
        grid[r, c] = max(int(n), 1)
    fig = Figure(figsize=(12, 6.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    vmax = np.nanmax(grid) if np.isfinite(grid).any() else 1
    im = ax.imshow(grid, cmap="viridis", norm=LogNorm(vmin=1, vmax=max(vmax, 2)))
    for z in range(1, 119):
        r, c = table_position(z)
        n = counts.get(str(z))
        ax.text(c, r - 0.12, chemical_symbols[z], ha="center", va="center", fontsize=8,
                color="white" if n else "0.6")
        if n:
            ax.text(c, r + 0.25, f"{int(n):.0e}" if n >= 1e4 else str(n), ha="center", va="center", fontsize=5, color="white")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.025, label="structures")
    path = Path(path)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}.png")
    fig.savefig(tmp, dpi=120, bbox_inches="tight", metadata={"Software": None})
    os.replace(tmp, path)
