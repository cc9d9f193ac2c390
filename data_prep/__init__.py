"""Stage 1: QCML -> filtered, split, sharded LMDB + WebDataset with a manifest."""

from mace4ir.data_prep.prepared import load_manifest, open_records, open_split

__all__ = ["load_manifest", "open_records", "open_split"]
