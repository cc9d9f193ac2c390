"""mace-torch without its process-wide change to ``torch.load``.

``import mace`` sets ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` in ``os.environ`` (so that e3nn's
constant tables load on torch>=2.6). Left set, every later ``torch.load`` in the process, the
user's own code included, unpickles whatever a file holds: a malicious file runs code. Every
mace4ir module that imports mace imports this one as well (after it, as isort orders them):
mace and e3nn are imported under mace's setting, then the value the process had when mace4ir
was imported is put back (:mod:`mace4ir.torch_setting`).
"""

import mace.modules  # noqa: F401  (e3nn's constants load while mace's setting holds)

from mace4ir.torch_setting import restore

restore()
