"""One energy zero for the foundation model, its replayed data and the new data.

Reference data for fine-tuning may count energies from another zero (another code,
basis or atom reference). A per-element constant moves no force, so the network should
not spend capacity learning it. Before training, the residuals ``E_label - E_model`` of
the new data are fitted to element counts (least squares; the minimum-norm solution when
the data cannot tell elements apart, e.g. one molecule). For elements the foundation
knows, the new labels are shifted onto the foundation's zero, which the replayed data
already share; for new elements the model's E0 absorbs the offset instead.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from ase.data import chemical_symbols

from mace4ir.training.data.record_graphs import GraphBuilder, collate

log = logging.getLogger(__name__)


def predicted_energies(model, spec: dict, records: list[dict], batch_size: int = 32) -> np.ndarray:
    builder = GraphBuilder(spec["atomic_numbers"], spec["architecture"]["r_max"], spec["precision"])
    model.eval()
    out = []
    for start in range(0, len(records), batch_size):
        batch = collate([builder(r) for r in records[start : start + batch_size]])
        with torch.no_grad():
            energies = model(batch.to_dict(), training=False, compute_force=False)["energy"]
        out.append(energies.double().cpu().numpy())
    return np.concatenate(out)


def energy_offsets(model, spec: dict, records: list[dict]) -> dict[int, float]:
    """Per-element offset (eV) of the records' energy zero from the model's."""
    zs = sorted({int(z) for r in records for z in r["atomic_numbers"]})
    counts = np.array([[np.sum(r["atomic_numbers"] == z) for z in zs] for r in records], float)
    labels = np.array([r["energy"] for r in records], dtype=np.float64)
    residual = labels - predicted_energies(model, spec, records)
    delta = np.linalg.lstsq(counts, residual, rcond=None)[0]
    after = residual - counts @ delta
    n_atoms = counts.sum(1)
    log.info(
        "energy zero of the new data vs the model: mean |error| %.1f meV/atom before, %.1f after "
        "the per-element offsets %s",
        1e3 * np.abs(residual / n_atoms).mean(),
        1e3 * np.abs(after / n_atoms).mean(),
        ", ".join(f"{chemical_symbols[z]} {d:+.3f} eV" for z, d in zip(zs, delta)),
    )
    return {z: float(d) for z, d in zip(zs, delta)}


def shift_labels(records: list[dict], offsets: dict[int, float]) -> list[dict]:
    """Copies of the records with ``offsets`` (only elements listed) taken off their energies."""
    out = []
    for r in records:
        shift = sum(offsets.get(int(z), 0.0) for z in r["atomic_numbers"])
        out.append({**r, "energy": float(r["energy"] - shift)})
    return out


def absorb_in_e0s(model, spec: dict, offsets: dict[int, float]) -> None:
    """Add ``offsets`` to the EF model's E0s (buffer and spec, in place)."""
    zs = spec["atomic_numbers"]
    spec["atomic_energies"] = [e + offsets.get(z, 0.0) for z, e in zip(zs, spec["atomic_energies"])]
    buf = model.atomic_energies_fn.atomic_energies
    buf.copy_(torch.as_tensor(spec["atomic_energies"], dtype=buf.dtype).reshape(buf.shape))
