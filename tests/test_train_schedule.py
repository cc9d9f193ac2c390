"""Learning-rate schedule (warm-up, plateau, cosine) and the stage-two loss-weight switch."""

import math

import pytest

from mace4ir.errors import ConfigError
from mace4ir.training.loop.loss import weights_at
from mace4ir.training.loop.schedule import LRSchedule


def test_warmup_then_cosine_reaches_min_lr():
    s = LRSchedule(1e-2, "cosine", warmup_steps=10, total_steps=110, min_lr=1e-5)
    assert s.lr(0) == pytest.approx(1e-3)  # (step+1)/warmup
    assert s.lr(9) == pytest.approx(1e-2)
    assert s.lr(60) == pytest.approx(1e-5 + (1e-2 - 1e-5) * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert s.lr(110) == pytest.approx(1e-5)
    assert all(s.lr(k) >= s.lr(k + 1) for k in range(10, 110))


def test_plateau_shrinks_after_patience_and_state_round_trips():
    s = LRSchedule(1e-2, "plateau", warmup_steps=0, factor=0.5, patience=2)
    for loss in (1.0, 0.9, 0.95, 0.95):  # improvement, then 2 bad evaluations: not yet
        s.on_validation(loss)
    assert s.lr(100) == pytest.approx(1e-2)
    s.on_validation(0.95)  # third bad one > patience
    assert s.lr(100) == pytest.approx(5e-3)
    other = LRSchedule(1e-2, "plateau", patience=2, factor=0.5)
    other.load_state_dict(s.state_dict())
    assert other.lr(100) == s.lr(100) and other.best == 0.9


def test_cosine_needs_a_budget_and_kind_is_checked():
    with pytest.raises(ConfigError, match="cosine schedule needs a step budget"):
        LRSchedule(1e-2, "cosine", total_steps=None)
    with pytest.raises(ConfigError, match="scheduler.kind must be one of"):
        LRSchedule(1e-2, "linear")


def test_stage_two_switches_energy_force_weights():
    cfg = {
        "weights": {"energy": 1.0, "forces": 10.0, "dipole": 1.0},
        "stage_two": {"start_step": 80, "weights": {"energy": 10.0, "forces": 1.0}},
    }
    assert (weights_at(79, cfg).energy, weights_at(79, cfg).forces) == (1.0, 10.0)
    assert (weights_at(80, cfg).energy, weights_at(80, cfg).forces, weights_at(80, cfg).dipole) == (
        10.0,
        1.0,
        1.0,
    )
    assert weights_at(10**6, {"weights": cfg["weights"], "stage_two": None}).forces == 10.0
