"""mace4ir: MACE foundation models for molecular infrared spectroscopy.

The core package: shared low-level pieces every stage may use (``errors``, ``units``,
``config``, ``elements``, ``geometry``, ``molecules``, ``smiles``, ``hashing``,
``checksums``, ``lazy``); it imports no stage. The stages follow the data flow,
``mace4ir.data_prep`` -> ``mace4ir.training`` -> ``mace4ir.evaluation`` -> ``mace4ir.release``,
and the main job ``mace4ir.demo`` and the command line ``mace4ir.cli`` sit on top
(docs/architecture.md). This ``__init__`` is the public facade: ``mace4ir.load``.
"""

import os as _os

__version__ = "0.1.0"

# mace-torch sets this for the whole process when imported; training.models.mace_import puts
# back the value the process had here (else any later torch.load could unpickle code).
TORCH_LOAD_SETTING_AT_IMPORT = _os.environ.get("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD")


def load(repo_id_or_path, revision=None, **kwargs):
    """Load a released EF + dipole model pair as one ASE calculator.

    Imported on the first call so that ``import mace4ir`` stays cheap (no torch import).
    See :func:`mace4ir.evaluation.calculators.release.load` for the arguments.
    """
    from mace4ir.evaluation.calculators.release import load as _load

    return _load(repo_id_or_path, revision=revision, **kwargs)
