"""Table-1 errors of a trained run on a prepared split, with a per-element breakdown.

``evaluate_errors(RUN, PREPARED)`` loads ``RUN/best_model`` (EMA weights of the best
validation step), evaluates the test split and writes ``RUN/test_errors.json``:
energy_mae/rmse_mev_atom, forces_mae/rmse_mev_A, dipole_mae/rmse_meA (None for the
quantity a model does not predict; pass ``dipole_run`` to fill μ from a MACE-D run),
n_structures, per_element {symbol: {...}}.
"""

from __future__ import annotations

import json

import torch

from mace4ir.data_prep.prepared.reader import load_manifest
from mace4ir.elements import check_elements
from mace4ir.training.data.loaders import eval_batches
from mace4ir.training.data.record_graphs import GraphBuilder
from mace4ir.training.loop.distributed import DistInfo
from mace4ir.training.loop.error_sums import evaluate
from mace4ir.training.models.weights_io import load_model, model_stem, run_dir

KEYS = (
    "energy_mae_mev_atom",
    "energy_rmse_mev_atom",
    "forces_mae_mev_A",
    "forces_rmse_mev_A",
    "dipole_mae_meA",
    "dipole_rmse_meA",
)


def errors_of(
    run_or_stem,
    data,
    split: str = "test",
    fmt: str = "lmdb",
    batch_size: int = 32,
    device: str = "cpu",
    num_workers: int = 0,
) -> dict:
    """Errors of one model (EF or dipole) on a split, with per-element breakdown."""
    stem = model_stem(run_or_stem)
    model, spec = load_model(stem, device=device)
    manifest = load_manifest(data)
    check_elements(
        spec["atomic_numbers"],
        [int(z) for z in manifest.get("elements") or manifest.get("e0s") or {}],
        f"{data}/manifest.json (model {stem})",
    )
    builder = GraphBuilder(spec["atomic_numbers"], spec["architecture"]["r_max"], spec["precision"])
    loader = eval_batches(data, split, builder, batch_size, fmt=fmt, num_workers=num_workers)
    sums = evaluate(model, loader, spec["kind"], spec, DistInfo(device=torch.device(device)))
    return {"kind": spec["kind"], "model": str(stem), **sums.metrics(spec["atomic_numbers"])}


def evaluate_errors(
    run,
    data,
    split: str = "test",
    dipole_run=None,
    fmt: str = "lmdb",
    batch_size: int = 32,
    device: str = "cpu",
    write: bool = True,
) -> dict:
    """Table-1 numbers for ``run`` (and optionally a MACE-D ``dipole_run``); writes
    RUN/<split>_errors.json."""
    result = {k: None for k in KEYS}
    parts = [errors_of(run, data, split, fmt, batch_size, device)]
    if dipole_run is not None:
        parts.append(errors_of(dipole_run, data, split, fmt, batch_size, device))
    per_element: dict = {}
    for part in parts:
        result.update({k: v for k, v in part.items() if k in KEYS})
        for el, row in part["per_element"].items():
            per_element.setdefault(el, {}).update(row)
    result.update(
        n_structures=parts[0]["n_structures"],
        split=split,
        data=str(data),
        models={p["kind"]: p["model"] for p in parts},
        per_element=per_element,
    )
    if write:
        (run_dir(run) / f"{split}_errors.json").write_text(json.dumps(result, indent=2))
    return result


def format_table(result: dict) -> str:
    """Human-readable Table-1 row plus per-element breakdown."""

    def fmt(v):
        return "-" if v is None else f"{v:.2f}"

    lines = [
        f"{result['split']} set, {result['n_structures']} structures",
        "  E MAE/RMSE (meV/atom)   F MAE/RMSE (meV/Å)   μ MAE/RMSE (meÅ)",
        f"  {fmt(result['energy_mae_mev_atom']):>7} / {fmt(result['energy_rmse_mev_atom']):<9}"
        f"   {fmt(result['forces_mae_mev_A']):>7} / {fmt(result['forces_rmse_mev_A']):<9}"
        f"   {fmt(result['dipole_mae_meA']):>7} / {fmt(result['dipole_rmse_meA']):<9}",
        "  per element: atoms  structures  F MAE  E MAE  μ MAE",
    ]
    for el, row in result["per_element"].items():
        lines.append(
            f"  {el:>3} {row['n_atoms']:>8} {row['n_structures']:>10}  "
            f"{fmt(row.get('forces_mae_mev_A')):>6}"
            f" {fmt(row.get('energy_mae_mev_atom')):>6} {fmt(row.get('dipole_mae_meA')):>6}"
        )
    return "\n".join(lines)
