"""mace4ir: MACE foundation models for molecular infrared spectroscopy.

Stages (import direction follows the data flow):
``mace4ir.data_prep`` -> ``mace4ir.training`` -> ``mace4ir.evaluation`` -> ``mace4ir.release``.
"""

__version__ = "0.1.0"


def load(repo_id_or_path, revision=None, **kwargs):
    """Load a released EF + dipole model pair as one ASE calculator.

    Thin lazy wrapper so that ``import mace4ir`` stays cheap (no torch import).
    See :func:`mace4ir.release.load` for the arguments.
    """
    from mace4ir.release import load as _load

    return _load(repo_id_or_path, revision=revision, **kwargs)
