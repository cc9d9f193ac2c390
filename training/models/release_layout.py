"""File names of a release folder (cheap module: no torch import).

A release folder (and the Hub repository it is pushed to) holds::

    README.md                    model card (Hugging Face conventions)
    mace4ir_release.json         release config: models, units, metrics, data, software
    mace4ir_ef.safetensors/.json MACE-EF weights + model spec (training.model_io format)
    mace4ir_dipole.safetensors/.json  MACE-D weights + model spec
    mace4ir_ef.torchscript.pt    optional TorchScript export (--torchscript)
    SHA256SUMS                   `sha256sum -c SHA256SUMS` compatible checksums
"""

from mace4ir.checksums import CHECKSUM_FILE  # noqa: F401  (part of the layout)

RELEASE_CONFIG = "mace4ir_release.json"
MODEL_CARD = "README.md"
FORMAT_NAME = "mace4ir-release"
FORMAT_VERSION = 1
MODEL_STEMS = {"ef": "mace4ir_ef", "dipole": "mace4ir_dipole"}


def member_stem(kind: str, index: int) -> str:
    """File stem of committee member ``index`` >= 1 (member 0 is the release's own model)."""
    return f"{MODEL_STEMS[kind]}_member_{index:02d}"


TORCHSCRIPT_SUFFIX = ".torchscript.pt"
PICKLE_SUFFIX = ".model"  # mace-torch's own (pickled) model files

# Files a Hub repository or a local copy may carry that are not part of the release.
IGNORED_NAMES = {".gitattributes"}


def is_release_file(rel_path: str) -> bool:
    """Files that belong to a release folder (hidden files/folders and temp files do not)."""
    parts = rel_path.split("/")
    return (
        not any(p.startswith(".") for p in parts)
        and not rel_path.endswith(".tmp")
        and rel_path not in IGNORED_NAMES
    )
