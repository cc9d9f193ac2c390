"""mace4ir: MACE foundation models for molecular infrared spectroscopy.

The core package: shared low-level pieces every stage may use (``errors``, ``units``,
``config``, ``elements``, ``geometry``, ``molecules``, ``smiles``, ``hashing``,
``checksums``, ``owned_folder``, ``workers``, ``lazy``); it imports no stage. The stages
follow the data flow, ``mace4ir.data_prep`` -> ``mace4ir.training`` ->
``mace4ir.evaluation`` -> ``mace4ir.release``, and the main job ``mace4ir.demo`` and the
command line ``mace4ir.cli`` sit on top (docs/architecture.md). This ``__init__`` is the
public facade: ``mace4ir.load``.
"""

# records torch.load's process-wide setting before anything imports mace-torch (which changes it)
from mace4ir import torch_setting as _torch_setting  # noqa: F401

__version__ = "0.1.0"


def load(repo_id_or_path, revision=None, **kwargs):
    """Load a released EF + dipole model pair as one ASE calculator.

    Imported on the first call so that ``import mace4ir`` stays cheap (no torch import).
    See :func:`mace4ir.evaluation.calculators.release.load` for the arguments.
    """
    from mace4ir.evaluation.calculators.release import load as _load

    return _load(repo_id_or_path, revision=revision, **kwargs)
