"""Filter counts, exact split sizes, nested subsets, determinism and molecule splits."""

from collections import Counter

import pytest
from conftest import SAMPLE_SEED

from mace4ir.data_prep.pipeline.prepare import PrepOptions, prepare
from mace4ir.data_prep.prepared.reader import load_manifest, open_records
from mace4ir.data_prep.qcml.example_proto import decode_example
from mace4ir.data_prep.qcml.tfrecord import iter_tfrecord

SIZES = dict(
    val_size=40, test_size=40, train_size=250, subsets=(100, 250), shard_size=64, seed=SAMPLE_SEED
)


def raw_labels(sample):
    """(key_hash, charge, multiplicity, is_outlier, smiles_hash) straight from the TFRecords."""
    ff = sorted((sample / "qcml/dft_force_field/1.0.0").glob("*.tfrecord-*"))
    md = sorted((sample / "qcml/dft_metadata/1.0.0").glob("*.tfrecord-*"))
    rows = []
    for f, m in zip(ff, md):
        for a, b in zip(iter_tfrecord(f), iter_tfrecord(m)):
            ea, eb = decode_example(a), decode_example(b)
            rows.append(
                (
                    ea["key_hash"][0].decode(),
                    int(ea["charge"][0]),
                    int(ea["multiplicity"][0]),
                    bool(ea["is_outlier"][0]),
                    eb["smiles_hash"][0].decode(),
                )
            )
    return rows


def keys(prepared, split, subset=None):
    return [r["key_hash"] for r in open_records(prepared, split, subset)]


def test_filter_counts_match_the_labels(qcml_sample, prepared_sample):
    rows = raw_labels(qcml_sample)
    expected = Counter()
    for _, charge, mult, outlier, _ in rows:
        expected[
            "charged"
            if charge
            else "not_singlet"
            if mult != 1
            else "outlier"
            if outlier
            else "kept"
        ] += 1
    m = load_manifest(prepared_sample)
    assert expected["charged"] > 0 and expected["not_singlet"] > 0 and expected["outlier"] > 0
    assert m["rejected"] == {
        "charged": expected["charged"],
        "not_singlet": expected["not_singlet"],
        "outlier": expected["outlier"],
        "invalid": 0,
        "corrupt": 0,
    }
    assert m["kept"] == expected["kept"]
    kept = {k for k, c, mu, o, _ in rows if c == 0 and mu == 1 and not o}
    stored = set(
        keys(prepared_sample, "train")
        + keys(prepared_sample, "val")
        + keys(prepared_sample, "test")
    )
    assert stored <= kept  # nothing rejected slipped through
    for reason, examples in m["rejected_examples"].items():
        assert examples and not set(examples) & kept


def test_exact_sizes_nested_subsets_disjoint_splits(prepared_sample):
    m = load_manifest(prepared_sample)
    assert {s: m["splits"][s]["count"] for s in ("train", "val", "test")} == {
        "train": 250,
        "val": 40,
        "test": 40,
    }
    assert m["subsets"] == {"100": 100, "250": 250}
    train, val, test = (
        keys(prepared_sample, "train"),
        keys(prepared_sample, "val"),
        keys(prepared_sample, "test"),
    )
    assert len(set(train)) == 250 and not (set(train) & set(val)) and not (set(train) & set(test))
    assert not set(val) & set(test)
    assert keys(prepared_sample, "train", subset=100) == train[:100]
    with pytest.raises(Exception, match="not prepared"):
        open_records(prepared_sample, "train", subset=50)


def test_splits_do_not_depend_on_worker_count(qcml_sample, prepared_sample, tmp_path):
    m1 = load_manifest(prepared_sample)
    m2 = prepare(PrepOptions(source=qcml_sample, out=tmp_path / "w2", workers=2, **SIZES))
    assert m2["splits"] == m1["splits"]  # same records, same shard checksums
    assert m2["e0s"] == m1["e0s"] and m2["statistics"] == m1["statistics"]


def test_seed_changes_the_split(qcml_sample, prepared_sample, tmp_path):
    opts = dict(SIZES, seed=SAMPLE_SEED + 1, formats=("lmdb",))
    prepare(PrepOptions(source=qcml_sample, out=tmp_path / "s", **opts))
    assert keys(tmp_path / "s", "test") != keys(prepared_sample, "test")


def test_molecule_split_has_no_leakage(qcml_sample, tmp_path):
    out = tmp_path / "mol"
    m = prepare(
        PrepOptions(
            source=qcml_sample,
            out=out,
            split_by="molecule",
            formats=("lmdb",),
            **dict(SIZES, train_size=200, subsets=(100,)),
        )
    )
    mols = {s: {r["smiles_hash"] for r in open_records(out, s)} for s in ("train", "val", "test")}
    assert (
        not mols["train"] & mols["test"]
        and not mols["train"] & mols["val"]
        and not mols["val"] & mols["test"]
    )
    assert m["splits"]["train"]["count"] == 200
    assert 0 < m["splits"]["test"]["count"] <= 40 and 0 < m["splits"]["val"]["count"] <= 40


def test_parquet_index_describes_the_shards(prepared_sample):
    from mace4ir.data_prep.prepared.index import read_index

    table = read_index(prepared_sample).to_pylist()
    by_split = Counter(r["split"] for r in table)
    assert by_split == {"train": 250, "val": 40, "test": 40}
    train = sorted((r for r in table if r["split"] == "train"), key=lambda r: r["position"])
    recs = open_records(prepared_sample, "train")
    for r in train[::37]:
        rec = recs[r["position"]]
        assert rec["key_hash"] == r["key_hash"] and len(rec["atomic_numbers"]) == r["num_atoms"]
        assert r["elements"] == sorted(set(rec["atomic_numbers"].tolist()))
        assert r["subset"] == (100 if r["position"] < 100 else 250)
        assert r["shard"] == r["position"] // 64 and r["shard_position"] == r["position"] % 64


def test_per_feature_configs_give_the_same_output(qcml_sample, prepared_sample, tmp_path):
    """QCML's per-feature configs (dft_<field>), sharded differently, read like the bundled ones."""
    from mace4ir.data_prep.qcml import layout as fmt

    rows = []
    streams = [
        (
            p
            for f in sorted((qcml_sample / "qcml" / c / "1.0.0").glob("*.tfrecord-*"))
            for p in iter_tfrecord(f)
        )
        for c in fmt.BUNDLED_CONFIGS
    ]
    for parts in zip(*streams):
        row = {}
        for p in parts:
            row.update(
                {
                    k: (v[0].decode() if isinstance(v, list) else v)
                    for k, v in decode_example(p).items()
                }
            )
        rows.append(row)
    src = tmp_path / "per_feature"
    fields = [
        "atomic_numbers",
        "positions",
        "charge",
        "multiplicity",
        "is_outlier",
        "pbe0_formation_energy",
        "pbe0_forces",
        "pbe0_dipole",
        "smiles_hash",
    ]
    all_feats = {**fmt.FORCE_FIELD_FEATURES, **fmt.MULTIPOLE_FEATURES, **fmt.METADATA_FEATURES}
    for k, name in enumerate(fields):
        per = 70 + 30 * (k % 3)  # different sharding per config: records are zipped by global index
        shards = [rows[a : a + per] for a in range(0, len(rows), per)]
        feats = {"key_hash": all_feats["key_hash"], name: all_feats[name]}
        fmt.write_config(src, f"dft_{name}", feats, shards, "per-feature test layout")
    m = prepare(PrepOptions(source=src, out=tmp_path / "p", workers=1, **SIZES))
    assert set(m["source"]["configs"]) == {f"dft_{n}" for n in fields}
    assert m["splits"] == load_manifest(prepared_sample)["splits"]


def test_job_array_stages_give_the_same_output(qcml_sample, prepared_sample, tmp_path):
    """What slurm/prep_array.sh runs: scan parts, then write parts, then the merge run."""
    opts = PrepOptions(source=qcml_sample, out=tmp_path / "array", **SIZES)
    with pytest.raises(Exception, match="not scanned yet"):
        prepare(opts, stage="write", part=(0, 2))
    for i in range(3):
        assert prepare(opts, stage="scan", part=(i, 3)) is None
    for i in range(2):
        assert prepare(opts, stage="write", part=(i, 2)) is None
    assert prepare(opts)["splits"] == load_manifest(prepared_sample)["splits"]
