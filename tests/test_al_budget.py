"""Time budgets of an active-learning run cover the final refit: the loop stops before an
iteration that would leave it too little, and the refit shrinks to what is left."""

import json
from types import SimpleNamespace

import pytest

from mace4ir.active_learning import budget
from mace4ir.active_learning.loop import _stop_reason
from mace4ir.active_learning.options import StopRules

# two fits measured: 1000 steps cost 60 + 1000 * 0.3 = 360 s, 400 steps 60 + 120 = 180 s
COSTS = {
    "0": {
        "iteration": {"CPU": 600.0, "wall": 400.0},
        "fit": {"CPU": 360.0, "wall": 240.0, "steps": 1000},
    },
    "1": {
        "iteration": {"CPU": 300.0, "wall": 200.0},
        "fit": {"CPU": 180.0, "wall": 120.0, "steps": 400},
    },
}


def fake_run(tmp_path, cpu_min, costs=COSTS, wall_min=1.0, **stop):
    rows = [{"frequency_spread_cm1": 9.0, "holdout_force_mae_meV_A": 50.0}]
    (tmp_path / "iter_001").mkdir(exist_ok=True)
    (tmp_path / "iter_001" / "assessment.json").write_text(json.dumps(rows))
    opts = SimpleNamespace(
        stop=StopRules(**stop),
        final_fit_steps=1500,
        final_fit_batch_size=8,  # the loop's (configs/train/finetune.yaml): ratio 1
        fit=SimpleNamespace(config="finetune", overrides={}),
    )
    return SimpleNamespace(
        opts=opts,
        state={"costs": costs},
        iteration_dir=lambda k: tmp_path / f"iter_{k:03d}",
        labels=SimpleNamespace(calls=lambda: 100),
        elapsed_s=lambda: 60.0 * wall_min,
        cpu_s=lambda: 60.0 * cpu_min,
    )


def test_refit_cost_is_fitted_to_the_loops_fits(tmp_path):
    run = fake_run(tmp_path, 0.0)
    start, per_step = budget.refit_cost_model(run, "CPU")
    assert start == pytest.approx(60.0) and per_step == pytest.approx(0.3)
    assert budget.refit_cost(run, "CPU", 1500, 1.0) == pytest.approx(510.0)
    # a batch twice the loop's: start-up once, each step twice a loop step
    assert budget.refit_cost(run, "CPU", 1500, 2.0) == pytest.approx(960.0)
    one = fake_run(tmp_path, 0.0, {"0": COSTS["0"]})  # one step count: all cost per step
    assert budget.refit_cost_model(one, "wall") == (0.0, 0.24)
    # ... which holds the start-up: a step of twice the batch counts sqrt(2), not 2
    assert budget.refit_cost(one, "wall", 1000, 2.0) == pytest.approx(240.0 * 2**0.5)
    assert budget.refit_cost_model(fake_run(tmp_path, 0.0, {}), "CPU") == (0.0, 0.0)
    assert budget.batch_ratio(16, 8) == 2.0
    assert budget.batch_ratio(None, 8) == 1.0


def test_the_loop_stops_before_an_iteration_that_leaves_the_refit_too_little(tmp_path):
    # budget 20 CPU min: spent + next iteration (5 min, iteration 1's) + refit (8.5 min)
    assert _stop_reason(fake_run(tmp_path, 6.4, max_cpu_minutes=20.0), 1) is None
    reason = _stop_reason(fake_run(tmp_path, 6.6, max_cpu_minutes=20.0), 1)
    assert reason == (
        "CPU budget: 6.6 of 20 min spent, another iteration (~5.0) and the final refit (~8.5) "
        "would not fit"
    )
    wall = _stop_reason(fake_run(tmp_path, 0.0, wall_min=3.0, max_minutes=10.0), 1)
    assert wall.startswith("wall budget: 3.0 of 10 min spent")  # 3 + 3.3 + 5.8 >= 10
    assert _stop_reason(fake_run(tmp_path, 100.0), 1) is None  # no budget set
    # nothing measured yet (a resumed run): the budget alone decides
    assert _stop_reason(fake_run(tmp_path, 19.9, {}, max_cpu_minutes=20.0), 1) is None
    assert "20.0 of 20 min spent" in _stop_reason(
        fake_run(tmp_path, 20, {}, max_cpu_minutes=20.0), 1
    )


def test_the_refit_shrinks_to_the_budget_left_and_keeps_a_floor(tmp_path):
    run = fake_run(tmp_path, 10.0, max_cpu_minutes=20.0)  # 600 s left: (600 - 60) / 0.3
    assert budget.affordable_refit_steps(run, 1500, 1.0) == 1500
    assert budget.affordable_refit_steps(run, 1500, 1.5) == 1200  # 540 / 0.45
    run = fake_run(tmp_path, 10.0, max_cpu_minutes=20.0, max_minutes=2.0)  # 120 - 60 - 40 s
    assert budget.affordable_refit_steps(run, 1500, 1.0) == 150  # 100 fit: the 10 % floor
    run = fake_run(tmp_path, 10.0, max_minutes=5.0)  # 300 - 60 - 40 s of wall, 0.2 s per step
    assert budget.affordable_refit_steps(run, 1500, 1.0) == 1000
