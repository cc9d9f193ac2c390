"""TFRecord framing without TensorFlow.

Each record on disk is::

    uint64 length | uint32 masked_crc32c(length bytes) | data[length] | uint32 masked_crc32c(data)

(all little endian). Reading verifies both checksums; a corrupt or truncated record
raises :class:`~mace4ir.errors.DataFormatError` naming the file and the
byte offset of the record, or, with ``skip_corrupt=True``, is reported to a callback
and skipped (a bad length field cannot be skipped past: reading stops there).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import google_crc32c

from mace4ir.errors import DataFormatError

_LEN = struct.Struct("<Q")
_CRC = struct.Struct("<I")
_MASK_DELTA = 0xA282EAD8


def masked_crc32c(data: bytes) -> int:
    """TFRecord's masked CRC32C (rotate right by 15, add a constant)."""
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def frame(data: bytes) -> bytes:
    """One framed TFRecord holding ``data``."""
    length = _LEN.pack(len(data))
    return b"".join(
        (length, _CRC.pack(masked_crc32c(length)), data, _CRC.pack(masked_crc32c(data)))
    )


def write_tfrecord(path: str | Path, payloads: Iterable[bytes]) -> int:
    """Write payloads as one TFRecord file (atomically: tmp + rename). Returns the count."""
    path = Path(path)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    count = 0
    with open(tmp, "wb") as fh:
        for data in payloads:
            fh.write(frame(data))
            count += 1
    os.replace(tmp, path)
    return count


class CorruptRecord(DataFormatError):
    """A TFRecord whose framing or checksum is wrong; ``path`` and ``offset`` locate it."""

    def __init__(self, path, offset: int, what: str, resumable: bool = False):
        super().__init__(f"{path}: corrupt TFRecord at byte offset {offset}: {what}")
        self.path = str(path)
        self.offset = offset
        self.resumable = resumable  # the next record boundary is still known
        self._init_args = (path, offset, what, resumable)

    def __reduce__(self):  # picklable across worker processes
        return (type(self), self._init_args)


def iter_tfrecord(
    path: str | Path,
    skip: int = 0,
    skip_corrupt: bool = False,
    on_corrupt: Callable[[CorruptRecord], None] | None = None,
) -> Iterator[bytes | None]:
    """Yield the payloads of a TFRecord file, verifying both CRCs.

    ``skip`` records are passed over first (only their length headers are read).
    With ``skip_corrupt`` a record whose data CRC fails is handed to ``on_corrupt``
    and yielded as ``None`` (so that record indices stay aligned); a broken length
    header or a truncated file ends the file there (also reported), since the next
    record boundary is then unknown.
    """
    path = Path(path)
    try:
        fh = open(path, "rb")
    except OSError as exc:
        raise DataFormatError(f"{path}: cannot open TFRecord file: {exc.strerror}") from None
    with fh:
        size = os.fstat(fh.fileno()).st_size
        offset = 0
        while offset < size:
            try:
                length = _read_header(fh, path, offset, size)
                if skip > 0:
                    skip -= 1
                    offset += 16 + length
                    fh.seek(offset)
                    continue
                data = _read_body(fh, path, offset, length)
            except CorruptRecord as exc:
                if not skip_corrupt:
                    raise
                if on_corrupt:
                    on_corrupt(exc)
                if exc.resumable:  # keep alignment: a placeholder for the bad record
                    offset += 16 + length
                    fh.seek(offset)
                    yield None
                    continue
                return
            offset += 16 + length
            yield data


def _read_header(fh, path, offset: int, size: int) -> int:
    head = fh.read(12)
    if len(head) < 12:
        raise CorruptRecord(path, offset, f"truncated header ({len(head)} of 12 bytes)")
    (length,) = _LEN.unpack_from(head)
    (crc,) = _CRC.unpack_from(head, 8)
    if crc != masked_crc32c(head[:8]):
        raise CorruptRecord(path, offset, "length CRC mismatch")
    if offset + 16 + length > size:
        raise CorruptRecord(
            path, offset, f"truncated record (needs {length} data bytes, file ends)"
        )
    return length


def _read_body(fh, path, offset: int, length: int) -> bytes:
    data = fh.read(length)
    tail = fh.read(4)
    if len(data) < length or len(tail) < 4:
        raise CorruptRecord(path, offset, "truncated record")
    if _CRC.unpack(tail)[0] != masked_crc32c(data):
        raise CorruptRecord(path, offset, "data CRC mismatch", resumable=True)
    return data


def count_records(path: str | Path) -> int:
    """Number of records in a TFRecord file (reads only the length headers)."""
    n = 0
    path = Path(path)
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        offset = 0
        while offset < size:
            length = _read_header(fh, path, offset, size)
            offset += 16 + length
            fh.seek(offset)
            n += 1
    return n
