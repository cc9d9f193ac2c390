"""Initial frames from the oracle's own MD: the plain-MD sampling (AIMD-style) that active
learning is measured against (``initial_sampling: oracle_md``).

One Langevin trajectory per molecule and exploration temperature, driven by the oracle,
frames taken every ``oracle_md_every_steps`` steps after a short thermalisation. Each run
lives in its own resumable MD folder (``iter_000/oracle_md/mol_T300K``), so a killed run
continues its trajectory. The frames are then labelled through the label store like any
other, so only the frames used count as oracle calls; the MD's own force calls are not
counted (which favours this baseline: AIMD pays for every step).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


def oracle_md_frames(
    spec,
    harmonic,
    n: int,
    explore,
    every: int,
    folder: Path,
    seed: int,
    thermalization_ps: float = 0.5,
) -> list[np.ndarray]:
    """``n`` positions (Å) of ``harmonic.atoms`` from oracle MD at ``explore``'s temperatures,
    interleaved over the temperatures and spread over each trajectory (a budget that cuts
    the list keeps every temperature)."""
    from ase.io import iread

    from mace4ir.active_learning.oracle import calculator
    from mace4ir.evaluation.md.simulation import md_ir

    temps = list(explore.temperatures_K)
    per_temp = -(-n // len(temps))  # ceil
    runs = []
    for i, temp in enumerate(temps):
        run = folder / f"T{temp:g}K"
        opts = dict(
            replicas=1,
            temperature_K=temp,
            timestep_fs=explore.timestep_fs,
            friction_fs_inv=explore.friction_fs_inv,
            thermalization_ps=thermalization_ps,
            production_ps=per_temp * every * explore.timestep_fs / 1000.0,
            traj_every=every,
            max_corr_fs=min(500.0, per_temp * every * explore.timestep_fs / 2),
            seed=seed + i,
        )
        log.info("oracle MD at %g K: %d frames every %d steps in %s", temp, per_temp, every, run)
        result = md_ir(harmonic.atoms, lambda: calculator(spec), out=run, progress=False, **opts)
        n_therm = result.options.n_therm
        frames = iread(run / "traj" / "mol000_rep000.extxyz", index=":")
        runs.append([a.positions for a in frames if a.info["step"] > n_therm][:per_temp])
    interleaved = [r[j] for j in range(per_temp) for r in runs if j < len(r)]
    return interleaved[:n]
