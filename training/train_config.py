"""Training configuration: built-in defaults (configs/train/default.yaml) + a user YAML +
command-line overrides, validated (unknown keys are errors, not silently ignored)."""

from __future__ import annotations

from mace4ir.config import load_config, merge
from mace4ir.errors import ConfigError

FORMATS = ("lmdb", "webdataset")


def unknown_keys(cfg: dict, ref: dict, prefix: str = "") -> list[str]:
    out = []
    for key, value in cfg.items():
        if key not in ref:
            out.append(prefix + key)
        elif isinstance(value, dict) and isinstance(ref[key], dict):
            out += unknown_keys(value, ref[key], f"{prefix}{key}.")
    return out


def resolve(config: str | None = None, overrides: dict | None = None) -> dict:
    """Defaults <- ``config`` (name in configs/train/ or a YAML path) <- ``overrides`` (None values
    ignored)."""
    defaults = load_config("default", group="train")
    cfg = defaults
    if config:
        user = load_config(config, group="train")
        bad = unknown_keys(user, defaults)
        if bad:
            raise ConfigError(f"training config {config}: unknown key(s) {', '.join(bad)}")
        cfg = merge(defaults, user)
    cfg = merge(cfg, _drop_none(overrides or {}))
    bad = unknown_keys(cfg, defaults)
    if bad:
        raise ConfigError(f"training options: unknown key(s) {', '.join(bad)}")
    validate(cfg, config or "defaults")
    return cfg


def _drop_none(d: dict) -> dict:
    return {k: _drop_none(v) if isinstance(v, dict) else v for k, v in d.items() if v is not None}


def validate(cfg: dict, where: str) -> None:
    def need(cond, msg):
        if not cond:
            raise ConfigError(f"training config {where}: {msg}")

    need(
        isinstance(cfg["batch_size"], int) and cfg["batch_size"] > 0,
        f"batch_size must be a positive integer, got {cfg['batch_size']!r}",
    )
    need(cfg["format"] in FORMATS, f"format must be one of {FORMATS}, got {cfg['format']!r}")
    need(float(cfg["optimizer"]["lr"]) > 0, "optimizer.lr must be > 0")
    need(cfg["max_steps"] is None or int(cfg["max_steps"]) > 0, "max_steps must be > 0")
    need(int(cfg["max_epochs"]) > 0, "max_epochs must be > 0")
    need(0 < float(cfg["ema"]["decay"]) < 1, "ema.decay must be in (0, 1)")
    need(int(cfg["checkpoint"]["keep"]) >= 1, "checkpoint.keep must be >= 1")
    need(
        set(cfg["loss"]["weights"]) <= {"energy", "forces", "dipole"},
        "loss.weights keys are energy, forces, dipole",
    )
