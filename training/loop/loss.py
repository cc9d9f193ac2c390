"""Training losses, normalised by the GLOBAL batch so N ranks equal 1 process.

DDP averages gradients over ranks; each rank therefore returns
``world_size * (sum of its squared errors) / (count over all ranks)``, and the
averaged gradient is exactly that of the global batch's mean loss. Terms follow
mace-torch's weighted losses: energy per atom, force components, dipole per atom.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mace4ir.training.data.record_graphs import num_atoms_of
from mace4ir.training.loop.distributed import DistInfo, all_reduce_sum


@dataclass
class LossWeights:
    energy: float = 1.0
    forces: float = 10.0
    dipole: float = 1.0


def weights_at(step: int, cfg: dict) -> LossWeights:
    """Loss weights at ``step``: the stage-one weights, switched to stage two at
    ``stage_two.start_step``."""
    w = LossWeights(**cfg["weights"])
    stage_two = cfg.get("stage_two") or {}
    start = stage_two.get("start_step")
    if start is not None and step >= int(start):
        w = LossWeights(**{**w.__dict__, **(stage_two.get("weights") or {})})
    return w


def squared_error_sums(kind: str, batch, out: dict) -> dict[str, torch.Tensor]:
    """Per-rank sums of squared errors and their counts."""
    n_atoms = num_atoms_of(batch).to(batch.positions.dtype)
    if kind == "dipole":
        err = (out["dipole"] - batch.dipole) / n_atoms[:, None]
        return {"dipole": err.square().sum(), "dipole_n": torch.tensor(float(err.numel()))}
    e_err = (out["energy"] - batch.energy) / n_atoms
    f_err = out["forces"] - batch.forces
    return {
        "energy": e_err.square().sum(),
        "energy_n": torch.tensor(float(e_err.numel())),
        "forces": f_err.square().sum(),
        "forces_n": torch.tensor(float(f_err.numel())),
    }


def global_sums(sums: dict, active: bool, info: DistInfo) -> dict[str, float]:
    """Sums and counts over all ranks, detached (one collective); padding ranks add zero.
    Used to normalise the loss and to log the global batch's loss."""
    keys = sorted(sums)
    vec = torch.stack([sums[k].detach().double().cpu() for k in keys]) * float(active)
    vec = all_reduce_sum(vec.to(info.device), info).cpu()
    out = {k: float(v) for k, v in zip(keys, vec)}
    for k in keys:
        if k.endswith("_n"):
            out[k] = max(out[k], 1.0)
    return out


def weighted_loss(
    kind: str, sums: dict, counts: dict, w: LossWeights, scale: float
) -> torch.Tensor:
    """``scale`` * weighted mean squared errors (``scale`` = world size, or 0 for padding steps)."""
    if kind == "dipole":
        return scale * w.dipole * sums["dipole"] / counts["dipole_n"]
    return scale * (
        w.energy * sums["energy"] / counts["energy_n"]
        + w.forces * sums["forces"] / counts["forces_n"]
    )
