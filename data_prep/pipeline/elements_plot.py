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
    for first, row in reversed(starts):  # noqa: B007  (row is the result, used after the break)
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


def plot_elements(
    counts: dict[str, int], path: str | Path, title: str = "structures containing each element"
) -> None:
    """Write a PNG: each element cell coloured by log10(number of structures containing it)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state

    grid = np.full((10, 18), np.nan)
    shape = np.full((10, 18), np.nan)  # light grey cells: the table's outline
    for z in range(1, 119):
        shape[table_position(z)] = 1.0
    for z_str, n in counts.items():
        grid[table_position(int(z_str))] = max(int(n), 1)
    fig = Figure(figsize=(10, 5.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.imshow(shape, cmap="Greys", vmin=0, vmax=8)
    vmax = np.nanmax(grid) if np.isfinite(grid).any() else 1
    im = ax.imshow(grid, cmap="viridis", norm=LogNorm(vmin=1, vmax=max(vmax, 2)))
    for z_str, n in counts.items():  # labels only where there is data: text is slow to draw
        r, c = table_position(int(z_str))
        ax.text(
            c,
            r,
            f"{chemical_symbols[int(z_str)]}\n{int(n):.1e}"
            if n >= 1e4
            else f"{chemical_symbols[int(z_str)]}\n{n}",
            ha="center",
            va="center",
            fontsize=7,
            color="white",
        )
    ax.set_xticks(np.arange(-0.5, 18, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, 10, 1), minor=True)
    ax.grid(which="minor", color="white", linewidth=1.5)  # cell borders
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.025, label="structures")
    path = Path(path)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}.png")
    fig.subplots_adjust(left=0.02, right=0.9, top=0.93, bottom=0.03)
    fig.savefig(tmp, dpi=100, metadata={"Software": None})
    os.replace(tmp, path)
