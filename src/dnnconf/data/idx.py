"""Read and write IDX files, the format of MNIST and Fashion-MNIST.

An IDX file is a 4-byte magic (0x00 0x00 <type> <ndim>), `ndim` big-endian uint32 sizes, then the
values in row-major order, big-endian. Files may be gzip-compressed; that is detected from the gzip
magic bytes, not the file name, so a renamed file still reads.
"""

from __future__ import annotations

import gzip as _gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from dnnconf.errors import DataError

DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_TYPE_BYTES = {np.dtype(code).newbyteorder("="): byte for byte, code in DTYPES.items()}
_ACCEPTED = "0x08 ubyte, 0x09 byte, 0x0B short, 0x0C int, 0x0D float, 0x0E double"
_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in the IDX file `path` (gzip or raw), in native byte order and writable."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise DataError(f"{path}: cannot read the IDX file ({error.strerror or error})") from None
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = _gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as error:
            raise DataError(f"{path}: corrupt or truncated gzip data ({error})") from None
    if len(raw) < 4 or raw[:2] != b"\x00\x00":
        got = raw[:4].hex(" ") or "an empty file"
        raise DataError(f"{path}: not an IDX file (expected magic bytes 00 00 <type> <ndim>, got {got})")
    type_byte, ndim = raw[2], raw[3]
    if type_byte not in DTYPES:
        raise DataError(f"{path}: unknown IDX data type 0x{type_byte:02X} (accepted: {_ACCEPTED})")
    start = 4 + 4 * ndim
    if len(raw) < start:
        raise DataError(f"{path}: truncated IDX header (needs {start} bytes for {ndim} dimensions)")
    dims = struct.unpack(f">{ndim}I", raw[4:start])
    dtype = np.dtype(DTYPES[type_byte])
    expected = math.prod(dims) * dtype.itemsize
    if len(raw) - start != expected:
        raise DataError(
            f"{path}: the payload is {len(raw) - start} bytes but the header's shape {tuple(dims)} "
            f"of {dtype.newbyteorder('=').name} needs {expected}"
        )
    return np.frombuffer(raw, dtype, offset=start).reshape(dims).astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: np.ndarray, gzip: bool = False) -> None:
    """Write `array` to `path` as IDX (gzip-compressed when `gzip`); its dtype must be one IDX stores."""
    array = np.asarray(array)
    type_byte = _TYPE_BYTES.get(array.dtype.newbyteorder("="))
    if type_byte is None:
        raise DataError(
            f"{path}: IDX cannot store dtype {array.dtype} (accepted: uint8, int8, int16, int32, "
            "float32, float64)"
        )
    if array.ndim > 255 or any(size >= 2**32 for size in array.shape):
        raise DataError(f"{path}: IDX cannot store shape {array.shape} (at most 255 dimensions below 2**32)")
    header = bytes([0, 0, type_byte, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + np.ascontiguousarray(array, dtype=DTYPES[type_byte]).tobytes()
    Path(path).write_bytes(_gzip.compress(payload) if gzip else payload)
