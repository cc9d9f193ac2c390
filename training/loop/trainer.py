"""The training loop: one code path for 1 process and N (torchrun).

Reading guide: :meth:`Trainer.run` is the whole loop; each step is
:meth:`Trainer.train_step`; the pieces live in their own modules (distributed,
datasets, loss, schedule, checkpoint, validation, metrics_log, accel).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import resource
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import yaml
from torch.nn.parallel import DistributedDataParallel
from torch_ema import ExponentialMovingAverage

from mace4ir.data_prep.prepared.reader import load_manifest
from mace4ir.elements import check_elements
from mace4ir.errors import Mace4irError
from mace4ir.owned_folder import claim
from mace4ir.training.data.loaders import LoaderOptions, TrainData, eval_batches, seed_everything
from mace4ir.training.data.record_graphs import GraphBuilder
from mace4ir.training.loop import checkpoint, distributed
from mace4ir.training.loop.error_sums import evaluate, predict
from mace4ir.training.loop.loss import (
    LossWeights,
    global_sums,
    squared_error_sums,
    weighted_loss,
    weights_at,
)
from mace4ir.training.loop.metrics_log import MetricsLog
from mace4ir.training.loop.schedule import LRSchedule
from mace4ir.training.models import accel
from mace4ir.training.models.build import build_model, load_model_config, model_spec
from mace4ir.training.models.committee import member_dir, write_committee
from mace4ir.training.models.starting_point import StartingPoint
from mace4ir.training.models.weights_io import save_model

log = logging.getLogger(__name__)


# What a run writes in RUN (a folder adopted with --force must not hold any of it).
RUN_OUTPUTS = (
    "checkpoints",
    "metrics.csv",
    "metrics.jsonl",
    "tensorboard",
    "config.yaml",
    *(f"{m}.{ext}" for m in ("best_model", "final_model") for ext in ("safetensors", "json")),
    "best_model.meta.json",
    "final_model.meta.json",
)


def _earlier_run(out: Path) -> bool:
    """A training run from before owner markers (one to resume)."""
    return any((out / "checkpoints").glob(checkpoint.PATTERN)) or (out / "config.yaml").is_file()


@dataclass
class TrainState:
    step: int = 0  # optimizer steps taken (skipped non-finite steps count too)
    epoch: int = 0
    step_in_epoch: int = 0  # global steps done in the current epoch (resume skips these batches)
    best_val: float = math.inf
    best_step: int = -1
    skipped: int = 0  # non-finite steps skipped in total
    bad_in_row: int = 0  # consecutive non-finite steps
    last_eval_step: int = -1


class Trainer:
    def __init__(
        self,
        data,
        out,
        model: str,
        cfg: dict,
        precision: str | None = None,
        resume: bool = False,
        overrides: dict | None = None,
        force: bool = False,
        init: StartingPoint | None = None,
    ):
        self.data, self.out, self.cfg = Path(data), Path(out), cfg
        self.init = None if resume and self._has_checkpoints() else init
        self.info = distributed.setup(cfg["device"])
        self.manifest = load_manifest(self.data)
        self.manifest_sha = checkpoint.manifest_hash(self.data)
        self.state = TrainState()
        owned = claim(self.out, "train", force, earlier_output=_earlier_run)
        owned.require_free(*RUN_OUTPUTS)
        saved = self._find_checkpoint(resume)
        if saved:
            # the saved config wins; only the step/epoch budget may be extended on resume
            budget = {
                k: v
                for k, v in (overrides or {}).items()
                if k in ("max_steps", "max_epochs", "skip_corrupt") and v is not None
            }
            self.cfg = cfg = {**saved["config"], **budget, "progress": cfg["progress"]}
        if saved:
            self.spec = saved["spec"]
        elif self.init is not None:
            self.spec = self.init.spec
        else:
            self.spec = model_spec(
                load_model_config(model, precision), self.manifest, f"{self.data}/manifest.json"
            )
        self.kind = self.spec["kind"]
        check_elements(
            self.spec["atomic_numbers"],
            [int(z) for z in self.manifest.get("elements") or self.manifest.get("e0s") or {}],
            f"{self.data}/manifest.json",
        )
        seed_everything(cfg["seed"])
        self._build_data()
        self._build_model()
        self._resolve_budget()
        if saved:
            self._restore(saved)
        self.metrics = MetricsLog(
            self.out, self.info.is_main, self.state.step if saved else None, cfg["tensorboard"]
        )
        if self.info.is_main:
            self._write_run_config(model)

    # ---- set-up -------------------------------------------------------------------------
    def _has_checkpoints(self) -> bool:
        ckpt_dir = self.out / "checkpoints"
        return ckpt_dir.exists() and any(ckpt_dir.glob(checkpoint.PATTERN))

    def _find_checkpoint(self, resume: bool) -> dict | None:
        ckpt_dir = self.out / "checkpoints"
        existing = sorted(ckpt_dir.glob(checkpoint.PATTERN)) if ckpt_dir.exists() else []
        if not resume:
            if existing:
                raise Mace4irError(
                    f"{self.out} already holds a training run; pass --resume to continue it or "
                    f"choose another --out"
                )
            return None
        saved = checkpoint.latest(ckpt_dir)
        if saved is None:
            log.info("--resume: no checkpoint in %s yet, starting from scratch", ckpt_dir)
            return None
        checkpoint.check_compatible(saved, self.manifest_sha, self.data)
        log.info("resuming from %s", saved["path"])
        return saved

    def _build_data(self) -> None:
        c, info = self.cfg, self.info
        self.builder = GraphBuilder(
            self.spec["atomic_numbers"], self.spec["architecture"]["r_max"], self.spec["precision"]
        )
        opts = LoaderOptions(
            batch_size=c["batch_size"],
            max_atoms=c["max_atoms"],
            max_edges=c["max_edges"],
            num_workers=c["num_workers"],
            seed=c["seed"],
            shuffle_buffer=c["shuffle_buffer"],
            pin_memory=info.device.type == "cuda",
        )
        self.train_data = TrainData(
            self.data,
            self.builder,
            opts,
            c["format"],
            c["subset"],
            info.rank,
            info.world_size,
            skip_corrupt=bool(c.get("skip_corrupt")),
        )
        if len(self.train_data) < info.world_size:
            raise Mace4irError(
                f"{self.data}: {len(self.train_data)} training records for {info.world_size} ranks"
            )
        self.val_loader = eval_batches(
            self.data,
            "val",
            self.builder,
            c["eval_batch_size"],
            info.rank,
            info.world_size,
            skip_corrupt=bool(c.get("skip_corrupt")),
        )
        self.dummy = self.train_data.dummy_batch().to(info.device)

    def _build_model(self) -> None:
        c, info = self.cfg, self.info
        model = build_model(self.spec)
        if self.init is not None:  # fine-tuning: the adapted foundation weights
            model.load_state_dict(self.init.state, strict=True)
        self.raw_model = accel.accelerate(model.to(info.device), c, info.device)
        self.model = self.raw_model
        if info.distributed:
            ids = [info.device.index] if info.device.type == "cuda" else None
            self.model = DistributedDataParallel(self.raw_model, device_ids=ids)
        o = c["optimizer"]
        self.params = [p for p in self.raw_model.parameters() if p.requires_grad]
        self.opt = torch.optim.Adam(
            self.params,
            lr=float(o["lr"]),
            betas=tuple(o["betas"]),
            weight_decay=float(o["weight_decay"]),
            amsgrad=bool(o["amsgrad"]),
        )
        self.ema = (
            ExponentialMovingAverage(self.params, decay=float(c["ema"]["decay"]))
            if c["ema"]["enabled"]
            else None
        )

    def _resolve_budget(self) -> None:
        """Total steps (for cosine decay, the stage-two switch and the progress bar)."""
        c = self.cfg
        by_epochs = int(c["max_epochs"]) * self.train_data.batches_hint()
        self.total_steps = min(int(c["max_steps"]), by_epochs) if c["max_steps"] else by_epochs
        s2 = c["loss"].get("stage_two") or {}
        if s2.get("start_step") is None and s2.get("start_fraction") is not None:
            s2["start_step"] = int(float(s2["start_fraction"]) * self.total_steps)
        s = c["scheduler"]
        self.schedule = LRSchedule(
            float(c["optimizer"]["lr"]),
            s["kind"],
            int(s["warmup_steps"]),
            self.total_steps,
            float(s["factor"]),
            int(s["patience"]),
            float(s["threshold"]),
            float(s["min_lr"]),
        )

    def _write_run_config(self, model: str) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        resolved = {
            "model": model if self.init is None else f"from {self.init.source}",
            "data": str(self.data),
            "world_size": self.info.world_size,
            "manifest_sha256": self.manifest_sha,
            "spec": self.spec,
            "train": self.cfg,
            "dropped_by_skip_corrupt": {  # shards that failed their manifest check
                "train": self.train_data.records.dropped.to_dict(),
                "val": self.val_loader.dataset.records.dropped.to_dict(),
            },
        }
        (self.out / "config.yaml").write_text(yaml.safe_dump(resolved, sort_keys=False))

    # ---- the loop -----------------------------------------------------------------------
    def run(self) -> Path:
        bar = self._progress()
        try:
            while not self._done():
                for batch, active in self._epoch_batches():
                    row = self.train_step(batch, active)
                    bar.update(1)
                    bar.set_postfix(loss=f"{row['loss']:.4g}", lr=f"{row['lr']:.2g}")
                    if self._due("eval_every_steps"):
                        self.validate()
                    if self._due_checkpoint():
                        self.save_checkpoint()
                    if self._done():
                        break
                else:  # epoch finished
                    self.state.epoch += 1
                    self.state.step_in_epoch = 0
                    if not self.cfg["eval_every_steps"]:
                        self.validate()
                    if self.cfg["checkpoint"].get("every_epoch", True):
                        self.save_checkpoint()
            if self.state.last_eval_step != self.state.step:
                self.validate()
            self.save_checkpoint()
            self._require_progress()
            self._export("final_model")
        finally:
            bar.close()
            self.metrics.close()
            distributed.teardown(self.info)
        return self.out

    def _require_progress(self) -> None:
        """A run that learned nothing must not look like a success (exit 0, no best_model)."""
        s = self.state
        if s.step > 0 and s.skipped >= s.step:
            raise Mace4irError(
                f"{self.out}: none of the {s.step} training steps had a finite loss and gradient "
                f"(all skipped): the model was never updated and is not a trained model; check "
                f"the data in {self.data} ('mace4ir prep verify') and optimizer.lr"
            )
        if s.best_step < 0:
            raise Mace4irError(
                f"{self.out}: no validation loss was finite, so no best_model was written; check "
                f"the validation data in {self.data} ('mace4ir prep verify')"
            )

    def _done(self) -> bool:
        c = self.cfg
        return self.state.epoch >= int(c["max_epochs"]) or (
            c["max_steps"] is not None and self.state.step >= int(c["max_steps"])
        )

    def _due(self, key: str) -> bool:
        every = self.cfg[key]
        return bool(every) and self.state.step % int(every) == 0

    def _due_checkpoint(self) -> bool:
        every = self.cfg["checkpoint"]["every_steps"]
        return bool(every) and self.state.step % int(every) == 0

    def _epoch_batches(self):
        """(batch, active) pairs; a rank out of data pads with zero-weight steps until all are
        done."""
        it = self.train_data.epoch(self.state.epoch, self.state.step_in_epoch)
        while True:
            batch = next(it, None)
            flag = torch.tensor([float(batch is not None)], device=self.info.device)
            if distributed.all_reduce_sum(flag, self.info).item() == 0:
                return
            if batch is None:
                yield self.dummy, False
            else:
                yield batch.to(self.info.device, non_blocking=True), True

    def train_step(self, batch, active: bool) -> dict:
        s, c = self.state, self.cfg
        t0 = time.perf_counter()
        lr = self.schedule.apply(self.opt, s.step)
        w = weights_at(s.step, c["loss"])
        self.model.train()
        self.opt.zero_grad(set_to_none=True)
        out = predict(self.model, batch, self.kind, training=True)
        sums = squared_error_sums(self.kind, batch, out)
        glob = global_sums(sums, active, self.info)
        loss = weighted_loss(
            self.kind, sums, glob, w, float(self.info.world_size) if active else 0.0
        )
        loss.backward()
        clip = float(c["clip_grad"]) if c["clip_grad"] else math.inf
        grad_norm = float(torch.nn.utils.clip_grad_norm_(self.params, clip))
        global_loss = float(weighted_loss(self.kind, glob, glob, w, 1.0))
        if math.isfinite(global_loss) and math.isfinite(grad_norm):
            self.opt.step()
            if self.ema is not None:
                self.ema.update()
            s.bad_in_row = 0
        else:
            self._non_finite(global_loss, grad_norm)
        s.step += 1
        s.step_in_epoch += 1
        n_graphs = glob["dipole_n"] / 3 if self.kind == "dipole" else glob["energy_n"]
        row = {
            "step": s.step,
            "epoch": s.epoch,
            "phase": "train",
            "loss": global_loss,
            "lr": lr,
            "grad_norm": grad_norm,
            "graphs_per_s": n_graphs / max(time.perf_counter() - t0, 1e-9),
            "skipped_steps": s.skipped,
            "memory_mb": _memory_mb(self.info.device),
        }
        for q in ("energy", "forces", "dipole"):
            if q in glob:
                row[f"loss_{q}"] = glob[q] / glob[f"{q}_n"]
        if self._due("log_every_steps") or s.step == 1:
            self.metrics.write(row)
        return row

    def _non_finite(self, loss: float, grad_norm: float) -> None:
        s = self.state
        s.skipped += 1
        s.bad_in_row += 1
        self.opt.zero_grad(set_to_none=True)
        log.warning(
            "step %d: non-finite loss %s / gradient norm %s; step skipped (%d so far)",
            s.step,
            loss,
            grad_norm,
            s.skipped,
        )
        if s.bad_in_row >= int(self.cfg["max_nonfinite_steps"]):
            raise Mace4irError(
                f"stopping at step {s.step}: {s.bad_in_row} consecutive non-finite losses or "
                f"gradients; "
                f"lower optimizer.lr, check the data in {self.data}, or resume from the last "
                f"checkpoint in {self.out}/checkpoints"
            )

    def validate(self) -> dict:
        s = self.state
        with self._ema_weights():
            sums = evaluate(self.raw_model, self.val_loader, self.kind, self.spec, self.info)
        # stage-one weights throughout: best-model and plateau comparisons stay on one scale
        val_loss = sums.loss(LossWeights(**self.cfg["loss"]["weights"]))
        metrics = sums.metrics(self.spec["atomic_numbers"])
        self.schedule.on_validation(val_loss)
        improved = val_loss < s.best_val
        if improved:
            s.best_val, s.best_step = val_loss, s.step
            self._export("best_model")
        s.last_eval_step = s.step
        row = {
            "step": s.step,
            "epoch": s.epoch,
            "phase": "val",
            "loss": val_loss,
            "best": int(improved),
            **{k: v for k, v in metrics.items() if k != "per_element"},
        }
        self.metrics.write(row)
        if self.info.is_main:
            log.info(
                "step %d validation: %s",
                s.step,
                ", ".join(f"{k}={v:.4g}" for k, v in row.items() if isinstance(v, float)),
            )
        return row

    # ---- checkpoints and export ---------------------------------------------------------
    def _ema_weights(self):
        return self.ema.average_parameters() if self.ema is not None else contextlib.nullcontext()

    def _export(self, name: str) -> None:
        if not self.info.is_main:
            return
        with self._ema_weights():
            model = accel.exportable(self.raw_model, self.cfg)
            save_model(model, self.spec, self.out / name)
        meta = {"step": self.state.step, "epoch": self.state.epoch, "val_loss": self.state.best_val}
        (self.out / f"{name}.meta.json").write_text(json.dumps(meta, indent=2))

    def save_checkpoint(self) -> None:
        if self.info.is_main:
            payload = {
                "model": self.raw_model.state_dict(),
                "ema": self.ema.state_dict() if self.ema is not None else None,
                "optimizer": self.opt.state_dict(),
                "schedule": self.schedule.state_dict(),
                "state": asdict(self.state),
                "rng": checkpoint.rng_state(),
                "config": self.cfg,
                "spec": self.spec,
                "manifest_sha256": self.manifest_sha,
                "world_size": self.info.world_size,
            }
            checkpoint.save(
                self.out / "checkpoints",
                self.state.step,
                payload,
                int(self.cfg["checkpoint"]["keep"]),
            )
        distributed.barrier(self.info)

    def _restore(self, saved: dict) -> None:
        self.raw_model.load_state_dict(saved["model"])
        if self.ema is not None and saved["ema"] is not None:
            self.ema.load_state_dict(saved["ema"])
        self.opt.load_state_dict(saved["optimizer"])
        self.schedule.load_state_dict(saved["schedule"])
        self.state = TrainState(**saved["state"])
        checkpoint.set_rng_state(saved["rng"])
        if saved["world_size"] != self.info.world_size:
            log.warning(
                "checkpoint written with %d ranks, resuming with %d: the data order changes from "
                "here on",
                saved["world_size"],
                self.info.world_size,
            )

    def _progress(self):
        from tqdm import tqdm

        disable = not (self.info.is_main and self.cfg["progress"])
        return tqdm(
            total=self.total_steps,
            initial=self.state.step,
            unit="step",
            disable=disable,
            dynamic_ncols=True,
        )


def _memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def train(
    data,
    out,
    model: str = "ef_small",
    config: str | None = None,
    precision: str | None = None,
    resume: bool = False,
    force: bool = False,
    init: StartingPoint | None = None,
    **overrides,
) -> Path:
    """Train a model on a prepared directory; returns the run directory.

    ``overrides`` are training-config keys (``max_steps=100``, ``batch_size=8``,
    ``subset=50000``, ``format="webdataset"``, nested dicts such as
    ``optimizer={"lr": 1e-3}``). Launch under ``torchrun`` for several processes. ``out`` must
    be new, empty or a run of this command (``force``: any folder; its files are kept).
    ``init`` starts from given weights (fine-tuning) instead of a fresh ``model``.
    """
    from mace4ir.training.train_config import resolve

    cfg = resolve(config, overrides)
    return Trainer(data, out, model, cfg, precision, resume, overrides, force, init).run()


def train_committee(data, out, size: int, seed: int = 123, **kwargs) -> list[Path]:
    """``size`` members trained like :func:`train`, each with its own seed (initial weights and
    data order), in ``OUT/member_00`` ...; ``OUT/committee.json`` lists them."""
    import json

    runs = [member_dir(Path(out), i, size) for i in range(size)]
    for i, run in enumerate(runs):
        train(data, run, seed=seed + 1000 * i, **kwargs)
    kind = json.loads((runs[0] / "best_model.json").read_text())["kind"]
    if size > 1:
        write_committee(Path(out), {kind: runs})
    return runs
