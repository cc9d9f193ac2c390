"""Clear errors (and counted rejections) for broken or unexpected input."""

import shutil

import numpy as np
import pytest
from scipy.constants import physical_constants

from mace4ir.data_prep.pipeline.filtering import UnitCheck
from mace4ir.data_prep.pipeline.prepare import PrepOptions, prepare
from mace4ir.data_prep.prepared.reader import open_records
from mace4ir.data_prep.qcml import layout as fmt
from mace4ir.data_prep.qcml.example_proto import decode_example
from mace4ir.data_prep.qcml.tfrecord import iter_tfrecord, write_tfrecord
from mace4ir.errors import ConfigError, DataFormatError

SMALL = dict(
    val_size=20, test_size=20, train_size=100, subsets=(100,), shard_size=100, formats=("lmdb",)
)


def shards(sample, config):
    return sorted((sample / "qcml" / config / "1.0.0").glob("*.tfrecord-*"))


def copy_sample(src, dst):
    shutil.copytree(src, dst)
    return dst


def test_units_are_converted_from_atomic_units(qcml_sample, prepared_sample):
    bohr = physical_constants["Bohr radius"][0] * 1e10  # CODATA via SciPy, independent of ASE
    hartree = physical_constants["Hartree energy in eV"][0]
    raw = {}
    for f, m in zip(
        shards(qcml_sample, "dft_force_field"), shards(qcml_sample, "dft_multipole_moments")
    ):
        for a, b in zip(iter_tfrecord(f), iter_tfrecord(m)):
            ea, eb = decode_example(a), decode_example(b)
            raw[ea["key_hash"][0].decode()] = (ea, eb)
    for rec in list(open_records(prepared_sample, "test"))[:10]:
        ea, eb = raw[rec["key_hash"]]
        np.testing.assert_allclose(rec["positions"].ravel(), ea["positions"] * bohr, rtol=1e-6)
        np.testing.assert_allclose(
            rec["energy"], ea["pbe0_formation_energy"][0] * hartree, rtol=1e-6
        )
        np.testing.assert_allclose(
            rec["forces"].ravel(), ea["pbe0_forces"] * hartree / bohr, rtol=1e-6, atol=1e-6
        )
        np.testing.assert_allclose(rec["dipole"], eb["pbe0_dipole"] * bohr, rtol=1e-6, atol=1e-7)


def test_wrong_length_unit_fails_loudly(qcml_sample, tmp_path):
    opts = PrepOptions(
        source=qcml_sample, out=tmp_path / "p", units={"positions": "angstrom"}, **SMALL
    )
    with pytest.raises(DataFormatError, match="bond length .* 'angstrom'.*probably wrong") as err:
        prepare(opts)
    assert "dft_force_field" in str(err.value)


def test_wrong_energy_unit_fails_loudly(qcml_sample, tmp_path):
    opts = PrepOptions(source=qcml_sample, out=tmp_path / "p", units={"energy": "ev"}, **SMALL)
    with pytest.raises(
        DataFormatError, match="pbe0_formation_energy\\| per atom is 0.1.* 'ev'.*probably wrong"
    ):
        prepare(opts)


def test_unit_check_catches_angstrom_data_declared_as_bohr():
    check = UnitCheck("somefile", "bohr")  # no energy field: only lengths are checked
    ch4 = np.array(
        [
            [0, 0, 0],
            [0.63, 0.63, 0.63],
            [-0.63, -0.63, 0.63],
            [-0.63, 0.63, -0.63],
            [0.63, -0.63, -0.63],
        ]
    )
    with pytest.raises(DataFormatError, match="somefile: median H–X bond length is 0.577"):
        for _ in range(50):  # Å coordinates multiplied by the Bohr factor: C-H ~0.58 Å
            check.add(
                {
                    "atomic_numbers": np.array([6, 1, 1, 1, 1]),
                    "positions": ch4 * 0.529177,
                    "energy": -20.0,
                }
            )
        check.check()


def test_unknown_unit_name_is_a_config_error(qcml_sample, tmp_path):
    with pytest.raises(ConfigError, match="unknown length unit 'nm'"):
        PrepOptions(source=qcml_sample, out=tmp_path, units={"positions": "nm"})


def test_missing_config_names_the_field_and_configs(qcml_sample, tmp_path):
    src = copy_sample(qcml_sample, tmp_path / "src")
    shutil.rmtree(src / "qcml" / "dft_multipole_moments")
    with pytest.raises(
        ConfigError, match="pbe0_dipole.*dft_multipole_moments.*configs present: dft_force_field"
    ):
        prepare(PrepOptions(source=src, out=tmp_path / "p", **SMALL))
    with pytest.raises(ConfigError, match="no 'qcml/' folder"):
        prepare(PrepOptions(source=tmp_path, out=tmp_path / "p2", **SMALL))


def test_key_hash_mismatch_names_both_files_and_the_record(qcml_sample, tmp_path):
    src = copy_sample(qcml_sample, tmp_path / "src")
    meta = shards(src, "dft_metadata")[1]
    rows = list(iter_tfrecord(meta))
    rows[3], rows[4] = rows[4], rows[3]
    write_tfrecord(meta, rows)
    ff = shards(src, "dft_force_field")[1]
    with pytest.raises(DataFormatError) as err:
        prepare(PrepOptions(source=src, out=tmp_path / "p", **SMALL))
    msg = str(err.value)
    assert (
        "key_hash mismatch at global record 103" in msg
        and f"{ff} record 3" in msg
        and f"{meta} record 3" in msg
    )


def test_corrupt_record_fails_with_offset_or_is_counted(qcml_sample, tmp_path):
    src = copy_sample(qcml_sample, tmp_path / "src")
    path = shards(src, "dft_force_field")[2]
    first = next(iter_tfrecord(path))
    raw = bytearray(path.read_bytes())
    raw[16 + len(first) + 40] ^= 0xFF  # inside record 1's data
    path.write_bytes(bytes(raw))
    with pytest.raises(
        DataFormatError, match=f"{path}: corrupt TFRecord at byte offset {16 + len(first)}"
    ):
        prepare(PrepOptions(source=src, out=tmp_path / "p", **SMALL))
    m = prepare(PrepOptions(source=src, out=tmp_path / "q", skip_corrupt=True, **SMALL))
    assert m["rejected"]["corrupt"] == 1


def _rows(sample, n):
    """The first n records of the sample as feature dicts (all three configs merged)."""
    out = []
    streams = [iter_tfrecord(shards(sample, c)[0]) for c in fmt.BUNDLED_CONFIGS]
    for parts in zip(*streams):
        row = {}
        for p in parts:
            row.update(
                {
                    k: (v[0].decode() if isinstance(v, list) else v)
                    for k, v in decode_example(p).items()
                }
            )
        out.append(row)
        if len(out) == n:
            return out


def test_invalid_records_are_counted_not_dropped_silently(qcml_sample, tmp_path):
    rows = [
        r
        for r in _rows(qcml_sample, 100)
        if r["charge"][0] == 0 and r["multiplicity"][0] == 1 and not r["is_outlier"][0]
    ][:60]
    bad = [dict(r, key_hash=f"bad{i}") for i, r in enumerate(rows[:4])]
    bad[0]["pbe0_forces"] = bad[0]["pbe0_forces"].copy()
    bad[0]["pbe0_forces"][0] = np.nan
    bad[1]["positions"] = bad[1]["positions"][:-3]  # shape mismatch
    bad[2]["atomic_numbers"] = bad[2]["atomic_numbers"].copy()
    bad[2]["atomic_numbers"][0] = 0  # unknown element
    bad[3]["positions"] = np.zeros_like(bad[3]["positions"])  # all atoms on top of each other
    for config, feats in fmt.BUNDLED_CONFIGS.items():
        fmt.write_config(tmp_path / "src", config, feats, [rows + bad], "test data")
    m = prepare(
        PrepOptions(
            source=tmp_path / "src",
            out=tmp_path / "p",
            val_size=10,
            test_size=10,
            train_size=40,
            subsets=(40,),
            shard_size=100,
            formats=("lmdb",),
        )
    )
    assert m["rejected"]["invalid"] == 4 and m["kept"] == len(rows)
    assert sorted(m["rejected_examples"]["invalid"]) == ["bad0", "bad1", "bad2", "bad3"]
    details = " | ".join(m["rejected_details"])
    for what in (
        "bad0: global record 60: NaN",
        "bad1: global record 61: shape mismatch",
        "bad2: global record 62: unknown element",
        "bad3: global record 63: atoms 0.000 Å apart",
    ):
        assert what in details


def test_sizes_that_do_not_fit_are_clear_errors(prepared_sample, qcml_sample, tmp_path):
    with pytest.raises(ConfigError, match="val_size 300 \\+ test_size 300 leaves nothing"):
        prepare(PrepOptions(source=qcml_sample, out=tmp_path / "a", val_size=300, test_size=300))
    with pytest.raises(ConfigError, match="subsets \\[5000\\] are larger than the training pool"):
        prepare(
            PrepOptions(
                source=qcml_sample,
                out=tmp_path / "b",
                val_size=20,
                test_size=20,
                subsets=(100, 5000),
            )
        )


def test_cli_prints_one_line_error(qcml_sample, tmp_path, caplog):
    from mace4ir.cli import main

    rc = main(["prep", "--source", str(tmp_path / "nowhere"), "--out", str(tmp_path / "p")])
    assert rc == 2
    assert any("is not a directory" in r.getMessage() for r in caplog.records)


def test_changed_input_is_not_mistaken_for_finished_work(qcml_sample, tmp_path):
    src = copy_sample(qcml_sample, tmp_path / "src")
    opts = PrepOptions(source=src, out=tmp_path / "p", **SMALL)
    first = prepare(opts)
    assert prepare(opts) == first  # complete and unchanged: nothing to do
    for config in fmt.BUNDLED_CONFIGS:  # same records, another order: different input
        path = shards(src, config)[0]
        write_tfrecord(path, list(iter_tfrecord(path))[::-1])
    with pytest.raises(Exception, match="made from other input or with other options"):
        prepare(opts)
