"""Saving and loading models without pickles: safetensors weights + JSON spec.

``save_model(model, spec, "RUN/best_model")`` writes ``best_model.safetensors`` and
``best_model.json``; ``load_model("RUN/best_model")`` rebuilds the model from the
spec and loads the weights. mace-torch's own ``.model`` files are pickles: they load
only through :func:`load_mace_pickle` with ``trust_pickle=True``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from mace4ir.errors import Mace4irError
from mace4ir.training.models.build import build_model, validate_spec

SPEC_SUFFIX = ".json"
WEIGHTS_SUFFIX = ".safetensors"
BEST_MODEL = (
    "best_model"  # the model a training RUN directory stands for (EMA weights, best validation)
)


def _stem(path: str | Path) -> Path:
    path = Path(path)
    return path.with_suffix("") if path.suffix in (SPEC_SUFFIX, WEIGHTS_SUFFIX) else path


def model_stem(run_or_stem: str | Path) -> Path:
    """``RUN/best_model`` for a training run directory, else the given model stem (or file)."""
    path = Path(run_or_stem)
    return path / BEST_MODEL if path.is_dir() else _stem(path)


def run_dir(run_or_stem: str | Path) -> Path:
    """The training run directory a RUN dir or model stem belongs to."""
    path = Path(run_or_stem)
    return path if path.is_dir() else path.parent


def require_model(run_or_stem: str | Path) -> Path:
    """The model stem of a finished run (or a given stem); clear error when its spec is missing."""
    spec_file = model_stem(run_or_stem).with_suffix(SPEC_SUFFIX)
    if not spec_file.is_file():
        raise Mace4irError(
            f"{run_or_stem}: not a finished training RUN dir or model stem ({spec_file} not found)"
        )
    return spec_file.with_suffix("")


def check_kind(run_or_stem: str | Path, kind: str) -> None:
    """Cheap check of a model's spec JSON (no model built): refuses an EF model where a dipole
    model is wanted and vice versa. Files without a spec (pickles) are checked once loaded."""
    spec_file = model_stem(run_or_stem).with_suffix(SPEC_SUFFIX)
    if not spec_file.is_file():
        return
    try:
        found = json.loads(spec_file.read_text()).get("kind")
    except json.JSONDecodeError:
        return  # load_model reports the broken file
    require_kind(spec_file, found, kind)


def require_kind(source, found: str, kind: str) -> None:
    if found != kind:
        raise Mace4irError(
            f"{source}: expected a {kind!r} model, found kind {found!r} (swapped --ef/--dipole?)"
        )


def _default_file_mode() -> int:
    """The mode a new file gets here (0666 less the umask), as for any other output."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def save_model(model: torch.nn.Module, spec: dict, path: str | Path) -> tuple[Path, Path]:
    """Write weights and spec atomically; returns (weights path, spec path)."""
    stem = _stem(path)
    stem.parent.mkdir(parents=True, exist_ok=True)
    weights, spec_file = stem.with_suffix(WEIGHTS_SUFFIX), stem.with_suffix(SPEC_SUFFIX)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tmp_w, tmp_s = Path(f"{weights}.tmp"), Path(f"{spec_file}.tmp")
    # one metadata key: safetensors writes a map of several in a random order, and the same
    # model would then give other bytes (release checksums, Hub uploads) on every export
    save_file(state, str(tmp_w), metadata={"mace4ir_kind": spec["kind"]})
    tmp_s.write_text(json.dumps(spec, indent=2))
    os.chmod(tmp_w, _default_file_mode())  # safetensors writes 0600; models are meant to be shared
    os.replace(tmp_w, weights)
    os.replace(tmp_s, spec_file)
    return weights, spec_file


def load_model(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[torch.nn.Module, dict]:
    """Rebuild a model saved by :func:`save_model`; returns (model in eval mode, spec)."""
    stem = _stem(path)
    weights, spec_file = stem.with_suffix(WEIGHTS_SUFFIX), stem.with_suffix(SPEC_SUFFIX)
    for f in (weights, spec_file):
        if not f.is_file():
            raise Mace4irError(f"{f}: model file missing")
    try:
        spec = json.loads(spec_file.read_text())
    except json.JSONDecodeError as exc:
        raise Mace4irError(f"{spec_file}: invalid model spec JSON: {exc}") from None
    validate_spec(spec, spec_file)
    model = build_model(spec)
    try:
        state = load_file(str(weights))
        model.load_state_dict(state, strict=True)
    except Exception as exc:  # safetensors header errors, shape mismatches
        raise Mace4irError(
            f"{weights}: weights do not load into the model of {spec_file.name}: {exc}"
        ) from None
    return model.to(device).eval(), spec


def load_mace_pickle(path: str | Path, trust_pickle: bool = False, device="cpu") -> torch.nn.Module:
    """Load a mace-torch ``.model`` file (a full pickle). Refused unless ``trust_pickle``:
    unpickling runs arbitrary code from the file."""
    if not trust_pickle:
        raise Mace4irError(
            f"{path}: mace-torch .model files are Python pickles and can run arbitrary code; "
            "pass trust_pickle=True (CLI: --trust-pickle) only for files from a source you trust"
        )
    if not Path(path).is_file():
        raise Mace4irError(f"{path}: model file not found")
    try:
        model = torch.load(str(path), map_location=device, weights_only=False)
    except Exception as exc:  # truncated files, pickles of classes this mace-torch lacks
        raise Mace4irError(f"{path}: cannot unpickle: {type(exc).__name__}: {exc}") from None
    if not isinstance(model, torch.nn.Module):
        raise Mace4irError(f"{path}: holds a {type(model).__name__}, not a model")
    return model.eval()
