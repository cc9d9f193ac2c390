"""The QCML TFDS layout: config names, feature specs, and writing a prepared directory.

A TFDS prepared directory looks like::

    <data_dir>/qcml/<config>/<version>/dataset_info.json
    <data_dir>/qcml/<config>/<version>/features.json
    <data_dir>/qcml/<config>/<version>/qcml-full.tfrecord-00000-of-00004 ...

with one split, ``full``. Records of the different configs are aligned by order
(record i of every config describes the same conformer, same ``key_hash``).
Everything is in atomic units (Bohr, Hartree, Hartree/Bohr, e·Bohr).
"""

from __future__ import annotations

import json
from pathlib import Path

from mace4ir.data_prep.qcml.example_proto import encode_example
from mace4ir.data_prep.qcml.tfrecord import write_tfrecord
from mace4ir.errors import DataFormatError

DATASET = "qcml"
SPLIT = "full"
DEFAULT_VERSION = "1.0.0"

# name -> (dtype, shape); shape uses -1 for "number of atoms"
FORCE_FIELD_FEATURES = {
    "key_hash": ("string", ()),
    "atomic_numbers": ("int64", (-1,)),
    "positions": ("float32", (-1, 3)),
    "charge": ("int64", ()),
    "multiplicity": ("int64", ()),
    "is_outlier": ("bool", ()),
    "pbe0_energy": ("float64", ()),
    "pbe0_formation_energy": ("float64", ()),
    "pbe0_forces": ("float32", (-1, 3)),
}
MULTIPOLE_FEATURES = {
    "key_hash": ("string", ()),
    "pbe0_dipole": ("float32", (3,)),
    "pbe0_quadrupole": ("float32", (3, 3)),
}
METADATA_FEATURES = {
    "key_hash": ("string", ()),
    "smiles": ("string", ()),
    "smiles_hash": ("string", ()),
    "chemical_formula": ("string", ()),
    "num_atoms": ("int64", ()),
    "num_heavy_atoms": ("int64", ()),
    "charge": ("int64", ()),
    "multiplicity": ("int64", ()),
    "conformation_seq": ("int64", ()),
    "conformation_parent_seq": ("int64", ()),
    "molecular_weight": ("float32", ()),
}
BUNDLED_CONFIGS = {
    "dft_force_field": FORCE_FIELD_FEATURES,
    "dft_multipole_moments": MULTIPOLE_FEATURES,
    "dft_metadata": METADATA_FEATURES,
}


def shard_name(index: int, total: int) -> str:
    return f"{DATASET}-{SPLIT}.tfrecord-{index:05d}-of-{total:05d}"


def config_files(num_shards: int) -> list[str]:
    """Names of the files :func:`write_config` writes into a config folder."""
    shards = [shard_name(i, num_shards) for i in range(num_shards)]
    return shards + ["dataset_info.json", "features.json", "metadata.json"]


def stale_shards(folder: Path, num_shards: int) -> list[Path]:
    """TFRecord shards in ``folder`` that a write of ``num_shards`` shards would not replace."""
    names = {shard_name(i, num_shards) for i in range(num_shards)}
    return sorted(p for p in folder.glob(f"{DATASET}-{SPLIT}.tfrecord-*") if p.name not in names)


def config_dir(data_dir: str | Path, config: str, version: str = DEFAULT_VERSION) -> Path:
    return Path(data_dir) / DATASET / config / version


def features_json(features: dict) -> dict:
    """TFDS ``features.json`` (FeaturesDict of Tensor/Text features)."""
    out = {}
    for name, (dtype, shape) in features.items():
        if dtype == "string":
            out[name] = {
                "pythonClassName": "tensorflow_datasets.core.features.text_feature.Text",
                "text": {},
            }
        else:
            out[name] = {
                "pythonClassName": "tensorflow_datasets.core.features.tensor_feature.Tensor",
                "tensor": {
                    "shape": {"dimensions": [str(d) for d in shape]},
                    "dtype": dtype,
                    "encoding": "none",
                },
            }
    return {
        "pythonClassName": "tensorflow_datasets.core.features.features_dict.FeaturesDict",
        "featuresDict": {"features": out},
    }


def dataset_info_json(
    config: str, version: str, shard_lengths: list[int], num_bytes: int, description: str
) -> dict:
    return {
        "name": DATASET,
        "configName": config,
        "version": version,
        "description": description,
        "fileFormat": "tfrecord",
        "moduleName": "mace4ir.data_prep.sample",
        "splits": [
            {
                "name": SPLIT,
                "numBytes": str(num_bytes),
                "shardLengths": [str(n) for n in shard_lengths],
                "filepathTemplate": "{DATASET}-{SPLIT}.{FILEFORMAT}-{SHARD_X_OF_Y}",
            }
        ],
    }


def write_config(
    data_dir: str | Path,
    config: str,
    features: dict,
    shards: list[list[dict]],
    description: str,
    metadata: dict | None = None,
    version: str = DEFAULT_VERSION,
) -> Path:
    """Write one TFDS config: ``shards`` is a list of shards, each a list of feature dicts."""
    folder = config_dir(data_dir, config, version)
    folder.mkdir(parents=True, exist_ok=True)
    stale = stale_shards(folder, len(shards))
    if stale:  # never delete here: only the caller knows whether it wrote them
        raise DataFormatError(
            f"{folder}: holds {len(stale)} TFRecord shard(s) of another sharding "
            f"({stale[0].name}, ...); writing {len(shards)} shards would leave a mixed config"
        )
    num_bytes = 0
    for i, rows in enumerate(shards):
        path = folder / shard_name(i, len(shards))
        write_tfrecord(path, (encode_example({k: row[k] for k in features}) for row in rows))
        num_bytes += path.stat().st_size
    info = dataset_info_json(config, version, [len(s) for s in shards], num_bytes, description)
    (folder / "dataset_info.json").write_text(json.dumps(info, indent=2) + "\n")
    (folder / "features.json").write_text(json.dumps(features_json(features), indent=2) + "\n")
    if metadata is not None:
        (folder / "metadata.json").write_text(json.dumps(metadata, indent=2) + "\n")
    return folder
