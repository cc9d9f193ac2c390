"""``tf.train.Example`` with the protobuf runtime, without TensorFlow.

The message classes are built at import time from a hand-written descriptor that
mirrors ``tensorflow/core/example/{feature,example}.proto`` (same package, names and
field numbers, so the bytes are exactly TensorFlow's). They live in a private
descriptor pool, so an installed TensorFlow does not clash with them.
"""

from __future__ import annotations

import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from mace4ir.data_prep.errors import DataFormatError

_F = descriptor_pb2.FieldDescriptorProto


def _field(msg, name, number, ftype, label=_F.LABEL_OPTIONAL, type_name=None, packed=None, oneof=None):
    field = msg.field.add(name=name, number=number, type=ftype, label=label)
    if type_name:
        field.type_name = type_name
    if packed is not None:
        field.options.packed = packed
    if oneof is not None:
        field.oneof_index = oneof
    return field


def _build_file() -> descriptor_pb2.FileDescriptorProto:
    f = descriptor_pb2.FileDescriptorProto(name="mace4ir/tf_example.proto", package="tensorflow", syntax="proto3")
    rep = _F.LABEL_REPEATED
    _field(f.message_type.add(name="BytesList"), "value", 1, _F.TYPE_BYTES, rep)
    _field(f.message_type.add(name="FloatList"), "value", 1, _F.TYPE_FLOAT, rep, packed=True)
    _field(f.message_type.add(name="Int64List"), "value", 1, _F.TYPE_INT64, rep, packed=True)
    feature = f.message_type.add(name="Feature")
    feature.oneof_decl.add(name="kind")
    _field(feature, "bytes_list", 1, _F.TYPE_MESSAGE, type_name=".tensorflow.BytesList", oneof=0)
    _field(feature, "float_list", 2, _F.TYPE_MESSAGE, type_name=".tensorflow.FloatList", oneof=0)
    _field(feature, "int64_list", 3, _F.TYPE_MESSAGE, type_name=".tensorflow.Int64List", oneof=0)
    features = f.message_type.add(name="Features")
    entry = features.nested_type.add(name="FeatureEntry")
    entry.options.map_entry = True
    _field(entry, "key", 1, _F.TYPE_STRING)
    _field(entry, "value", 2, _F.TYPE_MESSAGE, type_name=".tensorflow.Feature")
    _field(features, "feature", 1, _F.TYPE_MESSAGE, rep, type_name=".tensorflow.Features.FeatureEntry")
    _field(f.message_type.add(name="Example"), "features", 1, _F.TYPE_MESSAGE, type_name=".tensorflow.Features")
    return f


_POOL = descriptor_pool.DescriptorPool()
_POOL.Add(_build_file())
Example = message_factory.GetMessageClass(_POOL.FindMessageTypeByName("tensorflow.Example"))
Feature = message_factory.GetMessageClass(_POOL.FindMessageTypeByName("tensorflow.Feature"))


def encode_example(features: dict) -> bytes:
    """Serialize ``{name: value}``: bytes/str -> BytesList, float arrays -> FloatList,
    int/bool arrays -> Int64List (scalars become one-element lists, as in TFDS)."""
    ex = Example()
    fmap = ex.features.feature
    for name, value in features.items():
        if isinstance(value, (bytes, str)):
            fmap[name].bytes_list.value.append(value.encode() if isinstance(value, str) else value)
            continue
        arr = np.asarray(value)
        if arr.dtype.kind == "f":
            fmap[name].float_list.value.extend(arr.astype(np.float32).ravel().tolist())
        elif arr.dtype.kind in "iub":
            fmap[name].int64_list.value.extend(arr.astype(np.int64).ravel().tolist())
        else:
            raise TypeError(f"feature {name!r}: unsupported dtype {arr.dtype}")
    return ex.SerializeToString(deterministic=True)


def decode_example(data: bytes, where: str = "record") -> dict:
    """Parse serialized Example bytes into ``{name: np.ndarray | list[bytes]}``.

    Float lists come back as float32 arrays, int64 lists as int64 arrays, byte lists
    as lists of ``bytes``.
    """
    ex = Example()
    try:
        ex.ParseFromString(data)
    except Exception as exc:  # protobuf raises DecodeError (runtime specific class)
        raise DataFormatError(f"{where}: not a tf.train.Example: {exc}") from None
    out = {}
    for name, feat in ex.features.feature.items():
        kind = feat.WhichOneof("kind")
        if kind == "float_list":
            out[name] = np.array(feat.float_list.value, dtype=np.float32)
        elif kind == "int64_list":
            out[name] = np.array(feat.int64_list.value, dtype=np.int64)
        elif kind == "bytes_list":
            out[name] = list(feat.bytes_list.value)
        else:
            out[name] = None
    return out
