"""Active learning: a tiny run end to end, killed mid-labelling and resumed without losing or
repeating an oracle call; oracle failures recorded and skipped."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml

from mace4ir.active_learning.labels import LabelStore, frame_id
from mace4ir.active_learning.oracle import OracleSpec, label

TINY = {
    "initial_per_mode": 2,
    "holdout_per_molecule": 3,
    "frames_per_temperature": 1,
    "min_separation_steps": 10,
    "workers": 1,
    "explore": {"temperatures_K": [300.0, 700.0], "replicas": 1, "steps": 40, "record_every": 10},
    "fit": {"committee": 2, "first_max_steps": 6, "max_steps": 3},
    "final_fit_steps": 0,
    "stop": {"max_iterations": 2, "frequency_spread_cm1": 0.0},
}


def run_cli(out, foundation, config, env_extra=None, wait=True, extra=()):
    cmd = [
        sys.executable,
        "-m",
        "mace4ir.cli",
        "active-learn",
        "O",
        "--out",
        str(out),
        "--ef",
        str(foundation["ef"]),
        "--dipole",
        str(foundation["dipole"]),
        "--config",
        str(config),
        *extra,
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1", **(env_extra or {}))
    proc = subprocess.Popen(
        cmd,
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    if wait:
        out_text = proc.communicate(timeout=900)[0]
        assert proc.returncode == 0, out_text[-3000:]
    return proc


def label_files(out):
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (out / "labels").glob("*.npz")}


def test_killed_run_resumes_without_losing_or_repeating_oracle_calls(tiny_foundation, tmp_path):
    config = tmp_path / "al.yaml"
    config.write_text(yaml.safe_dump(TINY))
    out = tmp_path / "al"
    proc = run_cli(out, tiny_foundation, config, {"MACE4IR_AL_PAUSE_AT": "label:5"}, wait=False)
    paused = out / "labels" / "PAUSED"
    deadline = time.time() + 600
    while not paused.is_file():
        assert proc.poll() is None, proc.stdout.read()[-3000:]
        assert time.time() < deadline, "the run never reached the pause point"
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = label_files(out)
    assert len(before) == 5  # 3 held-out frames + 2 of the initial normal-mode frames
    paused.unlink()

    run_cli(out, tiny_foundation, config)
    after = label_files(out)
    assert all(after[name] == before[name] for name in before)  # not one label recomputed
    selected = []
    for it in sorted((out / "iterations").glob("iter_*")):
        with np.load(it / "selected.npz") as z:
            selected += [
                frame_id(z[f"numbers_{i}"], z[f"positions_{i}"]) for i in range(int(z["n"]))
            ]
    assert len(selected) == 6 + 2  # 2 per mode for 3 modes; then 1 per temperature
    expected = set(selected) | {n[:-4] for n in before}  # none lost
    assert {n[:-4] for n in after} == expected
    rows = list(csv.DictReader(open(out / "history.csv")))
    assert [int(r["iteration"]) for r in rows] == [0, 1]
    assert int(rows[-1]["oracle_calls"]) == len(expected)
    assert float(rows[-1]["holdout_force_mae_meV_A"]) > 0
    committee = json.loads((out / "committee" / "committee.json").read_text())
    assert len(committee["ef"]) == 2 and len(committee["dipole"]) == 1
    assert (out / "data" / "labelled.extxyz").is_file() and (
        out / "data" / "prepared" / "manifest.json"
    ).is_file()
    assert (out / "history.png").is_file()
    import mace4ir

    assert mace4ir.load(out / "release", committee=True).size == 2  # the final committee, released
    state = json.loads((out / "state.json").read_text())
    assert state["done"] and "2 iterations" in state["stop_reason"]
    costs = state["costs"]  # what the time budgets predict from
    assert "iteration" not in costs["0"]  # killed and resumed: its cost would read too low
    assert costs["0"]["fit"]["steps"] == 6 and costs["1"]["fit"]["steps"] == 3
    assert costs["1"]["iteration"]["CPU"] > costs["1"]["fit"]["CPU"] > 0
    assert costs["1"]["iteration"]["wall"] > costs["1"]["fit"]["wall"] > 0


def history_rows(out):
    with open(out / "history.csv") as fh:
        return [(int(r["iteration"]), r["fit"]) for r in csv.DictReader(fh)]


def test_final_refit_is_released_and_a_finished_run_continues_when_its_budget_grows(
    tiny_foundation, tmp_path
):
    config = tmp_path / "al.yaml"
    refit = {"final_fit_steps": 4, "final_fit_lr": 0.05, "final_fit_batch_size": 4}
    config.write_text(yaml.safe_dump({**TINY, **refit}))
    out = tmp_path / "al"
    run_cli(out, tiny_foundation, config, extra=["--max-iterations", "1"])
    assert history_rows(out) == [(0, "loop"), (0, "final")]
    final = out / "final" / "after_iter_000_steps_4_lr_0.05_batch_4_no_bootstrap" / "committee"
    train = yaml.safe_load((final / "ef_01" / "ef" / "config.yaml").read_text())["train"]
    assert train["max_steps"] == 4  # refitted from the foundation with final_fit_steps ...
    assert train["optimizer"]["lr"] == 0.05  # ... at final_fit_lr
    assert train["batch_size"] == 4  # ... in batches of final_fit_batch_size
    assert json.loads((final / "ef_01" / "finetune.json").read_text())["bootstrap"] is False
    loop = out / "iterations" / "iter_000" / "committee" / "ef_01"
    loop_train = yaml.safe_load((loop / "ef" / "config.yaml").read_text())["train"]
    assert (loop_train["optimizer"]["lr"], loop_train["batch_size"]) == (0.03, 16)  # the loop's
    assert json.loads((loop / "finetune.json").read_text())["bootstrap"] is True  # the loop's
    released = json.loads((out / "committee" / "committee.json").read_text())
    assert all(
        "final/after_iter_000_steps_4_lr_0.05_batch_4_no_bootstrap/" in r
        for runs in released.values()
        for r in runs
    )
    labelled = (out / "data" / "labelled.extxyz").read_text().count("Properties=")
    assert labelled == 6  # 2 normal-mode frames per mode, 3 modes
    plan = json.loads((out / "state.json").read_text())["final_fit"]
    assert (plan["requested"], plan["steps"]) == (4, 4)  # no time budget: all the steps
    assert plan["predicted"]["CPU"] > 0  # from the loop's fit (one: all cost per step)
    refit_cost = json.loads((out / "state.json").read_text())["costs"]["0"]["refit"]
    assert refit_cost["steps"] == 4 and refit_cost["CPU"] > 0
    before = label_files(out)

    run_cli(out, tiny_foundation, config)  # TINY's budget: 2 iterations
    assert history_rows(out) == [(0, "loop"), (0, "final"), (1, "loop"), (1, "final")]
    after = label_files(out)
    assert all(after[name] == before[name] for name in before) and len(after) == len(before) + 2
    assert (out / "data" / "labelled.extxyz").read_text().count("Properties=") == 6 + 2
    manifest = json.loads((out / "data" / "prepared" / "manifest.json").read_text())
    assert manifest["kept"] == 6 + 2  # the prepared copy follows the new labels
    released = json.loads((out / "committee" / "committee.json").read_text())
    assert all(
        "final/after_iter_001_steps_4_lr_0.05_batch_4_no_bootstrap/" in r
        for runs in released.values()
        for r in runs
    )
    state = json.loads((out / "state.json").read_text())
    assert state["done"] and "2 iterations" in state["stop_reason"]


def test_oracle_failures_are_recorded_and_never_retried(tmp_path):
    spec = OracleSpec(
        "pbe0", (("basis", "sto-3g"), ("max_cycle", 1))
    )  # one SCF cycle: never converges
    store = LabelStore(tmp_path, spec)
    frame = (np.array([1, 1]), np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.74]]))
    (fid,) = store.label_frames([frame])
    failure = json.loads(store.failed_path(fid).read_text())
    assert "SCF not converged" in failure["error"]
    assert store.records([fid]) == [] and store.calls() == 1 and store.failures() == 1
    stamp = store.failed_path(fid).stat().st_mtime_ns
    store.label_frames([frame])  # a rerun does not try again (each try is an oracle call)
    assert store.failed_path(fid).stat().st_mtime_ns == stamp and store.calls() == 1


def test_labels_are_formation_energies_in_the_sample_convention():
    from ase import units
    from ase.build import molecule

    from mace4ir.data_prep.sample import atom_reference_energy
    from mace4ir.evaluation.calculators.xtb import xtb_calculator

    water = molecule("H2O")
    lab = label(OracleSpec("xtb"), water.numbers, water.positions)
    water.calc = xtb_calculator()
    total = water.get_potential_energy()
    refs = sum(atom_reference_energy(int(z)) for z in water.numbers) * units.Hartree
    assert lab["energy"] == pytest.approx(total - refs, abs=1e-6)
    np.testing.assert_allclose(lab["forces"], water.get_forces(), atol=1e-8)


def test_active_learning_from_scratch(tmp_path):
    """No starting model: fresh members of the scratch configs, then the usual loop."""
    from mace4ir.active_learning.loop import active_learn
    from mace4ir.active_learning.options import load_options

    overrides = {
        **TINY,
        "initial_per_mode": 3,
        "fit": {**TINY["fit"], "scratch": {"ef": "ef_tiny", "dipole": "dipole_tiny"}},
        "stop": {"max_iterations": 1},
    }
    out = active_learn(load_options(["O"], tmp_path / "al", None, overrides))
    spec = json.loads((out / "iterations/iter_000/committee/ef_00/ef/best_model.json").read_text())
    assert spec["atomic_numbers"] == [1, 8]  # built for the data, not inherited from a foundation
    config = yaml.safe_load(
        (out / "iterations/iter_000/committee/ef_01/ef/config.yaml").read_text()
    )
    assert config["model"] == "ef_tiny" and config["train"]["seed"] == 1000
    rows = list(csv.DictReader(open(out / "history.csv")))
    assert len(rows) == 1 and float(rows[0]["holdout_force_mae_meV_A"]) > 0


def test_bad_selection_is_a_clear_error(tmp_path):
    from mace4ir.active_learning.options import load_options
    from mace4ir.errors import ConfigError

    with pytest.raises(ConfigError, match="selection must be"):
        load_options(["O"], tmp_path, None, {"selection": "random"})
    with pytest.raises(ConfigError, match="final_fit_lr must be a positive number, got -0.1"):
        load_options(["O"], tmp_path, None, {"final_fit_lr": -0.1})
    with pytest.raises(ConfigError, match="final_fit_batch_size must be a positive integer"):
        load_options(["O"], tmp_path, None, {"final_fit_batch_size": 0})
    with pytest.raises(ConfigError, match="stop.max_cpu_minutes must be a positive number"):
        load_options(["O"], tmp_path, None, {"stop": {"max_cpu_minutes": -5}})
    with pytest.raises(ConfigError, match="initial_temperature_K must be a positive"):
        load_options(["O"], tmp_path, None, {"initial_temperature_K": [300.0, -5.0]})


def test_a_run_recorded_before_a_new_option_resumes_and_other_inputs_are_refused(tmp_path):
    """run.json written before ``fit.bootstrap`` and ``final_fit_bootstrap`` existed: both
    count as at their defaults, so the run resumes (also when moved to another folder); a
    changed input is refused by name."""
    from mace4ir.active_learning.loop import Run
    from mace4ir.active_learning.options import load_options
    from mace4ir.errors import Mace4irError

    out = tmp_path / "al"
    Run(load_options(["O"], out, None, TINY))
    record = json.loads((out / "run.json").read_text())
    del record["fit"]["bootstrap"], record["final_fit_bootstrap"]
    (out / "run.json").write_text(json.dumps(record))
    Run(load_options(["O"], out, None, {**TINY, "final_fit_bootstrap": True}))  # may change
    moved = tmp_path / "moved"
    out.rename(moved)  # a run folder moved elsewhere continues there
    Run(load_options(["O"], moved, None, TINY))
    with pytest.raises(Mace4irError, match=r"other inputs \(fit\); use another --out"):
        Run(load_options(["O"], moved, None, {**TINY, "fit": {**TINY["fit"], "bootstrap": False}}))


def test_uniform_selection_ignores_the_committee_and_uncertainty_follows_it():
    from mace4ir.active_learning.sampling import Candidate, choose_frames

    pos = np.zeros((1, 3))
    pool = [
        Candidate(0, step, u, pos) for step, u in zip(range(0, 1000, 100), np.linspace(0, 1, 10))
    ]
    assert [c.step for c in choose_frames("uncertainty", pool, 2, 150)] == [900, 700]
    assert [c.step for c in choose_frames("uniform", pool, 2, 150)] == [300, 600]


def test_weighted_selection_draws_in_proportion_to_disagreement():
    """Stochastic acquisition: a frame with three times the disagreement is drawn three
    times as often; a seed repeats its draw; picks keep their distance on a trajectory."""
    from mace4ir.active_learning.sampling import Candidate, choose_frames

    pos = np.zeros((1, 3))
    pair = [Candidate(0, 0, 3.0, pos), Candidate(1, 0, 1.0, pos)]
    firsts = [choose_frames("weighted", pair, 1, 100, seed=s)[0].trajectory for s in range(4000)]
    assert abs(firsts.count(0) / 4000 - 0.75) < 0.03  # binomial sd 0.007
    pool = [Candidate(0, step, 1.0 + step / 1000, pos) for step in range(0, 2000, 20)]
    picks = choose_frames("weighted", pool, 5, 200, seed=7)
    assert [c.step for c in picks] == [c.step for c in choose_frames("weighted", pool, 5, 200, 7)]
    steps = sorted(c.step for c in picks)
    assert len(steps) == 5 and min(np.diff(steps)) >= 200
    assert steps != [c.step for c in choose_frames("uncertainty", pool, 5, 200)]


def test_oracle_md_frames_interleave_temperatures_and_resume(tmp_path):
    """The plain-MD baseline's frames: GFN2-xTB MD at each temperature, after thermalisation,
    interleaved so that a budget cut keeps every temperature; a rerun reads the same frames."""
    from ase.io import read

    from mace4ir.active_learning.exploration import ExploreOptions
    from mace4ir.active_learning.oracle_md import oracle_md_frames
    from mace4ir.active_learning.reference import reference
    from mace4ir.molecules import load_molecule

    ref, _ = reference(OracleSpec("xtb"), load_molecule("O"), tmp_path / "ref", "water")
    explore = ExploreOptions(temperatures_K=(300.0, 700.0))
    kw = dict(every=4, folder=tmp_path / "md", seed=1, thermalization_ps=0.005)
    frames = oracle_md_frames(OracleSpec("xtb"), ref, 5, explore, **kw)
    assert len(frames) == 5
    hot = read(tmp_path / "md" / "T700K" / "traj" / "mol000_rep000.extxyz", index=":")
    cold = read(tmp_path / "md" / "T300K" / "traj" / "mol000_rep000.extxyz", index=":")
    n_therm = 10  # 0.005 ps at 0.5 fs
    cold = [a.positions for a in cold if a.info["step"] > n_therm]
    hot = [a.positions for a in hot if a.info["step"] > n_therm]
    expected = [cold[0], hot[0], cold[1], hot[1], cold[2]]
    for got, want in zip(frames, expected):
        np.testing.assert_allclose(got, want, atol=1e-6)
    assert all(np.abs(f - ref.atoms.positions).max() < 0.6 for f in frames)  # near the minimum
    traj = tmp_path / "md" / "T700K" / "traj" / "mol000_rep000.extxyz"
    stamp = traj.stat().st_mtime_ns
    again = oracle_md_frames(OracleSpec("xtb"), ref, 5, explore, **kw)
    np.testing.assert_allclose(np.array(again), np.array(frames), atol=1e-6)
    assert traj.stat().st_mtime_ns == stamp  # read back, not run again


def test_normal_mode_frames_follow_equipartition_at_each_temperature():
    """Initial frames over several temperatures: the first ones get the remainder, and the
    harmonic energy of each temperature's frames is kT/2 per mode (equipartition)."""
    from ase import units
    from ase.build import molecule

    from mace4ir.active_learning.sampling import normal_mode_frames
    from mace4ir.evaluation import harmonic_ir
    from mace4ir.evaluation.calculators.xtb import xtb_calculator

    ref = harmonic_ir(molecule("H2O"), xtb_calculator(), optimizer="BFGS", method="fd")
    sqrt_m = np.sqrt(ref.atoms.get_masses())[:, None]
    modes = (ref.modes * sqrt_m).reshape(len(ref.modes), -1)
    modes /= np.linalg.norm(modes, axis=1, keepdims=True)
    omega2 = (ref.frequencies_cm1 / 521.47091) ** 2  # (cm^-1 -> sqrt(eV/(Å² amu)))²

    def mean_energy(frames):
        q = np.array([((p - ref.atoms.positions) * sqrt_m).ravel() for p in frames]) @ modes.T
        return float(np.mean(0.5 * (q**2 * omega2).sum(axis=1)))

    assert len(normal_mode_frames(ref, 7, [300.0, 900.0], [0, 1])) == 7
    frames = normal_mode_frames(ref, 8001, [300.0, 900.0], [0, 1])
    cold, hot = frames[:4001], frames[4001:]  # 4001 at 300 K, 4000 at 900 K
    for part, temp in ((cold, 300.0), (hot, 900.0)):
        assert mean_energy(part) == pytest.approx(1.5 * units.kB * temp, rel=0.05)
