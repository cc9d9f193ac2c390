"""Optional accelerations: torch.compile, cuEquivariance (CUDA), OpenEquivariance (ROCm/CUDA).

All off by default and never required. Asking for one that is not installed is a
clear error (not a silent fallback), because a user who asked for kernels expects
their speed. Kernel-converted models are converted back to plain e3nn before export,
so saved models load anywhere.
"""

from __future__ import annotations

import importlib.util
import logging

import torch

from mace4ir.errors import Mace4irError
from mace4ir.training.models.build import default_dtype

log = logging.getLogger(__name__)

KERNELS = {
    "cuequivariance": (
        "cuequivariance_torch",
        "pip install cuequivariance-torch cuequivariance-ops-torch-cu12 (CUDA only)",
        "mace.cli.convert_e3nn_cueq",
        "mace.cli.convert_cueq_e3nn",
    ),
    "openequivariance": (
        "openequivariance",
        "pip install openequivariance (needs a CUDA or ROCm GPU and a compiler)",
        "mace.cli.convert_e3nn_oeq",
        "mace.cli.convert_oeq_e3nn",
    ),
}


def _kernel(cfg: dict) -> str | None:
    chosen = [k for k in KERNELS if cfg.get(k)]
    if len(chosen) > 1:
        raise Mace4irError("choose at most one of cuequivariance / openequivariance")
    return chosen[0] if chosen else None


def accelerate(model: torch.nn.Module, cfg: dict, device: torch.device) -> torch.nn.Module:
    """The model to train: converted to fast kernels and/or compiled when asked for."""
    kernel = _kernel(cfg)
    if kernel:
        module, how, to_mod, _ = KERNELS[kernel]
        if importlib.util.find_spec(module) is None:
            raise Mace4irError(
                f"{kernel} requested but the package {module!r} is not installed: {how}"
            )
        if device.type != "cuda":
            raise Mace4irError(
                f"{kernel} requested but there is no GPU (device {device}); drop the option on CPU"
            )
        dtype = next(model.parameters()).dtype
        with default_dtype(dtype):
            model = importlib.import_module(to_mod).run(
                model, device=str(device), return_model=True
            )
        log.info("model converted to %s kernels", kernel)
    if cfg.get("compile"):
        model = torch.compile(model)
        log.info("model wrapped with torch.compile")
    return model


def exportable(model: torch.nn.Module, cfg: dict) -> torch.nn.Module:
    """A plain e3nn model with the same weights (for save_model / evaluation elsewhere)."""
    model = getattr(model, "_orig_mod", model)  # torch.compile wrapper
    kernel = _kernel(cfg)
    if not kernel:
        return model
    dtype = next(model.parameters()).dtype
    with default_dtype(dtype):
        return importlib.import_module(KERNELS[kernel][3]).run(
            model, device="cpu", return_model=True
        )
