"""``mace4ir finetune``: adapt a trained model (pair) to new data, optionally as a committee.

Reading guide: :func:`finetune` loads each kind's foundation (:mod:`.foundation`), extends
its element table (:mod:`.elements`), puts the new data on its energy zero
(:mod:`.energies`), writes the training data once (:mod:`.data`) and trains every member
with the ordinary trainer from the adapted weights (DDP, exact resume, EMA, checkpoints,
TensorBoard all as in ``mace4ir train``). ``RUN/finetune.json`` records the inputs; a rerun
with ``resume=True`` continues where a killed run stopped.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from mace4ir.errors import Mace4irError
from mace4ir.training.finetune.data import mix_with_replay, new_records, write_finetune_data
from mace4ir.training.finetune.elements import extend_elements, with_element_table
from mace4ir.training.finetune.energies import absorb_in_e0s, energy_offsets, shift_labels
from mace4ir.training.finetune.foundation import load_foundation, source_kinds
from mace4ir.training.loop.trainer import train
from mace4ir.training.models.committee import member_dir, write_committee
from mace4ir.training.models.starting_point import StartingPoint

log = logging.getLogger(__name__)
RECORD = "finetune.json"


@dataclass
class FinetuneOptions:
    source: str | None  # training RUN, release folder, Hub id, (trusted) mace-torch .model;
    # None: fresh models of the ``scratch`` configs, trained on the same data the same way
    data: str  # prepared dir, extxyz file or QCML-format folder
    out: str
    kinds: tuple[str, ...] | None = None  # default: every kind the source holds
    replay: str | None = None  # prepared dir of the foundation's training data
    replay_fraction: float = 0.0
    committee: int = 1  # members per kind
    bootstrap: bool | None = None  # resample each member's training split (default: committee > 1)
    config: str = "finetune"  # training config (configs/train/finetune.yaml)
    trust_pickle: bool = False  # allow mace-torch pickles as the source (they can run code)
    ef_file: str | None = None  # model names in a release holding several
    dipole_file: str | None = None
    data_elements_only: bool = False  # cut the table to the data's elements (faster; replay off)
    val_fraction: float = 0.1
    seed: int = 0
    resume: bool = False
    overrides: dict = field(default_factory=dict)  # training-config keys (max_steps=...)
    scratch: dict = field(default_factory=lambda: {"ef": "ef_small", "dipole": "dipole"})


def finetune(opts: FinetuneOptions) -> dict[str, list[Path]]:
    """Train every member; returns ``{kind: [member run dirs]}``."""
    out = Path(opts.out)
    if opts.data_elements_only and opts.replay and opts.replay_fraction > 0:
        raise Mace4irError(
            "--data-elements-only cuts the element table to the new data's elements; it "
            "cannot replay other data"
        )
    kinds = tuple(opts.kinds or (source_kinds(opts.source) if opts.source else ("ef", "dipole")))
    _claim(out, opts)
    new = new_records(opts.data, out / "work", opts.val_fraction, opts.seed)
    elements = sorted({int(z) for recs in new.values() for r in recs for z in r["atomic_numbers"]})
    starts, knowns, models = dict.fromkeys(kinds), {}, {}
    for kind in kinds if opts.source else ():
        starts[kind], knowns[kind], models[kind] = _adapt(opts, kind, elements)
    if starts.get("ef") is not None:
        new = _onto_foundation_zero(starts["ef"], models.pop("ef"), knowns["ef"], new)
    models.clear()  # the trainer builds its own from each starting point
    splits = mix_with_replay(new, opts.replay, opts.replay_fraction, opts.seed)
    source = {"finetune_of": str(opts.source), "data": str(opts.data), "replay": opts.replay}
    members: dict[str, list[Path]] = {}
    for kind, start in starts.items():
        members[kind] = []
        for i in range(opts.committee):
            data = _member_data(out, splits, source, i, opts)
            run = member_dir(out / kind, i, opts.committee)
            overrides = {**opts.overrides, "seed": opts.seed + 1000 * i}
            model = opts.scratch[kind]  # used only without a starting point
            train(data, run, model, config=opts.config, resume=opts.resume, init=start, **overrides)
            members[kind].append(run)
    if opts.committee > 1:
        write_committee(out, members)
    return members


def _claim(out: Path, opts: FinetuneOptions) -> None:
    """Record the inputs; a rerun must be a resume of the same inputs."""
    record = out / RECORD
    wanted = {k: v for k, v in asdict(opts).items() if k not in ("resume", "overrides")}
    wanted["kinds"] = list(wanted["kinds"]) if wanted["kinds"] else None
    if record.is_file():
        if not opts.resume:
            raise Mace4irError(
                f"{out} already holds a fine-tuning run; pass --resume or another --out"
            )
        saved = json.loads(record.read_text())
        changed = sorted(k for k in wanted if saved.get(k) != wanted[k])
        if changed:
            raise Mace4irError(
                f"{record}: --resume with other inputs than the run was started with "
                f"({', '.join(changed)})"
            )
        return
    out.mkdir(parents=True, exist_ok=True)
    tmp = record.with_name(record.name + ".tmp")
    tmp.write_text(json.dumps(wanted, indent=2) + "\n")
    tmp.replace(record)


def _adapt(opts: FinetuneOptions, kind: str, elements: list[int]):
    """The adapted starting point, the elements the foundation itself knew, and the adapted
    model (building one costs seconds of e3nn code generation: it is reused, not rebuilt)."""
    names = {"ef": opts.ef_file, "dipole": opts.dipole_file}
    model, spec, path = load_foundation(opts.source, kind, opts.trust_pickle, names)
    known = set(spec["atomic_numbers"])
    if opts.data_elements_only:
        model, spec = with_element_table(model, spec, elements)
    else:
        model, spec = extend_elements(model, spec, elements)
    return StartingPoint.from_model(model, spec, str(path)), known, model


def _onto_foundation_zero(start: StartingPoint, model, known_elements: set[int], new: dict) -> dict:
    """Shift the new labels of known elements to the foundation's energy zero; new elements'
    offsets go into the starting model's E0s (``model``: the starting point's, built)."""
    offsets = energy_offsets(model, start.spec, new["train"])
    known = {z: d for z, d in offsets.items() if z in known_elements}
    added = {z: d for z, d in offsets.items() if z not in known}
    if added:
        absorb_in_e0s(model, start.spec, added)
        start.state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return {split: shift_labels(records, known) for split, records in new.items()}


def _member_data(out: Path, splits: dict, source: dict, index: int, opts: FinetuneOptions) -> Path:
    """The shared data folder, or (committees) a bootstrap resample of its training split."""
    bootstrap = opts.committee > 1 if opts.bootstrap is None else opts.bootstrap
    if not bootstrap:
        return write_finetune_data(out / "data", splits, source)
    rng = np.random.default_rng(opts.seed + index)
    train = splits["train"]
    resampled = [train[int(i)] for i in rng.integers(0, len(train), len(train))]
    return write_finetune_data(
        out / "data" / f"member_{index:02d}",
        {**splits, "train": resampled},
        {**source, "bootstrap_member": index},
    )
