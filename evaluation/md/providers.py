"""Forces and dipoles for a batch of MD replicas, behind one small interface.

``MaceProvider`` evaluates all replicas in one packed graph (rebuilding edges only
when an atom moved more than skin/2); ``ASEProvider`` loops over replicas with any
ASE calculator (e.g. GFN2-xTB reference MD). Units: positions Å, velocities Å/fs,
energies eV, forces eV/Å, dipoles e·Å, dμ/dt e·Å/fs.
"""

from __future__ import annotations

import numpy as np
import torch


class _PackedGraph:
    """All replicas in one packed graph, its edges rebuilt only when an atom moved more than
    skin/2 (shared by the single-model and the committee provider)."""

    watch_intact = True  # the MD stops a molecule that flies apart (MDUnstable)

    def __init__(self, engine, atoms_list):
        self.graph = engine.graph(atoms_list)
        self.rebuilds = 0

    def _graph_for(self, positions):
        if self.graph.needs_rebuild(positions):
            self.graph = self.graph.rebuilt(positions)
            self.rebuilds += 1
        return self.graph


class MaceProvider(_PackedGraph):
    def __init__(self, calculator, atoms_list):
        self.engine = calculator.engine
        super().__init__(self.engine, atoms_list)

    def forces(self, positions: torch.Tensor):
        """(energies (n_mol,), forces (n_atoms, 3))."""
        return self.engine.energy_forces(self._graph_for(positions), positions)

    def dipoles(self, positions: torch.Tensor, velocities: torch.Tensor | None = None):
        """(μ (n_mol, 3), dμ/dt (n_mol, 3) by the APT route or None when no velocities are
        given)."""
        graph = self._graph_for(positions)
        if velocities is None:
            return self.engine.dipoles_detached(graph, positions), None
        mu, dmu = self.engine.dipole_velocity(graph, positions, velocities)
        return mu.detach(), dmu.detach()


class CommitteeProvider(_PackedGraph):
    """A committee's mean forces and dipoles on one packed graph; the members' forces of the
    last call stay in ``member_forces`` (K, n_atoms, 3) for uncertainty-driven sampling, and
    the dipole members' series of the last call (μ, or dμ/dt when velocities were given) in
    ``member_series`` (K, n_replicas, 3): the MD records them for a spectrum band over
    members."""

    def __init__(self, committee, atoms_list):
        self.engines, self.n_ef, self.n_dipole = (
            committee.engines,
            committee.n_ef,
            committee.n_dipole,
        )
        super().__init__(self.engines[0], atoms_list)
        self.member_forces = self.member_series = None

    def forces(self, positions: torch.Tensor):
        graph = self._graph_for(positions)
        pairs = [e.energy_forces(graph, positions) for e in self.engines[: self.n_ef]]
        self.member_forces = torch.stack([f for _, f in pairs])
        return torch.stack([e for e, _ in pairs]).mean(0), self.member_forces.mean(0)

    def dipoles(self, positions: torch.Tensor, velocities: torch.Tensor | None = None):
        graph = self._graph_for(positions)
        engines = self.engines[: self.n_dipole]
        if velocities is None:
            self.member_series = torch.stack(
                [e.dipoles_detached(graph, positions) for e in engines]
            )
            return self.member_series.mean(0), None
        pairs = [e.dipole_velocity(graph, positions, velocities) for e in engines]
        mu = torch.stack([m.detach() for m, _ in pairs]).mean(0)
        self.member_series = torch.stack([d.detach() for _, d in pairs])
        return mu, self.member_series.mean(0)


class ASEProvider:
    """One ASE calculator instance per replica (keeps each replica's SCF restart data)."""

    def __init__(self, calculator_factory, atoms_list, device="cpu"):
        self.atoms = [a.copy() for a in atoms_list]
        for a in self.atoms:
            a.calc = calculator_factory()
        self.ptr = np.concatenate([[0], np.cumsum([len(a) for a in atoms_list])])
        self.device = device
        self.rebuilds = 0

    def _set(self, positions):
        pos = positions.detach().cpu().numpy()
        for m, a in enumerate(self.atoms):
            a.positions = pos[self.ptr[m] : self.ptr[m + 1]]

    def forces(self, positions):
        self._set(positions)
        energies = torch.tensor([a.get_potential_energy() for a in self.atoms], dtype=torch.float64)
        forces = torch.as_tensor(
            np.concatenate([a.get_forces() for a in self.atoms]), dtype=torch.float64
        )
        return energies.to(self.device), forces.to(self.device)

    def dipoles(self, positions, velocities=None):
        if velocities is not None:
            raise NotImplementedError("the APT route needs autograd dipoles (a MaceIRCalculator)")
        self._set(positions)
        mu = torch.as_tensor(
            np.array([a.get_dipole_moment() for a in self.atoms]), dtype=torch.float64
        )
        return mu.to(self.device), None


class HarmonicProvider:
    """The exact harmonic model of a molecule around its minimum: E = ½ΔxᵀHΔx, μ = μ0 + (∂μ/∂x)ᵀΔx.

    Built from a :class:`~mace4ir.evaluation.harmonic.calculation.HarmonicResult`; its MD spectrum
    must integrate to the harmonic intensities, which checks the MD/spectrum chain.
    """

    def __init__(self, positions, hessian, dmu_dx, dipole0=(0.0, 0.0, 0.0)):
        self.x0 = np.asarray(positions, dtype=np.float64)
        self.hessian = np.asarray(hessian, dtype=np.float64)
        self.dmu_dx = np.asarray(dmu_dx, dtype=np.float64)
        self.mu0 = np.asarray(dipole0, dtype=np.float64)
        self.rebuilds = 0

    @classmethod
    def from_result(cls, result) -> HarmonicProvider:
        """Eckart-projected Hessian and dipole derivatives: pure vibrations, no rigid-body forces
        (nor runaway ones) and no dipole change from the (linearised) rotations."""
        from mace4ir.evaluation.harmonic.normal_modes import (
            project_dipole_derivatives,
            project_hessian,
        )

        if len(result.imaginary_cm1):
            from mace4ir.errors import Mace4irError

            raise Mace4irError(
                f"{result.atoms.get_chemical_formula()}: the harmonic model has imaginary modes "
                f"({', '.join(f'{v:.1f}i' for v in result.imaginary_cm1)} cm^-1); its dynamics "
                "would run away. Optimise to a true minimum first"
            )
        atoms = result.atoms
        masses, pos = atoms.get_masses(), atoms.get_positions()
        hessian = project_hessian(result.hessian, masses, pos)
        return cls(pos, hessian, project_dipole_derivatives(result.dmu_dx, masses, pos))

    def bind(self, replicas, device) -> HarmonicProvider:
        n = len(self.x0)
        if any(len(a) != n for a in replicas):
            raise ValueError(
                "HarmonicProvider: every replica must be the molecule it was built for"
            )

        def t(a):
            return torch.as_tensor(a, dtype=torch.float64, device=device)

        self._x0, self._h, self._d, self._mu0 = (
            t(self.x0),
            t(self.hessian),
            t(self.dmu_dx),
            t(self.mu0),
        )
        self._n_rep = len(replicas)
        return self

    def _dx(self, positions):
        return (positions.reshape(self._n_rep, -1, 3) - self._x0).reshape(self._n_rep, -1)

    def forces(self, positions):
        dx = self._dx(positions)
        g = dx @ self._h
        return 0.5 * (g * dx).sum(1), -g.reshape(-1, 3)

    def dipoles(self, positions, velocities=None):
        mu = self._mu0 + self._dx(positions) @ self._d
        dmu = None if velocities is None else velocities.reshape(self._n_rep, -1) @ self._d
        return mu, dmu
