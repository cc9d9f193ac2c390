"""``mace4ir demo``: the whole pipeline on the built-in sample, as resumable steps.

Each step is a function of a :class:`DemoRun` (see :mod:`.demo_steps`); when it
finishes, ``OUT/.steps/<step>.json`` records its result and wall time. A rerun skips
finished steps, and the long steps (prep, training, MD) resume their own partial
work, so a killed demo continues where it stopped. ``configs/demo.yaml`` holds the
sizes (``full``; ``--quick`` merges ``quick`` over it).
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from mace4ir.config import load_config, merge
from mace4ir.errors import ConfigError, Mace4irError

log = logging.getLogger("mace4ir.demo")

# step -> steps whose results it needs
STEPS: dict[str, tuple[str, ...]] = {
    "sample": (),
    "prep": ("sample",),
    "train_ef": ("prep",),
    "train_dipole": ("prep",),
    "errors": ("train_ef", "train_dipole"),
    "harmonic": ("train_ef", "train_dipole"),
    "md": ("train_ef", "train_dipole"),
    "active_learning": ("train_ef", "train_dipole"),
    "export": ("errors",),
    "push": ("export",),
    "report": ("errors", "harmonic", "md", "active_learning", "push"),
}


def demo_config(config: str | Path | None = None, quick: bool = False) -> dict:
    raw = load_config(config or "demo")
    if "full" not in raw:
        raise ConfigError(
            f"demo config {config or 'demo'}: needs a 'full' section (and optionally 'quick')"
        )
    return merge(raw["full"], raw.get("quick", {})) if quick else raw["full"]


@dataclass
class DemoRun:
    out: Path
    cfg: dict

    @property
    def sample_dir(self) -> Path:
        return self.out / "qcml_sample"

    @property
    def prepared(self) -> Path:
        return self.out / "prepared"

    def run_dir(self, kind: str) -> Path:
        return self.out / "runs" / kind

    @property
    def ir_dir(self) -> Path:
        return self.out / "ir"

    @property
    def release_dir(self) -> Path:
        return self.out / "release"

    def marker(self, step: str) -> Path:
        return self.out / ".steps" / f"{step}.json"

    def done(self, step: str) -> dict | None:
        path = self.marker(step)
        return json.loads(path.read_text()) if path.is_file() else None

    def mark_done(self, step: str, seconds: float, result) -> None:
        path = self.marker(step)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        finished = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        tmp.write_text(
            json.dumps(
                {"seconds": seconds, "finished": finished, "result": result}, indent=2, default=str
            )
        )
        os.replace(tmp, path)

    def timings(self) -> dict[str, float]:
        return {s: d["seconds"] for s in STEPS if (d := self.done(s))}


def check_same_config(run: DemoRun) -> None:
    """Reusing steps is only right if OUT was made with the same demo config."""
    path = run.out / "demo_config.json"
    if path.is_file():
        if json.loads(path.read_text()) != json.loads(json.dumps(run.cfg)):
            raise Mace4irError(
                f"{run.out} holds a demo made with another config (e.g. --quick vs full); "
                "choose another --out"
            )
    else:
        run.out.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(run.cfg, indent=2))


def select_steps(steps: str | list[str] | None) -> list[str]:
    if steps is None:
        return list(STEPS)
    names = [
        s.strip() for s in (steps.split(",") if isinstance(steps, str) else steps) if s.strip()
    ]
    unknown = [s for s in names if s not in STEPS]
    if unknown:
        raise Mace4irError(f"unknown demo step(s) {unknown}; steps: {', '.join(STEPS)}")
    return [s for s in STEPS if s in names]


def run_step(run: DemoRun, step: str, index: int, total: int, force: bool) -> None:
    from mace4ir.demo import steps as demo_steps

    done = run.done(step)
    if done and not force:
        log.info("[%d/%d] %s: done before (%.1f s), reusing", index, total, step, done["seconds"])
        return
    missing = [d for d in STEPS[step] if not run.done(d)]
    if missing:
        raise Mace4irError(
            f"demo step {step!r} needs {missing} first (run them, or run the demo without --steps)"
        )
    log.info("[%d/%d] %s ...", index, total, step)
    start = time.perf_counter()
    result = getattr(demo_steps, f"step_{step}")(run)
    seconds = time.perf_counter() - start
    run.mark_done(step, seconds, result)
    log.info("[%d/%d] %s finished in %.1f s", index, total, step, seconds)


def run_demo(
    out: str | Path = "demo_run",
    quick: bool = False,
    config: str | Path | None = None,
    steps: str | list[str] | None = None,
    force: bool = False,
) -> dict[str, float]:
    """Run (or resume) the demo in ``out``; returns {step: seconds}."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    run = DemoRun(Path(out), demo_config(config, quick))
    check_same_config(run)
    selected = select_steps(steps)
    start = time.perf_counter()
    for i, step in enumerate(selected, 1):
        run_step(run, step, i, len(selected), force)
    timings = run.timings()
    (run.out / "timings.json").write_text(json.dumps(timings, indent=2))
    log.info(
        "demo finished in %.1f s this run (%.1f s of step time in total); report: %s",
        time.perf_counter() - start,
        sum(timings.values()),
        run.out / "report.html",
    )
    return timings
