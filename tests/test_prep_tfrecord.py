"""TFRecord framing, CRC32C and tf.train.Example encoding (no TensorFlow)."""

import numpy as np
import pytest

from mace4ir.data_prep.qcml.example_proto import decode_example, encode_example
from mace4ir.data_prep.qcml.tfrecord import (
    CorruptRecord,
    count_records,
    iter_tfrecord,
    masked_crc32c,
    write_tfrecord,
)
from mace4ir.errors import DataFormatError


def test_masked_crc32c_matches_reference_values():
    # CRC-32C check value of "123456789" is 0xE3069283 (RFC 3720); masking as in TensorFlow
    crc = 0xE3069283
    expected = (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF
    assert masked_crc32c(b"123456789") == expected
    assert masked_crc32c(b"") == 0xA282EAD8


def test_example_bytes_are_tensorflows_wire_format():
    # Example{features{feature{key:"a" value{int64_list{value:[1]}}}}}, encoded by hand
    expected = bytes.fromhex("0a0c0a0a0a016112051a030a0101")
    assert encode_example({"a": np.array([1])}) == expected
    assert decode_example(expected)["a"].tolist() == [1]


def test_example_round_trip_keeps_types():
    feats = {
        "key_hash": "abc",
        "positions": np.arange(6, dtype=np.float32) / 3,
        "z": np.array([1, 8, 1]),
        "flag": np.bool_(True),
    }
    out = decode_example(encode_example(feats))
    assert out["key_hash"] == [b"abc"]
    assert out["positions"].dtype == np.float32 and np.array_equal(
        out["positions"], feats["positions"]
    )
    assert out["z"].tolist() == [1, 8, 1] and out["flag"].tolist() == [1]


def test_round_trip(tmp_path):
    payloads = [bytes([i]) * i for i in range(50)]
    path = tmp_path / "x.tfrecord"
    assert write_tfrecord(path, payloads) == 50
    assert list(iter_tfrecord(path)) == payloads
    assert list(iter_tfrecord(path, skip=47)) == payloads[47:]
    assert count_records(path) == 50


def _offset_of(payloads, k):
    return sum(16 + len(p) for p in payloads[:k])


def test_flipped_data_byte_names_file_and_offset(tmp_path):
    payloads = [b"record-%d" % i for i in range(5)]
    path = tmp_path / "x.tfrecord"
    write_tfrecord(path, payloads)
    raw = bytearray(path.read_bytes())
    raw[_offset_of(payloads, 3) + 12 + 2] ^= 0xFF  # inside the data of record 3
    path.write_bytes(bytes(raw))
    with pytest.raises(CorruptRecord) as err:
        list(iter_tfrecord(path))
    assert err.value.offset == _offset_of(payloads, 3)
    assert str(path) in str(err.value) and f"byte offset {_offset_of(payloads, 3)}" in str(
        err.value
    )
    # skip mode: a placeholder keeps later records aligned
    seen = []
    got = list(iter_tfrecord(path, skip_corrupt=True, on_corrupt=seen.append))
    assert got == payloads[:3] + [None] + payloads[4:]
    assert len(seen) == 1


def test_truncated_file_and_bad_length(tmp_path):
    payloads = [b"x" * 100, b"y" * 100]
    path = tmp_path / "x.tfrecord"
    write_tfrecord(path, payloads)
    raw = path.read_bytes()
    path.write_bytes(raw[:-30])
    with pytest.raises(DataFormatError, match="truncated"):
        list(iter_tfrecord(path))
    assert list(iter_tfrecord(path, skip_corrupt=True)) == payloads[:1]
    bad = bytearray(raw)
    bad[_offset_of(payloads, 1)] ^= 0x01  # length field of record 1
    path.write_bytes(bytes(bad))
    with pytest.raises(CorruptRecord, match="length CRC"):
        list(iter_tfrecord(path))
