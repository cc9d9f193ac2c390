"""MaceIRCalculator: an EF model and a D model as one ASE calculator.

Units (ASE's): energy eV, forces eV/Å, dipole e·Å (mace-torch's own calculator calls
the same number "Debye"; it is the unit of the training labels, here e·Å), atomic
polar tensors ∂μ/∂r in e. Only neutral closed-shell molecules are accepted.
"""

from __future__ import annotations

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from mace4ir.errors import Mace4irError
from mace4ir.evaluation.calculators.molecule_checks import check_molecule, molecule_name
from mace4ir.evaluation.engine.ir_engine import IREngine, ModelHandle
from mace4ir.training.models.mace_pickles import model_kind
from mace4ir.training.models.weights_io import (
    check_kind,
    load_mace_pickle,
    load_model,
    model_stem,
    require_kind,
)

PICKLE_SUFFIXES = (".model", ".pt", ".pth")


def handle_from_spec(model, spec: dict, source: str) -> ModelHandle:
    return ModelHandle(
        model,
        spec["kind"],
        list(spec["atomic_numbers"]),
        float(spec["architecture"]["r_max"]),
        source,
    )


def _handle_from_pickle(model, source: str) -> ModelHandle:
    zs = [int(z) for z in model.atomic_numbers.tolist()]
    return ModelHandle(model, model_kind(model, source), zs, float(model.r_max), source)


def load_model_handle(path, kind: str, trust_pickle: bool = False, device="cpu") -> ModelHandle:
    """Load an EF or D model from a training RUN dir, a model_io stem, or a mace-torch pickle."""
    path = model_stem(path)
    check_kind(path, kind)  # fail fast on a swapped pair, before the (slow) model construction
    if path.suffix in PICKLE_SUFFIXES:
        handle = _handle_from_pickle(
            load_mace_pickle(path, trust_pickle=trust_pickle, device=device), str(path)
        )
    else:
        model, spec = load_model(path, device=device)
        handle = handle_from_spec(model, spec, str(path))
    require_kind(path, handle.kind, kind)
    return handle


def handle_from_entry(entry, device="cpu") -> ModelHandle:
    """A model a release folder holds (:class:`~mace4ir.training.models.model_inventory.
    ModelEntry`): a pickle already unpickled when the folder was listed is not read again."""
    if entry.loaded is not None:
        return _handle_from_pickle(entry.loaded.to(device), str(entry.path))
    return load_model_handle(entry.path, entry.kind, device=device)


class MaceIRCalculator(Calculator):
    """Energy, forces and dipole from a MACE-EF + MACE-D pair; APTs and Hessians by autograd.

    ``charge``/``multiplicity`` state what the caller asks for (also read from
    ``atoms.info``); anything but a neutral singlet is refused. ``fold`` evaluates copies of
    the models in inference form (same numbers, faster): folded symmetric contractions
    (:mod:`.fast_contraction`) and fused edge convolutions (:mod:`.fast_convolution`);
    ``fold=False`` runs mace-torch's modules unchanged.
    """

    implemented_properties = ["energy", "free_energy", "forces", "dipole"]
    name = "mace4ir"

    def __init__(
        self,
        ef_model,
        ef_spec,
        dipole_model,
        dipole_spec,
        device="cpu",
        skin: float = 1.0,
        charge: int = 0,
        multiplicity: int = 1,
        fold: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        ef = (
            ef_model
            if isinstance(ef_model, ModelHandle)
            else handle_from_spec(ef_model, ef_spec, "EF model")
        )
        dip = (
            dipole_model
            if isinstance(dipole_model, ModelHandle)
            else handle_from_spec(dipole_model, dipole_spec, "D model")
        )
        if ef.kind != "ef" or dip.kind != "dipole":
            raise Mace4irError(
                f"MaceIRCalculator needs an EF and a D model, got {ef.kind!r} and {dip.kind!r}"
            )
        self.engine = IREngine(ef, dip, device=device, skin=skin, fold=fold)
        self.charge, self.multiplicity = int(charge), int(multiplicity)

    @classmethod
    def from_engine(
        cls, engine: IREngine, charge: int = 0, multiplicity: int = 1
    ) -> MaceIRCalculator:
        """A calculator on an existing engine (committee members; no second copy of the models)."""
        calc = cls.__new__(cls)
        Calculator.__init__(calc)
        calc.engine, calc.charge, calc.multiplicity = engine, int(charge), int(multiplicity)
        return calc

    @classmethod
    def from_paths(
        cls, ef, dipole, trust_pickle: bool = False, device="cpu", **kwargs
    ) -> MaceIRCalculator:
        """``ef``/``dipole``: a training RUN dir, a model_io stem (DIR/name), or a mace-torch .model
        pickle."""
        ef_h = load_model_handle(ef, "ef", trust_pickle, device)
        d_h = load_model_handle(dipole, "dipole", trust_pickle, device)
        return cls(ef_h, None, d_h, None, device=device, **kwargs)

    # ---- checks ----------------------------------------------------------------
    @property
    def known_numbers(self) -> list[int]:
        return sorted(set(self.engine.ef.atomic_numbers) & set(self.engine.dipole.atomic_numbers))

    def check(self, atoms, index: int | None = None) -> None:
        check_molecule(
            atoms, self.known_numbers, molecule_name(atoms, index), self.charge, self.multiplicity
        )

    # ---- ASE interface -----------------------------------------------------------
    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        # an optimiser asks for forces only: skip the D model's forward pass (ASE calls again if
        # the dipole is wanted later)
        self.results = self.evaluate([self.atoms], dipole="dipole" in properties)[0]

    def evaluate(self, atoms_list, apt: bool = False, dipole: bool = True) -> list[dict]:
        """Energy, forces, dipole (and APTs) for many molecules in one graph."""
        for i, atoms in enumerate(atoms_list):
            self.check(atoms, i if len(atoms_list) > 1 else None)
        eng = self.engine
        graph, pos = eng.graph(atoms_list, static=True), eng.positions(atoms_list)
        energy, forces = eng.energy_forces(graph, pos)
        dipoles, apts = None, None
        if apt:
            dipoles, apts = eng.dipole_jacobian(graph, pos)
        elif dipole:
            dipoles = eng.dipoles_detached(graph, pos)
        ptr = graph.ptr.tolist()
        results = []
        for m in range(len(atoms_list)):
            r = {
                "energy": float(energy[m]),
                "free_energy": float(energy[m]),
                "forces": forces[ptr[m] : ptr[m + 1]].cpu().numpy(),
            }
            if dipoles is not None:
                r["dipole"] = dipoles[m].cpu().numpy()
            if apts is not None:
                r["apt"] = apts[ptr[m] : ptr[m + 1]].cpu().numpy()
            results.append(r)
        return results

    def get_apt(self, atoms) -> np.ndarray:
        """Atomic polar tensors (n_atoms, 3, 3), apt[i, a, b] = ∂μ_a/∂r_ib in e."""
        return self.evaluate([atoms], apt=True)[0]["apt"]

    def hessian_and_dipole_derivatives(self, atoms_list) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per molecule: Cartesian Hessian (3n, 3n) eV/Å² and ∂μ/∂x (3n, 3) in e, by autograd.

        On a GPU all molecules share one graph (one seed carries a direction of every molecule).
        On a CPU each molecule gets its own: there a seed costs in proportion to the graph, and
        the rows of one molecule already keep every core busy (:mod:`.engine`)."""
        for i, atoms in enumerate(atoms_list):
            self.check(atoms, i if len(atoms_list) > 1 else None)
        groups = (
            [[a] for a in atoms_list] if self.engine.device.type == "cpu" else [list(atoms_list)]
        )
        return [d for group in groups for d in self._graph_derivatives(group)]

    def _graph_derivatives(self, atoms_list) -> list[tuple[np.ndarray, np.ndarray]]:
        eng = self.engine
        graph, pos = eng.graph(atoms_list, static=True), eng.positions(atoms_list)
        hessians = eng.hessians(graph, pos)
        _, apt = eng.dipole_jacobian(graph, pos)
        apt = apt.cpu().numpy()
        ptr = graph.ptr.tolist()
        out = []
        for m, h in enumerate(hessians):
            p = apt[ptr[m] : ptr[m + 1]]  # (n, a, b)
            out.append((h, p.transpose(0, 2, 1).reshape(-1, 3)))  # row (i, b), column a
        return out
