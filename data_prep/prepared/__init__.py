"""The prepared-data format: encoded records, LMDB/WebDataset shards, readers, index,
verification."""
