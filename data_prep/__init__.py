"""Stage 1: QCML -> filtered, split, sharded LMDB + WebDataset with a manifest.

Main entry points: :func:`write_sample` (QCML-format GFN2-xTB sample),
:func:`prepare` with :class:`PrepOptions`, and the readers :func:`open_split`,
:func:`open_records`, :func:`load_manifest`.
"""

from mace4ir.data_prep.prepared import load_manifest, open_records, open_split

_LAZY = {
    "PrepOptions": "mace4ir.data_prep.pipeline",
    "prepare": "mace4ir.data_prep.pipeline",
    "write_sample": "mace4ir.data_prep.sample",
    "SAMPLE_MOLECULES": "mace4ir.data_prep.sample",
    "verify": "mace4ir.data_prep.verify",
}


def __getattr__(name):  # keep `import mace4ir.data_prep` cheap
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(name)


__all__ = ["load_manifest", "open_records", "open_split", *_LAZY]
