"""Stage 1: QCML -> filtered, split, sharded LMDB + WebDataset with a manifest.

Main entry points: :func:`write_sample` (QCML-format GFN2-xTB sample), :func:`prepare`
with :class:`PrepOptions`, and the readers :func:`open_split`, :func:`open_records`,
:func:`load_manifest`, :func:`verify`.

Subpackages: ``qcml`` (reading and writing the QCML TFDS format), ``pipeline`` (the
``prepare`` job: scan, filter, split, write shards, manifest), ``prepared`` (the
output format: records, shards, readers, index, verification).
"""

from mace4ir.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "load_manifest": "data_prep.prepared.reader",
        "open_records": "data_prep.prepared.reader",
        "open_split": "data_prep.prepared.reader",
        "PrepOptions": "data_prep.pipeline.prepare",
        "prepare": "data_prep.pipeline.prepare",
        "write_sample": "data_prep.sample",
        "SAMPLE_MOLECULES": "data_prep.sample",
        "verify": "data_prep.prepared.verify",
    },
)
__all__ = [
    "load_manifest",
    "open_records",
    "open_split",
    "PrepOptions",
    "prepare",
    "write_sample",
    "SAMPLE_MOLECULES",
    "verify",
]
