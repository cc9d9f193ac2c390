"""Committee-mean MD at several temperatures, all replicas in one batch.

Every molecule runs ``replicas`` trajectories at each temperature (per-atom temperatures
in one BAOAB integrator, the committee's mean forces on one packed graph). Every
``record_every`` steps each running replica offers its frame as a candidate, with the
committee's force disagreement. A replica whose relative disagreement exceeds
``stop_relative`` (PALIRS: 0.5) has left the region the committee knows: its frame is
kept as a candidate, the replica stops and goes back to its start, and its later frames
are ignored. The final states let the next iteration continue where this one ended.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import torch

from mace4ir.active_learning.sampling import Candidate
from mace4ir.evaluation.calculators.committee import force_disagreement
from mace4ir.evaluation.md.langevin import BAOAB, LangevinState
from mace4ir.evaluation.md.providers import CommitteeProvider

log = logging.getLogger(__name__)


@dataclass
class ExploreOptions:
    temperatures_K: tuple[float, ...] = (300.0, 500.0, 700.0)
    replicas: int = 2  # per molecule and temperature
    steps: int = 2000
    timestep_fs: float = 0.5
    friction_fs_inv: float = 0.01 / 10.18  # 0.01 in ASE units, as PALIRS and the paper
    record_every: int = 20
    stop_relative: float = 0.5


@dataclass
class Exploration:
    candidates: list[Candidate]
    final_positions: list[np.ndarray]  # per replica
    stopped: list[bool]
    steps_run: int
    max_relative: list[float] = field(default_factory=list)  # per replica


def replica_layout(starts: list, opts: ExploreOptions) -> list[tuple[int, float]]:
    """(molecule index, temperature) of every replica, in batch order."""
    return [
        (m, t)
        for m in range(len(starts))
        for t in opts.temperatures_K
        for _ in range(opts.replicas)
    ]


def explore(
    committee, starts: list, opts: ExploreOptions, seed: int, positions=None
) -> Exploration:
    """Run the batch; ``starts`` are the molecules' start geometries (``ase.Atoms``);
    ``positions`` optionally continue each replica from an earlier exploration."""
    layout = replica_layout(starts, opts)
    replicas = [starts[m].copy() for m, _ in layout]
    if positions is not None:
        for atoms, pos in zip(replicas, positions):
            atoms.positions = pos
    provider = CommitteeProvider(committee, replicas)
    device = committee.engines[0].device
    ptr = np.concatenate([[0], np.cumsum([len(a) for a in replicas])])
    batch = torch.as_tensor(np.repeat(np.arange(len(replicas)), np.diff(ptr)), device=device)
    masses = torch.as_tensor(
        np.concatenate([a.get_masses() for a in replicas]), dtype=torch.float64, device=device
    )
    temps = torch.as_tensor([t for _, t in layout], dtype=torch.float64, device=device)[batch][
        :, None
    ]
    gen = torch.Generator(device=device)
    gen.manual_seed(int(seed))
    integrator = BAOAB(masses, opts.timestep_fs, temps, opts.friction_fs_inv, gen)
    x0 = torch.as_tensor(
        np.concatenate([a.get_positions() for a in replicas]), dtype=torch.float64, device=device
    )
    energies, forces = provider.forces(x0)
    state = LangevinState(x0, integrator.maxwell_boltzmann(batch, len(replicas)), forces, energies)
    return _run(provider, integrator, state, x0, ptr, opts)


def _run(provider, integrator, state, x0, ptr, opts: ExploreOptions) -> Exploration:
    n = len(ptr) - 1
    stopped, worst = [False] * n, [0.0] * n
    candidates: list[Candidate] = []
    for step in range(1, opts.steps + 1):
        state = integrator.step(state, provider.forces)
        if step % opts.record_every:
            continue
        members = provider.member_forces.cpu().numpy()
        pos = state.positions.cpu().numpy()
        for r in range(n):
            if stopped[r]:
                continue
            sl = slice(ptr[r], ptr[r + 1])
            absolute, relative = force_disagreement(members[:, sl])
            worst[r] = max(worst[r], relative)
            candidates.append(Candidate(r, step, absolute, pos[sl].copy()))
            if relative > opts.stop_relative or not np.isfinite(relative):
                stopped[r] = True
                state = _reset(state, x0, ptr, r)
                log.info(
                    "replica %d stopped at step %d: relative force disagreement %.2f",
                    r,
                    step,
                    relative,
                )
        if all(stopped):
            break
    final = state.positions.cpu().numpy()
    return Exploration(
        candidates, [final[ptr[r] : ptr[r + 1]] for r in range(n)], stopped, step, worst
    )


def _reset(state: LangevinState, x0, ptr, r: int) -> LangevinState:
    """Put a stopped replica back at its start, at rest (its frames are ignored from now on)."""
    sl = slice(int(ptr[r]), int(ptr[r + 1]))
    pos, vel, frc = state.positions.clone(), state.velocities.clone(), state.forces.clone()
    pos[sl], vel[sl], frc[sl] = x0[sl], 0.0, 0.0  # stale (maybe huge) forces must not kick it
    return LangevinState(pos, vel, frc, state.energies, state.step)
