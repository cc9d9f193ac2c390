"""The process's ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` as it was when mace4ir was imported.

``mace4ir/__init__`` imports this module first, before anything can import mace-torch, which
sets the variable to 1 for the whole process (after that any ``torch.load`` without
``weights_only`` unpickles code). ``training.models.mace_import`` calls :func:`restore` right
after importing mace.
"""

import os

VAR = "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"
AT_IMPORT = os.environ.get(VAR)


def restore() -> None:
    """Put the variable back as it was when mace4ir was imported."""
    if AT_IMPORT is None:
        os.environ.pop(VAR, None)
    else:
        os.environ[VAR] = AT_IMPORT
