"""mace-torch without its process-wide change to ``torch.load``.

``import mace`` sets ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` in ``os.environ`` (so that e3nn's
constant tables load on torch>=2.6). Left set, every later ``torch.load`` in the process, the
user's own code included, unpickles whatever a file holds: a malicious file runs code. Every
mace4ir module that imports mace imports this one as well (after it, as isort orders them):
mace and e3nn are imported under mace's setting, then the value the process had when mace4ir
was imported is put back.
"""

import os

import mace.modules  # noqa: F401  (e3nn's constants load while mace's setting holds)

import mace4ir

VAR = "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"


def restore_torch_load_setting() -> None:
    before = mace4ir.TORCH_LOAD_SETTING_AT_IMPORT
    if before is None:
        os.environ.pop(VAR, None)
    else:
        os.environ[VAR] = before


restore_torch_load_setting()
