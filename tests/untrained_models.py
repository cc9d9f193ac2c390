"""Untrained (randomly initialised) EF + D model pairs for tests and speed benchmarks.

They are real mace-torch models built by :func:`mace4ir.training.models.build.build_model`
from a made-up manifest; their energies mean nothing physically, but their
derivatives, batching and cost are those of a trained model of the same size.
"""

from __future__ import annotations

from functools import lru_cache

import torch

from mace4ir.training.models.build import build_model, load_model_config, model_spec

# Rough GFN2-xTB-like atomic energies (eV) so that E0s are of a realistic size.
_E0 = {1: -10.7, 6: -48.8, 7: -71.0, 8: -103.0, 9: -132.0, 16: -120.0, 17: -124.0}


def made_up_manifest(
    elements=(1, 6, 7, 8), force_rms: float = 1.0, avg_num_neighbors: float = 8.0
) -> dict:
    return {
        "e0s": {str(z): _E0.get(z, -50.0) for z in elements},
        "avg_num_neighbors": avg_num_neighbors,
        "statistics": {"force_rms": force_rms, "interaction_energy_per_atom_mean": 0.0},
    }


@lru_cache(maxsize=4)
def untrained_pair(
    ef_config="ef_tiny",
    dipole_config="dipole_tiny",
    elements=(1, 6, 7, 8),
    precision=None,
    seed: int = 0,
):
    """(ef_model, ef_spec, dipole_model, dipole_spec), deterministic for a given seed.

    Cached (building a mace model takes seconds): treat the returned models as read-only.
    """
    manifest = made_up_manifest(tuple(elements))
    out = []
    for i, name in enumerate((ef_config, dipole_config)):
        spec = model_spec(load_model_config(name, precision), manifest)
        torch.manual_seed(seed + i)
        out += [build_model(spec).eval(), spec]
    return tuple(out)
