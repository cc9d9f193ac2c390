"""Helpers for the IR engine's tests: small untrained mace-torch models in float64."""

import torch
from untrained_models import made_up_manifest

from mace4ir.training.models.build import build_model, load_model_config, model_spec


def tiny_model(config: str, seed: int = 0, elements=(1, 6, 7, 8), **architecture):
    """(model, spec) of a model config with ``architecture`` entries overridden, seeded weights."""
    cfg = load_model_config(config, "float64")
    cfg["architecture"].update(architecture)
    spec = model_spec(cfg, made_up_manifest(elements))
    torch.manual_seed(seed)
    return build_model(spec).eval(), spec
