"""Tiny trained-run stand-ins for the release tests: real mace-torch models (random
weights) built by training.models and saved by training.model_io, like a training RUN."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from ase.build import molecule

TEST_ARCH = {
    "max_ell": 1,
    "correlation": 2,
}  # smaller than *_tiny: builds ~2.5x faster (e3nn codegen)
MOLECULES = ("CH3CH2OH", "CH3CONH2")  # ethanol; acetamide (has N)
MANIFEST = {
    "e0s": {"1": -13.6, "6": -1029.8, "7": -1484.9, "8": -2041.9},
    "avg_num_neighbors": 6.5,
    "r_max": 5.0,
    "statistics": {
        "force_rms": 1.3,
        "interaction_energy_per_atom_mean": -0.4,
        "energy_per_atom_mean": -500.0,
        "energy_per_atom_std": 20.0,
        "n_train": 250,
    },
    "splits": {"train": {"count": 250}, "val": {"count": 40}, "test": {"count": 40}},
    "rejected": {"charged": 12, "not_singlet": 9, "outlier": 3, "invalid": 0, "corrupt": 0},
    "subsets": {"100": 100, "250": 250},
    "elements": {"1": 300, "6": 300, "7": 80, "8": 150},
    "source": {"kind": "qcml-format sample", "level_of_theory": "GFN2-xTB"},
    "energy_field": "pbe0_formation_energy",
    "seed": 7,
    "split_by": "conformer",
    "units": {},
}
ERRORS = {
    "ef": {
        "energy_mae_mev_atom": 12.5,
        "energy_rmse_mev_atom": 15.0,
        "forces_mae_mev_A": 150.0,
        "forces_rmse_mev_A": 200.0,
        "n_structures": 40,
        "per_element": {},
    },
    "dipole": {
        "dipole_mae_meA": 40.0,
        "dipole_rmse_meA": 55.0,
        "n_structures": 40,
        "per_element": {},
    },
}


def make_run(root: Path, kind: str, with_errors: bool = True, seed: int = 0) -> Path:
    import torch

    from mace4ir.training.models.build import build_model, load_model_config, model_spec
    from mace4ir.training.models.weights_io import save_model

    data = root / "prepared"
    data.mkdir(parents=True, exist_ok=True)
    (data / "manifest.json").write_text(json.dumps(MANIFEST))
    run = root / f"run_{kind}"
    cfg = load_model_config("ef_tiny" if kind == "ef" else "dipole_tiny")
    cfg["architecture"].update(TEST_ARCH)
    spec = model_spec(cfg, MANIFEST)
    torch.manual_seed(seed)
    model = build_model(spec)
    with torch.no_grad():  # make the (zero-initialised) readouts non-trivial
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    save_model(model, spec, run / "best_model")
    (run / "config.yaml").write_text(yaml.safe_dump({"data": str(data), "model": kind}))
    if with_errors:
        (run / "test_errors.json").write_text(json.dumps(ERRORS[kind]))
    return run


@pytest.fixture(scope="session")
def release_runs(tmp_path_factory):
    """(EF run, D run) shared by the release test modules (pytest_plugins =
    ("release_helpers",))."""
    root = tmp_path_factory.mktemp("release_runs")
    return make_run(root, "ef", seed=1), make_run(root, "dipole", seed=2)


@pytest.fixture(scope="session")
def release_folder(release_runs, tmp_path_factory):
    """A release exported from ``release_runs``."""
    from mace4ir.release.export import ExportOptions, export_release

    out = tmp_path_factory.mktemp("release_out") / "release"
    return export_release(
        ExportOptions(ef=release_runs[0], dipole=release_runs[1], out=out, repo_id="org/tiny")
    )


def predictions(calc) -> list[tuple]:
    rows = []
    for name in MOLECULES:
        atoms = molecule(name)
        atoms.rattle(0.05, seed=3)
        atoms.calc = calc
        rows.append((atoms.get_potential_energy(), atoms.get_forces(), atoms.get_dipole_moment()))
    return rows


@pytest.fixture(scope="session")
def release_run_calculator(release_runs):
    from mace4ir.evaluation.calculators.mace_ir import MaceIRCalculator

    return MaceIRCalculator.from_paths(*release_runs)


@pytest.fixture(scope="session")
def release_run_predictions(release_run_calculator):
    return predictions(release_run_calculator)


def assert_same(a: list[tuple], b: list[tuple]) -> None:
    for (e1, f1, d1), (e2, f2, d2) in zip(a, b):
        assert e1 == pytest.approx(e2, rel=0, abs=1e-10)
        np.testing.assert_allclose(f1, f2, rtol=0, atol=1e-10)
        np.testing.assert_allclose(d1, d2, rtol=0, atol=1e-12)
