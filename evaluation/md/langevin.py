"""BAOAB Langevin integrator (Leimkuhler & Matthews) for many replicas at once, in torch.

One step of length Δt: B (half kick), A (half drift), O (exact Ornstein–Uhlenbeck
velocity update with c1 = exp(-γΔt)), A, new forces, B. BAOAB samples
configurations with O(Δt²) accuracy at any friction and keeps ``friction`` → 0
as plain velocity Verlet. State is float64. Units: positions Å, velocities
Å/fs, masses amu, forces eV/Å, friction γ in fs^-1, temperature K.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from ase import units

ACC = units.fs**2  # (eV/Å)/amu -> Å/fs²
VEL = units.fs  # sqrt(eV/amu) -> Å/fs


@dataclass
class LangevinState:
    positions: torch.Tensor  # (n_atoms, 3)
    velocities: torch.Tensor  # (n_atoms, 3)
    forces: torch.Tensor  # (n_atoms, 3) at ``positions``
    energies: torch.Tensor  # (n_mol,) potential energies at ``positions``
    step: int = 0


class BAOAB:
    def __init__(
        self,
        masses: torch.Tensor,
        timestep_fs: float,
        temperature_K: float,
        friction_fs_inv: float,
        generator: torch.Generator,
    ):
        self.dt = float(timestep_fs)
        self.inv_m = (1.0 / masses)[:, None]
        self.set_friction(friction_fs_inv)
        self.sigma = (
            torch.sqrt(units.kB * temperature_K * self.inv_m) * VEL
        )  # thermal velocity, Å/fs
        self.generator = generator

    def set_friction(self, friction_fs_inv: float) -> None:
        self.friction = float(friction_fs_inv)
        self.c1 = math.exp(-self.friction * self.dt)
        self.c2 = math.sqrt(1.0 - self.c1**2)

    def maxwell_boltzmann(self, batch: torch.Tensor, n_mol: int) -> torch.Tensor:
        """Random velocities at the target temperature with each molecule's centre-of-mass motion
        removed."""
        v = self.sigma * self._noise(self.sigma.shape[0])
        m = 1.0 / self.inv_m
        p_com = torch.zeros((n_mol, 3), dtype=v.dtype, device=v.device).index_add_(0, batch, m * v)
        m_tot = torch.zeros((n_mol, 1), dtype=v.dtype, device=v.device).index_add_(0, batch, m)
        return v - (p_com / m_tot)[batch]

    def _noise(self, n: int) -> torch.Tensor:
        return torch.randn(
            (n, 3), generator=self.generator, dtype=torch.float64, device=self.generator.device
        )

    def step(self, state: LangevinState, force_fn) -> LangevinState:
        dt = self.dt
        v = state.velocities + 0.5 * dt * ACC * state.forces * self.inv_m
        x = state.positions + 0.5 * dt * v
        v = self.c1 * v + self.c2 * self.sigma * self._noise(v.shape[0])
        x = x + 0.5 * dt * v
        energies, forces = force_fn(x)
        v = v + 0.5 * dt * ACC * forces * self.inv_m
        return LangevinState(x, v, forces, energies, state.step + 1)
