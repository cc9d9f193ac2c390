"""Shared fixtures: a small QCML-format sample and a prepared directory made from it.

Both are session-scoped and built once into a temporary folder, so every stage's
tests run on the same real (GFN2-xTB) data without shipping binary fixtures.
"""

import os
import tempfile

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
# remembered digests of the test session's files stay out of the user's ~/.cache
os.environ.setdefault("MACE4IR_CACHE_DIR", tempfile.mkdtemp(prefix="mace4ir-test-cache-"))

import pytest  # noqa: E402

# Small enough for CI, big enough for val/test/train splits and two nested subsets.
SAMPLE_RECORDS = 400
SAMPLE_SEED = 7


@pytest.fixture(scope="session")
def qcml_sample(tmp_path_factory):
    """Path of a QCML-format TFDS data_dir written from GFN2-xTB calculations."""
    from mace4ir.data_prep.sample import write_sample

    out = tmp_path_factory.mktemp("qcml_sample")
    write_sample(out, n_records=SAMPLE_RECORDS, seed=SAMPLE_SEED)
    return out


@pytest.fixture(scope="session")
def prepared_sample(qcml_sample, tmp_path_factory):
    """Path of a prepared directory (LMDB + WebDataset, manifest.json) from ``qcml_sample``."""
    from mace4ir.data_prep.pipeline.prepare import PrepOptions, prepare

    out = tmp_path_factory.mktemp("prepared")
    prepare(
        PrepOptions(
            source=qcml_sample,
            out=out,
            val_size=40,
            test_size=40,
            train_size=250,
            subsets=(100, 250),
            shard_size=64,
            workers=1,
            seed=SAMPLE_SEED,
        )
    )
    return out


@pytest.fixture(scope="session")
def tiny_foundation(prepared_sample, tmp_path_factory):
    """A tiny EF + dipole pair trained a few steps on ``prepared_sample`` (fine-tuning and
    active-learning tests start from it)."""
    from finetune_helpers import train_foundation

    return train_foundation(prepared_sample, tmp_path_factory.mktemp("foundation"))
