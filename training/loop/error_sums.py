"""Errors of a model on a split, accumulated as sums and reduced across ranks.

Every rank evaluates its share of the split; sums of absolute and squared errors
and their counts are all-reduced, so MAE/RMSE are those of the whole split (not
averages of per-rank averages). Units out: energy meV/atom, forces meV/Å (per
component), dipole meÅ (milli e·Å, per component).
"""

from __future__ import annotations

import math

import torch
from ase.data import chemical_symbols

from mace4ir.training.data.record_graphs import num_atoms_of
from mace4ir.training.loop.distributed import DistInfo, all_reduce_sum
from mace4ir.training.loop.loss import LossWeights

QUANTITIES = {"ef": ("energy", "forces"), "dipole": ("dipole",)}
UNITS = {"energy": "mev_atom", "forces": "mev_A", "dipole": "meA"}


class ErrorSums:
    """Running sums (abs, squared, count) in total and per element."""

    def __init__(self, kind: str, n_elements: int):
        self.kind, self.n_el = kind, n_elements
        self.total = {
            f"{q}_{s}": torch.zeros((), dtype=torch.float64)
            for q in QUANTITIES[kind]
            for s in ("abs", "sq", "n")
        }
        self.per_el = {
            f"{q}_{s}": torch.zeros(n_elements, dtype=torch.float64)
            for q in QUANTITIES[kind]
            for s in ("abs", "sq", "n")
        }
        self.per_el["atoms"] = torch.zeros(n_elements, dtype=torch.float64)
        self.per_el["structures"] = torch.zeros(n_elements, dtype=torch.float64)

    def add(self, batch, out: dict) -> None:
        node_el = batch.node_attrs.argmax(1).cpu()
        graph_has = torch.zeros(batch.num_graphs, self.n_el, dtype=torch.float64)
        graph_has[batch.batch.cpu(), node_el] = 1.0
        self.per_el["atoms"] += torch.bincount(node_el, minlength=self.n_el).double()
        self.per_el["structures"] += graph_has.sum(0)
        if self.kind == "dipole":
            err = (out["dipole"] - batch.dipole).detach().double().cpu()  # (G, 3)
            self._add_graph_quantity("dipole", err, graph_has)
            return
        n_atoms = num_atoms_of(batch).cpu().double()
        e_err = ((out["energy"] - batch.energy).detach().double().cpu() / n_atoms)[
            :, None
        ]  # (G, 1)
        self._add_graph_quantity("energy", e_err, graph_has)
        f_err = (out["forces"] - batch.forces).detach().double().cpu()  # (N, 3)
        self._add("forces", f_err.abs().sum(), f_err.square().sum(), f_err.numel())
        one_hot = torch.nn.functional.one_hot(node_el, self.n_el).double()  # (N, E)
        self.per_el["forces_abs"] += one_hot.T @ f_err.abs().sum(1)
        self.per_el["forces_sq"] += one_hot.T @ f_err.square().sum(1)
        self.per_el["forces_n"] += 3 * one_hot.sum(0)

    def _add(self, q, abs_sum, sq_sum, n):
        self.total[f"{q}_abs"] += abs_sum
        self.total[f"{q}_sq"] += sq_sum
        self.total[f"{q}_n"] += n

    def _add_graph_quantity(self, q: str, err: torch.Tensor, graph_has: torch.Tensor) -> None:
        """Per-structure errors (G, c); per element over the structures containing it."""
        self._add(q, err.abs().sum(), err.square().sum(), err.numel())
        self.per_el[f"{q}_abs"] += graph_has.T @ err.abs().sum(1)
        self.per_el[f"{q}_sq"] += graph_has.T @ err.square().sum(1)
        self.per_el[f"{q}_n"] += graph_has.sum(0) * err.shape[1]

    def reduce(self, info: DistInfo) -> None:
        parts = [*self.total.values(), *self.per_el.values()]
        flat = torch.cat([p.reshape(-1) for p in parts])
        flat = all_reduce_sum(flat.to(info.device), info).cpu()
        offset = 0
        for table in (self.total, self.per_el):
            for key, value in table.items():
                table[key] = flat[offset : offset + value.numel()].reshape(value.shape)
                offset += value.numel()

    def metrics(self, atomic_numbers: list[int]) -> dict:
        out = {"n_structures": self._n_structures()}
        for q in QUANTITIES[self.kind]:
            out.update(
                _mae_rmse(q, self.total[f"{q}_abs"], self.total[f"{q}_sq"], self.total[f"{q}_n"])
            )
        per = {}
        for k, z in enumerate(atomic_numbers):
            if self.per_el["atoms"][k] == 0:
                continue
            row = {
                "n_atoms": int(self.per_el["atoms"][k]),
                "n_structures": int(self.per_el["structures"][k]),
            }
            for q in QUANTITIES[self.kind]:
                row.update(
                    _mae_rmse(
                        q,
                        self.per_el[f"{q}_abs"][k],
                        self.per_el[f"{q}_sq"][k],
                        self.per_el[f"{q}_n"][k],
                    )
                )
            per[chemical_symbols[z]] = row
        out["per_element"] = per
        return out

    def _n_structures(self) -> int:
        q = QUANTITIES[self.kind][0]
        return int(self.total[f"{q}_n"] / (3 if q == "dipole" else 1))

    def loss(self, w: LossWeights) -> float:
        """Validation loss on the training loss's scale (for plateau and best-model tracking)."""
        mse = {
            q: float(self.total[f"{q}_sq"] / max(float(self.total[f"{q}_n"]), 1.0))
            for q in QUANTITIES[self.kind]
        }
        if self.kind == "dipole":
            return w.dipole * mse["dipole"]
        return w.energy * mse["energy"] + w.forces * mse["forces"]


def _mae_rmse(q: str, abs_sum, sq_sum, n) -> dict:
    n = max(float(n), 1.0)
    return {
        f"{q}_mae_{UNITS[q]}": 1000.0 * float(abs_sum) / n,
        f"{q}_rmse_{UNITS[q]}": 1000.0 * math.sqrt(float(sq_sum) / n),
    }


def predict(model, batch, kind: str, training: bool) -> dict:
    """Model outputs for a batch (forces by autograd for EF models)."""
    data = batch.to_dict()
    if kind == "dipole":
        return model(data, training=training, compute_force=False)
    return model(data, training=training, compute_force=True)


def evaluate(model, loader, kind: str, spec: dict, info: DistInfo) -> ErrorSums:
    """Accumulate errors of ``model`` over this rank's loader and reduce across ranks."""
    sums = ErrorSums(kind, len(spec["atomic_numbers"]))
    model.eval()
    for batch in loader:
        batch = batch.to(info.device)
        out = predict(model, batch, kind, training=False)
        sums.add(batch, out)
    sums.reduce(info)
    return sums
