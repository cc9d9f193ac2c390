"""Where a training run starts: fresh weights from a model config, or given weights.

Fine-tuning hands the trainer a :class:`StartingPoint` (a foundation model adapted to the
new data's element table); the trainer builds the model from its spec and loads its
weights before the optimiser and the EMA see them. Resuming a run ignores it: the
checkpoint holds the weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class StartingPoint:
    spec: dict  # model spec (training.models.build) of the model to train
    state: dict[str, torch.Tensor]  # its initial weights (a state_dict)
    source: str  # what it came from, for the run's config.yaml

    @classmethod
    def from_model(cls, model: torch.nn.Module, spec: dict, source: str) -> StartingPoint:
        state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        return cls(spec=spec, state=state, source=source)
