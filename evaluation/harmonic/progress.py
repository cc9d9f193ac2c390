"""Progress lines for slow harmonic calculations (hundreds of atoms take minutes).

Small molecules stay quiet: a step is announced only from ``LARGE_ATOMS`` atoms on, and an
optimisation reports its progress only once it has run for ``EVERY_S`` seconds.
"""

from __future__ import annotations

import logging
import time

import numpy as np

log = logging.getLogger("mace4ir.evaluation.harmonic")

LARGE_ATOMS = 50
EVERY_S = 30.0


def announce(atoms, what: str) -> None:
    """Log the start of a slow step for a large molecule."""
    if len(atoms) >= LARGE_ATOMS:
        log.info("%s (%d atoms): %s ...", atoms.get_chemical_formula(), len(atoms), what)


def attach_progress(opt, atoms, every_s: float = EVERY_S) -> None:
    """Log step and max force of an ASE optimizer at most every ``every_s`` seconds."""
    last = [time.monotonic()]

    def report():
        now = time.monotonic()
        if now - last[0] < every_s:
            return
        last[0] = now
        fmax = float(np.linalg.norm(atoms.get_forces(), axis=1).max())
        log.info(
            "%s: optimisation step %d, max force %.3g eV/Å",
            atoms.get_chemical_formula(),
            opt.nsteps,
            fmax,
        )

    opt.attach(report, interval=1)
