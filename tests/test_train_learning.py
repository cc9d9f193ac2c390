"""Tiny MACE-EF (float32) and MACE-D (float64) models learn on the sample: their
validation force/dipole errors and the training objective after a short training are
well below those of the untrained model; evaluate-errors writes the Table-1 numbers of both into
test_errors.json."""

import json

import pytest
import torch
from train_helpers import TINY

from mace4ir.data_prep.prepared.reader import load_manifest
from mace4ir.training import evaluate_errors, train
from mace4ir.training.data.loaders import seed_everything
from mace4ir.training.models.build import build_model, load_model_config, model_spec
from mace4ir.training.models.weights_io import load_model, save_model

STEPS = 32


def _untrained(prepared, name, precision, stem):
    seed_everything(123)
    spec = model_spec(load_model_config(name, precision), load_manifest(prepared))
    save_model(build_model(spec), spec, stem)
    return stem


@pytest.fixture(scope="module")
def runs(prepared_sample, tmp_path_factory):
    root = tmp_path_factory.mktemp("learn")
    common = {**TINY, "max_steps": STEPS, "optimizer": {"lr": 0.02}, "eval_every_steps": STEPS}
    ef = train(prepared_sample, root / "ef", model="ef_tiny", precision="float32", **common)
    dip = train(
        prepared_sample,
        root / "dip",
        model="dipole_tiny",
        precision="float64",
        format="webdataset",
        **common,
    )
    return root, ef, dip


def test_ef_float32_learns(prepared_sample, runs):
    root, ef, _ = runs
    before = evaluate_errors(
        _untrained(prepared_sample, "ef_tiny", "float32", root / "ef_init"),
        prepared_sample,
        "val",
        write=False,
    )
    after = evaluate_errors(ef, prepared_sample, "val", write=False)
    assert after["forces_mae_mev_A"] < 0.85 * before["forces_mae_mev_A"]
    # the training objective (energy per atom + 10 x forces, squared) must fall; early on the
    # force term dominates, so the energy error alone may rise first
    objective = lambda r: (
        (r["energy_rmse_mev_atom"] / 1e3) ** 2 + 10 * (r["forces_rmse_mev_A"] / 1e3) ** 2
    )  # noqa: E731
    assert objective(after) < 0.8 * objective(before)
    model, spec = load_model(ef / "best_model")
    assert spec["precision"] == "float32" and next(model.parameters()).dtype == torch.float32


def test_dipole_float64_learns(prepared_sample, runs):
    root, _, dip = runs
    before = evaluate_errors(
        _untrained(prepared_sample, "dipole_tiny", "float64", root / "d_init"),
        prepared_sample,
        "val",
        write=False,
    )
    after = evaluate_errors(dip, prepared_sample, "val", write=False)
    assert after["dipole_mae_meA"] < 0.8 * before["dipole_mae_meA"]
    model, spec = load_model(dip / "best_model")
    assert spec["kind"] == "dipole" and next(model.parameters()).dtype == torch.float64


def test_evaluate_errors_cli_writes_table(prepared_sample, runs, capsys):
    from mace4ir.cli import main

    _, ef, dip = runs
    assert (
        main(["evaluate-errors", str(ef), "--data", str(prepared_sample), "--dipole-run", str(dip)])
        == 0
    )
    printed = capsys.readouterr().out
    result = json.loads((ef / "test_errors.json").read_text())
    n_test = load_manifest(prepared_sample)["splits"]["test"]["count"]
    assert result["n_structures"] == n_test
    for key in ("energy_mae_mev_atom", "forces_rmse_mev_A", "dipole_mae_meA", "dipole_rmse_meA"):
        assert result[key] is not None and result[key] > 0
    assert result["energy_rmse_mev_atom"] >= result["energy_mae_mev_atom"]
    assert "H" in result["per_element"] and "forces_mae_mev_A" in result["per_element"]["H"]
    assert sum(r["n_atoms"] for r in result["per_element"].values()) > n_test
    assert f"{result['forces_mae_mev_A']:.2f}" in printed
