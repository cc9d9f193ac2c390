"""The ``prepare`` job: scan and filter QCML units, split, write shards, assemble the manifest."""
