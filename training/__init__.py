"""Stage 2: training MACE-EF and MACE-D with mace-torch (1 CPU to multi-node torchrun).

Public API (imported on first use, so ``import mace4ir.training`` stays cheap):
``train(data, out, model=..., **overrides)``, ``evaluate_errors(run, data, split="test")``,
``scaling_curve(data, out, model=..., subsets=...)``.

Subpackages: ``data`` (prepared shards -> graphs -> batches), ``models`` (building,
saving and finding models, releases included), ``loop`` (the trainer and its pieces).
"""

from mace4ir.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "train": "training.loop.trainer",
        "evaluate_errors": "training.test_errors",
        "scaling_curve": "training.scaling",
    },
)
__all__ = ["train", "evaluate_errors", "scaling_curve"]
