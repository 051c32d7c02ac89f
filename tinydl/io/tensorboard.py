"""TensorBoard event files written by hand: no TensorFlow needed.

A file is a sequence of records `uint64 length | masked crc32c(length) | data | masked crc32c(data)`
(little-endian; Castagnoli CRC), each `data` a serialized `Event` protocol buffer. The first event
carries `file_version "brain.Event:2"`. We encode the few messages we need directly:

    Event   { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
    Summary { repeated Value value = 1; }
    Value   { string tag = 1; float simple_value = 2; HistogramProto histo = 5; TensorProto tensor = 8;
              SummaryMetadata metadata = 9; }
"""
import os
import socket
import struct
import time

import numpy as np

__all__ = ["EventFileWriter", "crc32c"]


def _crc_table():
    """The 256-entry table of the Castagnoli polynomial (reflected 0x82F63B78)."""
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc_table()


def crc32c(data):
    """CRC-32C of `data` (bytes)."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _masked_crc(data):
    """TFRecord's masked CRC: rotate right by 15 and add a constant."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


# -- protocol buffer encoding (the wire format: field tag = number << 3 | wire type) ----------
def _varint(n):
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(field, wire_type):
    return _varint(field << 3 | wire_type)


def _bytes_field(field, payload):
    """A length-delimited field (strings, bytes, nested messages, packed repeated numbers)."""
    payload = payload.encode("utf-8") if isinstance(payload, str) else payload
    return _key(field, 2) + _varint(len(payload)) + payload


def _double_field(field, value):
    return _key(field, 1) + struct.pack("<d", value)


def _float_field(field, value):
    return _key(field, 5) + struct.pack("<f", value)


def _int_field(field, value):
    return _key(field, 0) + _varint(int(value))


def _event(step, summary=None, file_version=None, wall_time=None):
    out = _double_field(1, time.time() if wall_time is None else wall_time) + _int_field(2, step)
    if file_version is not None:
        out += _bytes_field(3, file_version)
    if summary is not None:
        out += _bytes_field(5, summary)
    return out


def _histogram(values, bins=30):
    """HistogramProto of `values` (min, max, num, sum, sum_squares, bucket_limit, bucket)."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if values.size == 0:
        values = np.zeros(1)
    lo, hi = float(values.min()), float(values.max())
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    counts, edges = np.histogram(values, bins=bins, range=(lo, hi))
    return (_double_field(1, float(values.min())) + _double_field(2, float(values.max()))
            + _double_field(3, float(values.size)) + _double_field(4, float(values.sum()))
            + _double_field(5, float((values ** 2).sum()))
            + _bytes_field(6, struct.pack(f"<{len(edges) - 1}d", *edges[1:]))
            + _bytes_field(7, struct.pack(f"<{len(counts)}d", *counts.astype(np.float64))))


def _text_tensor(text):
    """A scalar DT_STRING TensorProto, as the text plugin reads."""
    return _int_field(1, 7) + _bytes_field(2, b"") + _bytes_field(8, text.encode("utf-8"))


class EventFileWriter:
    """Appends summaries to `logdir/events.out.tfevents.<time>.<host>.<pid>.v2`, flushed per write."""

    _counter = 0

    def __init__(self, logdir):
        os.makedirs(logdir, exist_ok=True)
        EventFileWriter._counter += 1
        name = (f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}.{os.getpid()}."
                f"{EventFileWriter._counter}.v2")
        self.path = os.path.join(logdir, name)
        self._file = open(self.path, "ab")
        self._write(_event(0, file_version="brain.Event:2"))

    def scalar(self, tag, value, step):
        """A scalar (read back by EventAccumulator.Scalars)."""
        value_msg = _bytes_field(1, tag) + _float_field(2, float(value))
        self._write(_event(step, summary=_bytes_field(1, value_msg)))

    def histogram(self, tag, values, step, bins=30):
        """A histogram of `values` (read back by EventAccumulator.Histograms)."""
        value_msg = _bytes_field(1, tag) + _bytes_field(5, _histogram(values, bins))
        self._write(_event(step, summary=_bytes_field(1, value_msg)))

    def text(self, tag, text, step=0):
        """Markdown text for the text plugin (e.g. the model summary)."""
        metadata = _bytes_field(1, _bytes_field(1, "text"))
        value_msg = _bytes_field(1, tag) + _bytes_field(8, _text_tensor(text)) + _bytes_field(9, metadata)
        self._write(_event(step, summary=_bytes_field(1, value_msg)))

    def _write(self, data):
        header = struct.pack("<Q", len(data))
        self._file.write(header + struct.pack("<I", _masked_crc(header)) + data
                         + struct.pack("<I", _masked_crc(data)))
        self._file.flush()

    def close(self):
        if not self._file.closed:
            self._file.close()
