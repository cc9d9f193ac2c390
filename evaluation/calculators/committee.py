"""A committee of MACE models as one ASE calculator: the mean drives, the spread warns.

Members are EF + D engines (:class:`~mace4ir.evaluation.engine.ir_engine.IREngine`); with
fewer dipole than EF models the dipole models are shared (and evaluated once each).
Energy, forces and dipole are committee means, so MD and optimisations follow the mean
model; ``results`` also hold the members' disagreement:

* ``energy_std`` (eV), ``dipole_std`` (e·Å, per component);
* ``forces_std`` (n, 3) and ``force_disagreement`` (eV/Å): the largest per-atom RMS deviation
  of the members' forces from their mean;
* ``relative_force_disagreement``: RMS deviation over RMS mean force, regularised by
  :data:`FORCE_FLOOR` so that near-equilibrium frames (small forces) do not look uncertain.

Hessians and dipole derivatives are means too (the Hessian of the mean energy), so
``harmonic_ir`` on a committee gives the mean model's spectrum;
:mod:`mace4ir.evaluation.harmonic.committee` adds the per-mode spread.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from mace4ir.errors import Mace4irError
from mace4ir.evaluation.calculators.mace_ir import (
    MaceIRCalculator,
    handle_from_spec,
    load_model_handle,
)
from mace4ir.evaluation.engine.ir_engine import IREngine

FORCE_FLOOR = 0.1  # eV/Å added to the mean force's RMS in the relative disagreement


def force_disagreement(member_forces: np.ndarray) -> tuple[float, float]:
    """(largest per-atom RMS deviation from the mean (eV/Å), relative disagreement) of the
    members' forces ``(K, n_atoms, 3)``."""
    mean = member_forces.mean(axis=0)
    dev2 = ((member_forces - mean) ** 2).sum(axis=2).mean(axis=0)  # (n_atoms,)
    rms_dev = float(np.sqrt(dev2.mean()))
    rms_force = float(np.sqrt((mean**2).sum(axis=1).mean()))
    return float(np.sqrt(dev2.max())), rms_dev / (rms_force + FORCE_FLOOR)


class CommitteeCalculator(Calculator):
    """Mean energy, forces and dipole of several EF + D model pairs, with their spread."""

    implemented_properties = ["energy", "free_energy", "forces", "dipole"]
    name = "mace4ir-committee"

    def __init__(self, ef_handles, dipole_handles, device="cpu", skin: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        if not ef_handles or not dipole_handles:
            raise Mace4irError("a committee needs at least one EF and one dipole model")
        n = max(len(ef_handles), len(dipole_handles))
        self.n_ef, self.n_dipole = len(ef_handles), len(dipole_handles)
        self.engines = [
            IREngine(ef_handles[i % self.n_ef], dipole_handles[i % self.n_dipole], device, skin)
            for i in range(n)
        ]
        self.members = [MaceIRCalculator.from_engine(e) for e in self.engines]
        self._derivatives_of, self._derivatives = None, None

    @classmethod
    def from_paths(cls, ef_paths, dipole_paths, trust_pickle: bool = False, device="cpu", **kw):
        """Members from training RUN dirs / model stems (or trusted pickles)."""
        efs = [load_model_handle(p, "ef", trust_pickle, device) for p in ef_paths]
        dips = [load_model_handle(p, "dipole", trust_pickle, device) for p in dipole_paths]
        return cls(efs, dips, device=device, **kw)

    @classmethod
    def from_models(cls, ef_pairs, dipole_pairs, device="cpu", **kw):
        """Members from ``(model, spec)`` pairs already in memory."""
        efs = [handle_from_spec(m, s, f"EF member {i}") for i, (m, s) in enumerate(ef_pairs)]
        dips = [handle_from_spec(m, s, f"D member {i}") for i, (m, s) in enumerate(dipole_pairs)]
        return cls(efs, dips, device=device, **kw)

    @classmethod
    def from_folder(cls, ef, dipole=None, device="cpu", **kw):
        """Members of committee folders (``committee.json``, from ``train``/``finetune``
        ``--committee``); ``dipole`` defaults to ``ef`` (a fine-tuning run holds both kinds).
        A plain run counts as a committee of one."""
        from mace4ir.training.models.committee import is_committee, read_committee

        def members(path, kind):
            if is_committee(path):
                runs = read_committee(path).get(kind)
                if runs:
                    return runs
                raise Mace4irError(f"{path}: committee without {kind} members")
            return [Path(path) / kind if (Path(path) / kind).is_dir() else Path(path)]

        return cls.from_paths(
            members(ef, "ef"), members(dipole or ef, "dipole"), device=device, **kw
        )

    @property
    def size(self) -> int:
        return len(self.engines)

    # ---- checks and ASE interface -------------------------------------------------
    def check(self, atoms, index: int | None = None) -> None:
        self.members[0].check(atoms, index)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.results = self.evaluate([self.atoms], dipole="dipole" in properties)[0]

    def evaluate(self, atoms_list, apt: bool = False, dipole: bool = True) -> list[dict]:
        """Per molecule: committee means and spreads (see the module docstring); with ``apt``
        also the mean atomic polar tensors."""
        for i, atoms in enumerate(atoms_list):
            self.check(atoms, i if len(atoms_list) > 1 else None)
        graph = self.engines[0].graph(atoms_list, static=True)
        pos = self.engines[0].positions(atoms_list)
        ef = [e.energy_forces(graph, pos) for e in self.engines[: self.n_ef]]
        energies = np.stack([e.cpu().numpy() for e, _ in ef])  # (K, n_mol)
        forces = np.stack([f.cpu().numpy() for _, f in ef])  # (K, n_atoms, 3)
        mus, apts = self._dipoles(graph, pos, apt, dipole)
        ptr = graph.ptr.tolist()
        return [
            self._result(m, energies, forces[:, ptr[m] : ptr[m + 1]], mus, apts, ptr)
            for m in range(len(atoms_list))
        ]

    def _dipoles(self, graph, pos, apt: bool, dipole: bool):
        engines = self.engines[: self.n_dipole]
        if apt:
            pairs = [e.dipole_jacobian(graph, pos) for e in engines]
            return np.stack([m.cpu().numpy() for m, _ in pairs]), np.stack(
                [a.cpu().numpy() for _, a in pairs]
            )
        if dipole:
            return np.stack([e.dipoles_detached(graph, pos).cpu().numpy() for e in engines]), None
        return None, None

    @staticmethod
    def _result(m, energies, member_forces, mus, apts, ptr) -> dict:
        worst, relative = force_disagreement(member_forces)
        r = {
            "energy": float(energies[:, m].mean()),
            "free_energy": float(energies[:, m].mean()),
            "energy_std": float(energies[:, m].std()),
            "forces": member_forces.mean(axis=0),
            "forces_std": member_forces.std(axis=0),
            "member_forces": member_forces,
            "force_disagreement": worst,
            "relative_force_disagreement": relative,
        }
        if mus is not None:
            r["dipole"] = mus[:, m].mean(axis=0)
            r["dipole_std"] = mus[:, m].std(axis=0)
        if apts is not None:
            r["apt"] = apts[:, ptr[m] : ptr[m + 1]].mean(axis=0)
        return r

    # ---- derivatives (harmonic_ir) ------------------------------------------------
    def member_derivatives(self, atoms_list) -> list[list[tuple[np.ndarray, np.ndarray]]]:
        """Per member, per molecule: (Hessian (3n, 3n), ∂μ/∂x (3n, 3)) of member ``k``'s EF
        and dipole models."""
        key = tuple(a.get_positions().tobytes() + a.numbers.tobytes() for a in atoms_list)
        if self._derivatives_of != key:  # the mean and the spread need the same members' values
            self._derivatives = [m.hessian_and_dipole_derivatives(atoms_list) for m in self.members]
            self._derivatives_of = key
        return self._derivatives

    def hessian_and_dipole_derivatives(self, atoms_list):
        """Committee-mean Hessian and ∂μ/∂x per molecule (the mean model's derivatives)."""
        per_member = self.member_derivatives(atoms_list)
        return [
            (
                np.mean([per_member[k][m][0] for k in range(self.size)], axis=0),
                np.mean([per_member[k][m][1] for k in range(self.size)], axis=0),
            )
            for m in range(len(atoms_list))
        ]
