"""Run logs on rank 0: metrics.csv, metrics.jsonl and TensorBoard scalars.

Rows are ``{"step", "epoch", "phase": "train"|"val", ...}``. On resume, rows after
the checkpoint's step are dropped first, so a killed-and-resumed run's log reads
like the uninterrupted run's.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

COLUMNS = [
    "step",
    "epoch",
    "phase",
    "loss",
    "lr",
    "loss_energy",
    "loss_forces",
    "loss_dipole",
    "grad_norm",
    "graphs_per_s",
    "skipped_steps",
    "memory_mb",
    "energy_mae_mev_atom",
    "energy_rmse_mev_atom",
    "forces_mae_mev_A",
    "forces_rmse_mev_A",
    "dipole_mae_meA",
    "dipole_rmse_meA",
    "best",
    "wall_time",
]


class MetricsLog:
    def __init__(
        self,
        run_dir: Path,
        enabled: bool = True,
        resume_step: int | None = None,
        tensorboard: bool = True,
    ):
        self.enabled = enabled
        self.csv_path, self.json_path = run_dir / "metrics.csv", run_dir / "metrics.jsonl"
        self.tb = None
        if not enabled:
            return
        if resume_step is not None:
            self._truncate(resume_step)
        elif self.csv_path.exists():
            self.csv_path.unlink()
            self.json_path.unlink(missing_ok=True)
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(run_dir / "tensorboard"), purge_step=resume_step)
            except ImportError:  # tensorboard is optional at run time
                self.tb = None

    def _truncate(self, step: int) -> None:
        if self.json_path.exists():
            rows = [
                json.loads(line) for line in self.json_path.read_text().splitlines() if line.strip()
            ]
            rows = [r for r in rows if r["step"] <= step]
            self.json_path.write_text("".join(json.dumps(r) + "\n" for r in rows))
            with open(self.csv_path, "w", newline="") as fh:
                writer = csv.DictWriter(fh, COLUMNS, extrasaction="ignore")
                writer.writeheader()
                writer.writerows(rows)

    def write(self, row: dict) -> None:
        if not self.enabled:
            return
        row = {**row, "wall_time": time.time()}
        new = not self.csv_path.exists()
        with open(self.csv_path, "a", newline="") as fh:
            writer = csv.DictWriter(fh, COLUMNS, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow(row)
        with open(self.json_path, "a") as fh:
            fh.write(json.dumps(row) + "\n")
        if self.tb is not None:
            for key, value in row.items():
                if isinstance(value, (int, float)) and key not in ("step", "epoch", "wall_time"):
                    self.tb.add_scalar(f"{row['phase']}/{key}", value, row["step"])

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def read_rows(run_dir: Path, phase: str | None = None) -> list[dict]:
    """Rows of ``metrics.jsonl`` (optionally one phase)."""
    path = Path(run_dir) / "metrics.jsonl"
    rows = (
        [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        if path.exists()
        else []
    )
    return [r for r in rows if phase is None or r["phase"] == phase]
