"""Options of an active-learning run: built-in defaults (configs/active_learning.yaml), a
user YAML and command-line overrides, validated."""

from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, field, fields, is_dataclass
from pathlib import Path

from mace4ir.active_learning.exploration import ExploreOptions
from mace4ir.active_learning.oracle import OracleSpec
from mace4ir.config import load_config, merge
from mace4ir.errors import ConfigError

SELECTIONS = ("uncertainty", "weighted", "uniform")
INITIAL_SAMPLINGS = ("normal_modes", "oracle_md")


@dataclass
class StopRules:
    frequency_spread_cm1: float | None = 5.0  # committee's mean per-mode harmonic spread
    holdout_force_mae_meV_A: float | None = None  # held-out oracle force error
    max_iterations: int = 40
    max_oracle_calls: int | None = 600  # all molecules together, held-out frames included
    # wall time of the whole run (final refit included: budget.py), summed over resumed attempts
    max_minutes: float | None = None
    max_cpu_minutes: float | None = None  # CPU time (all processes), likewise

    def __post_init__(self):
        for name in ("max_minutes", "max_cpu_minutes"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and value > 0):
                raise ConfigError(
                    f"stop.{name} must be a positive number of minutes, got {value!r}"
                )


@dataclass
class FitOptions:
    committee: int = 3  # EF members (their spread is the uncertainty)
    dipole_members: int = 1
    first_max_steps: int = 1500  # fine-tuning steps in iteration 0 (from the foundation)
    max_steps: int = 400  # steps per later iteration (members continue from their weights)
    config: str = "finetune"  # training config
    data_elements_only: bool = True  # members know the molecules' elements only: ~5x cheaper
    scratch: dict = field(default_factory=lambda: {"ef": "ef_small", "dipole": "dipole"})
    val_fraction: float = 0.1
    bootstrap: bool = True  # EF members on bootstrap resamples: they disagree where data are thin
    overrides: dict = field(default_factory=dict)  # any training-config keys


@dataclass
class ALOptions:
    molecules: list[str]  # SMILES or structure files
    out: Path
    oracle: OracleSpec = field(default_factory=OracleSpec)
    source: str | None = None  # release folder / Hub id / fine-tuning source of the EF+D pair
    ef: str | None = None  # or a training RUN of each kind
    dipole: str | None = None
    initial_per_mode: int = 8  # initial frames per vibrational mode and molecule
    # of normal-mode sampling; a list shares the frames out evenly over its temperatures
    initial_temperature_K: float | list[float] = 300.0
    initial_sampling: str = "normal_modes"  # or "oracle_md": the plain-MD (AIMD-style) baseline
    oracle_md_every_steps: int = 40  # oracle_md: steps between two frames of one trajectory
    holdout_per_molecule: int = 10  # held-out oracle frames per molecule (never trained on)
    frames_per_temperature: int = 5  # labelled per molecule, temperature and iteration
    min_separation_steps: int = 200  # between two frames taken from one trajectory
    # or "weighted": drawn with probability ~ disagreement; "uniform": evenly spaced (baseline)
    selection: str = "uncertainty"
    explore: ExploreOptions = field(default_factory=ExploreOptions)
    fit: FitOptions = field(default_factory=FitOptions)
    stop: StopRules = field(default_factory=StopRules)
    # after the loop: the committee refitted from the starting model on all labels with this
    # many steps (the loop's members, a few hundred steps at a time, stay under-trained);
    # 0 or None: release the last iteration's committee. Like ``stop``, may change on a rerun.
    final_fit_steps: int | None = None
    final_fit_lr: float | None = None  # the refit's learning rate (None: the loop's, fit.overrides)
    final_fit_bootstrap: bool = False  # refit members on bootstrap resamples (False: all labels)
    final_fit_batch_size: int | None = None  # the refit's batch size (None: the loop's)
    harmonic_reference: bool = True  # oracle harmonic spectrum (cheap for xtb) for the history
    workers: int = 0  # oracle processes (0: one per core)
    seed: int = 0

    def __post_init__(self):
        if self.selection not in SELECTIONS:
            raise ConfigError(
                f"selection must be one of {', '.join(SELECTIONS)}, got {self.selection!r}"
            )
        if self.final_fit_lr is not None and not self.final_fit_lr > 0:
            raise ConfigError(f"final_fit_lr must be a positive number, got {self.final_fit_lr!r}")
        batch = self.final_fit_batch_size
        if batch is not None and not (isinstance(batch, int) and batch > 0):
            raise ConfigError(f"final_fit_batch_size must be a positive integer, got {batch!r}")
        temps = self.initial_temperature_K
        listed = temps if isinstance(temps, (list, tuple)) else [temps]
        if not listed or not all(isinstance(t, (int, float)) and t > 0 for t in listed):
            raise ConfigError(
                f"initial_temperature_K must be a positive temperature or a list of them, "
                f"got {temps!r}"
            )
        if self.initial_sampling not in INITIAL_SAMPLINGS:
            raise ConfigError(
                f"initial_sampling must be one of {', '.join(INITIAL_SAMPLINGS)}, "
                f"got {self.initial_sampling!r}"
            )

    @property
    def initial_temperatures(self) -> list[float]:
        temps = self.initial_temperature_K
        return [float(t) for t in (temps if isinstance(temps, (list, tuple)) else [temps])]

    def record(self) -> dict:
        """The inputs a resumed run must share (JSON-able)."""
        out = asdict(self)
        out["out"] = str(self.out)
        out["oracle"] = {"name": self.oracle.name, "options": dict(self.oracle.options)}
        return out


def load_options(
    molecules, out, config: str | None = None, overrides: dict | None = None
) -> ALOptions:
    """Defaults <- ``config`` <- ``overrides`` (nested dicts; None values ignored)."""
    cfg = load_config("active_learning")
    if config:
        cfg = merge(cfg, load_config(config))
    cfg = merge(cfg, _drop_none(overrides or {}))
    try:
        return ALOptions(
            molecules=list(molecules),
            out=Path(out),
            oracle=OracleSpec(
                cfg.pop("oracle", "xtb"),
                tuple(sorted((cfg.pop("oracle_options", None) or {}).items())),
            ),
            explore=_build(ExploreOptions, cfg.pop("explore", {}), "explore"),
            fit=_build(FitOptions, cfg.pop("fit", {}), "fit"),
            stop=_build(StopRules, cfg.pop("stop", {}), "stop"),
            **_known(ALOptions, cfg, ""),
        )
    except TypeError as exc:
        raise ConfigError(f"active-learning options: {exc}") from None


def with_new_defaults(record: dict) -> dict:
    """A run's recorded options (its run.json) with every option newer than the record, nested
    ones too, at its default: such runs resume, and readers of the record see every key."""
    out = {f.name: f.default for f in fields(ALOptions) if f.default is not MISSING} | record
    for f in fields(ALOptions):
        default = f.default_factory() if f.default_factory is not MISSING else None
        if is_dataclass(default) and isinstance(out.get(f.name), dict):
            out[f.name] = json.loads(json.dumps(asdict(default))) | out[f.name]
    return out


def _build(cls, values: dict, where: str):
    values = _known(cls, values, f"{where}.")
    if "temperatures_K" in values:
        values["temperatures_K"] = tuple(float(t) for t in values["temperatures_K"])
    return cls(**values)


def _known(cls, values: dict, prefix: str) -> dict:
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(
            f"active-learning options: unknown key(s) {', '.join(prefix + k for k in unknown)}"
        )
    return dict(values)


def _drop_none(d: dict) -> dict:
    return {k: _drop_none(v) if isinstance(v, dict) else v for k, v in d.items() if v is not None}
