"""Learning-rate schedule: linear warm-up, then ReduceLROnPlateau or cosine decay.

One small object with a ``state_dict`` so a resumed run continues exactly. The
learning rate of step ``s`` is ``base_lr * warmup(s) * (cosine(s) or plateau_scale)``.
"""

from __future__ import annotations

import math

from mace4ir.errors import ConfigError

KINDS = ("plateau", "cosine", "constant")


class LRSchedule:
    def __init__(
        self,
        base_lr: float,
        kind: str = "plateau",
        warmup_steps: int = 0,
        total_steps: int | None = None,
        factor: float = 0.8,
        patience: int = 50,
        threshold: float = 1e-4,
        min_lr: float = 1e-6,
    ):
        if kind not in KINDS:
            raise ConfigError(
                f"training config: scheduler.kind must be one of {KINDS}, got {kind!r}"
            )
        if kind == "cosine" and not total_steps:
            raise ConfigError(
                "training config: the cosine schedule needs a step budget (max_steps or max_epochs)"
            )
        self.base_lr, self.kind, self.warmup_steps, self.total_steps = (
            base_lr,
            kind,
            warmup_steps,
            total_steps,
        )
        self.factor, self.patience, self.threshold, self.min_lr = (
            factor,
            patience,
            threshold,
            min_lr,
        )
        self.plateau_scale, self.best, self.bad_evals = 1.0, math.inf, 0

    def lr(self, step: int) -> float:
        warm = min(1.0, (step + 1) / self.warmup_steps) if self.warmup_steps else 1.0
        if self.kind == "cosine":
            progress = min(
                1.0, max(0, step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps)
            )
            decay = self.min_lr / self.base_lr + (1 - self.min_lr / self.base_lr) * 0.5 * (
                1 + math.cos(math.pi * progress)
            )
        elif self.kind == "plateau":
            decay = self.plateau_scale
        else:
            decay = 1.0
        return max(self.base_lr * warm * decay, self.min_lr if step >= self.warmup_steps else 0.0)

    def apply(self, optimizer, step: int) -> float:
        lr = self.lr(step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        return lr

    def on_validation(self, val_loss: float) -> None:
        """Plateau logic (as torch's ReduceLROnPlateau, relative threshold): shrink after
        ``patience`` evaluations without improvement."""
        if self.kind != "plateau":
            return
        if val_loss < self.best * (1 - self.threshold):
            self.best, self.bad_evals = val_loss, 0
        else:
            self.bad_evals += 1
            if self.bad_evals > self.patience:
                self.plateau_scale *= self.factor
                self.bad_evals = 0

    def state_dict(self) -> dict:
        return {"plateau_scale": self.plateau_scale, "best": self.best, "bad_evals": self.bad_evals}

    def load_state_dict(self, state: dict) -> None:
        self.plateau_scale, self.best, self.bad_evals = (
            state["plateau_scale"],
            state["best"],
            state["bad_evals"],
        )
