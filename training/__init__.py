"""Stage 2: training MACE-EF and MACE-D with mace-torch (1 CPU to multi-node torchrun).

Public API (imported lazily so ``import mace4ir.training`` stays cheap):
``train(data, out, model=..., **overrides)``, ``evaluate_errors(run, data, split="test")``,
``scaling_curve(data, out, model=..., subsets=...)``.
"""


def train(*args, **kwargs):
    from mace4ir.training.trainer import train as _train

    return _train(*args, **kwargs)


def evaluate_errors(*args, **kwargs):
    from mace4ir.training.evaluate import evaluate_errors as _evaluate_errors

    return _evaluate_errors(*args, **kwargs)


def scaling_curve(*args, **kwargs):
    from mace4ir.training.scaling import scaling_curve as _scaling_curve

    return _scaling_curve(*args, **kwargs)


__all__ = ["train", "evaluate_errors", "scaling_curve"]
