"""Fine-tuning: weights change, the new data's loss falls while the replayed data's stays
bounded, a new element gets a working embedding, energies keep one zero."""

import json

import numpy as np
import pytest
import torch
from finetune_helpers import TINY_TRAIN, xtb_extxyz, xtb_records

from mace4ir.cli import main
from mace4ir.data_prep.prepared.reader import open_records
from mace4ir.elements import element_columns
from mace4ir.training.finetune.elements import donor, extend_elements
from mace4ir.training.finetune.energies import energy_offsets
from mace4ir.training.finetune.run import FinetuneOptions, finetune
from mace4ir.training.models.weights_io import load_model

FT = dict(TINY_TRAIN, max_steps=40, max_epochs=100, optimizer={"lr": 0.01})


@pytest.fixture(scope="module")
def foundation(tiny_foundation):
    return tiny_foundation


def force_mse(run, records) -> float:
    """Mean squared force error (eV/Å)² of a model on records (energies not involved)."""
    from mace4ir.training.data.record_graphs import GraphBuilder, collate

    model, spec = load_model(run / "best_model" if run.is_dir() else run)
    builder = GraphBuilder(spec["atomic_numbers"], spec["architecture"]["r_max"], spec["precision"])
    batch = collate([builder(r) for r in records])
    out = model(batch.to_dict(), training=False, compute_force=True)
    return float(((out["forces"] - batch.forces) ** 2).mean())


def test_finetune_learns_new_molecule_and_replay_keeps_old(foundation, prepared_sample, tmp_path):
    new = xtb_extxyz(tmp_path / "dme.extxyz", "COC", 40)
    heldout = xtb_records("COC", 10, seed=99)
    replay_val = list(open_records(prepared_sample, "val"))
    runs = {}
    for name, fraction in (("replay", 0.5), ("plain", 0.0)):
        runs[name] = finetune(
            FinetuneOptions(
                source=str(foundation["ef"]),
                data=str(new),
                out=str(tmp_path / name),
                kinds=("ef",),
                replay=str(prepared_sample) if fraction else None,
                replay_fraction=fraction,
                overrides=FT,
            )
        )["ef"][0]
    before_new, before_old = (
        force_mse(foundation["ef"], heldout),
        force_mse(foundation["ef"], replay_val),
    )
    after_new = force_mse(runs["replay"], heldout)
    after_old = {k: force_mse(v, replay_val) for k, v in runs.items()}
    assert after_new < 0.7 * before_new  # it learnt the new molecule
    assert after_old["replay"] < 1.5 * before_old  # ... and did not forget the old ones
    assert after_old["replay"] < after_old["plain"]  # which is what replay is for
    old = load_model(foundation["ef"] / "best_model")[0].state_dict()
    new_state = load_model(runs["replay"] / "best_model")[0].state_dict()
    assert any(not torch.equal(old[k], new_state[k]) for k in old if old[k].is_floating_point())
    mixed = json.loads((tmp_path / "replay" / "data" / "manifest.json").read_text())
    assert mixed["splits"]["train"]["count"] == 2 * 36  # 36 new + as many replayed (f = 0.5)


def test_new_element_gets_a_working_embedding(foundation, tmp_path):
    model, spec = load_model(foundation["ef"] / "best_model")
    assert 34 not in spec["atomic_numbers"] and donor(34, spec["atomic_numbers"]) == 16  # Se from S
    extended, new_spec = extend_elements(model, spec, [1, 6, 34])
    assert 34 in new_spec["atomic_numbers"]
    # the old elements are untouched: a Se-free molecule gets bit-identical forces
    dms = xtb_records("CSC", 4)
    assert force_mse(foundation["ef"] / "best_model", dms) == pytest.approx(
        _mse(extended, new_spec, dms), rel=1e-6
    )
    # after fine-tuning on dimethyl selenide the new element predicts well
    data = xtb_extxyz(tmp_path / "dmse.extxyz", "C[Se]C", 40)
    run = finetune(
        FinetuneOptions(
            source=str(foundation["ef"]),
            data=str(data),
            out=str(tmp_path / "se"),
            kinds=("ef",),
            overrides=FT,
        )
    )["ef"][0]
    test = xtb_records("C[Se]C", 10, seed=5)
    assert force_mse(run, test) < 0.5 * _mse(extended, new_spec, test)
    table = element_columns(json.loads((run / "best_model.json").read_text())["atomic_numbers"])
    assert table[34] >= 0


def _mse(model, spec, records) -> float:
    from mace4ir.training.data.record_graphs import GraphBuilder, collate

    builder = GraphBuilder(spec["atomic_numbers"], spec["architecture"]["r_max"], spec["precision"])
    batch = collate([builder(r) for r in records])
    out = model(batch.to_dict(), training=False, compute_force=True)
    return float(((out["forces"] - batch.forces) ** 2).mean())


def test_energy_offsets_recover_a_shifted_zero(foundation):
    model, spec = load_model(foundation["ef"] / "best_model")
    records = xtb_records("CCO", 12)
    base = energy_offsets(model, spec, records)
    shift = {1: 0.3, 6: -1.2, 8: 2.0}  # another code's atom references
    shifted = [
        {**r, "energy": r["energy"] + sum(shift[int(z)] for z in r["atomic_numbers"])}
        for r in records
    ]
    moved = energy_offsets(model, spec, shifted)
    n = {z: np.sum(records[0]["atomic_numbers"] == z) for z in shift}
    total = lambda off: sum(n[z] * off[z] for z in shift)  # noqa: E731  one composition: only the sum is defined
    assert total(moved) - total(base) == pytest.approx(total(shift), abs=1e-6)


def test_cli_refuses_resume_with_other_inputs(foundation, tmp_path):
    data = xtb_extxyz(tmp_path / "w.extxyz", "O", 12)
    argv = [
        "finetune",
        "--from",
        str(foundation["ef"]),
        "--data",
        str(data),
        "--out",
        str(tmp_path / "ft"),
        "--max-steps",
        "2",
        "--no-progress",
    ]
    assert main(argv) == 0
    assert (tmp_path / "ft" / "ef" / "best_model.json").is_file()
    assert main(argv) == 2  # exists: needs --resume
    assert main([*argv, "--resume", "--replay-fraction", "0.3"]) == 2  # other inputs
    assert main([*argv, "--resume"]) == 0


def test_element_table_cut_to_the_data_is_exact_and_cheaper(foundation):
    from mace4ir.training.finetune.elements import with_element_table

    model, spec = load_model(foundation["ef"] / "best_model")
    small, small_spec = with_element_table(model, spec, [1, 6, 8])
    assert small_spec["atomic_numbers"] == [1, 6, 8] and len(spec["atomic_numbers"]) > 3
    records = xtb_records("CCO", 4)
    assert _mse(small, small_spec, records) == pytest.approx(
        force_mse(foundation["ef"], records), rel=1e-6
    )
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert n(small) < n(model)


def test_cut_table_cannot_replay(foundation, prepared_sample, tmp_path):
    from mace4ir.errors import Mace4irError

    data = xtb_extxyz(tmp_path / "w.extxyz", "O", 6)
    opts = FinetuneOptions(
        source=str(foundation["ef"]),
        data=str(data),
        out=str(tmp_path / "x"),
        replay=str(prepared_sample),
        replay_fraction=0.3,
        data_elements_only=True,
    )
    with pytest.raises(Mace4irError, match="cannot replay"):
        finetune(opts)
