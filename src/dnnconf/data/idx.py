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

from dnnconf.data import limits
from dnnconf.errors import DataError
from dnnconf.safe_write import write_atomic

DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_TYPE_BYTES = {np.dtype(code).newbyteorder("="): byte for byte, code in DTYPES.items()}
_ACCEPTED = "0x08 ubyte, 0x09 byte, 0x0B short, 0x0C int, 0x0D float, 0x0E double"
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 22  # bytes inflated at a time


def read_idx(path: str | Path, where: str | None = None) -> np.ndarray:
    """The array stored in the IDX file `path` (gzip or raw), in native byte order and writable.

    The header's shape x itemsize is checked against the memory available before the payload is read,
    and a gzip stream is inflated in bounded chunks into that buffer: a stream that inflates to more
    than the header promised is refused, never inflated in full. `where` starts the messages (default:
    the path)."""
    path = Path(path)
    where = where or str(path)
    try:
        with open(path, "rb") as file:
            compressed = file.read(2) == _GZIP_MAGIC
            file.seek(0)
            stream = _gzip.GzipFile(fileobj=file, mode="rb") if compressed else file
            return _read_idx_stream(where, stream, None if compressed else path.stat().st_size)
    except (OSError, EOFError, zlib.error) as error:
        if isinstance(error, _gzip.BadGzipFile) or not isinstance(error, OSError) or error.errno is None:
            raise DataError(f"{where}: corrupt or truncated gzip data ({error})") from None
        raise DataError(f"{where}: cannot read the IDX file ({error.strerror or error})") from None


def _read_idx_stream(where: str, stream, file_size: int | None) -> np.ndarray:
    """The IDX array of an open (possibly inflating) binary stream; `file_size` for a raw file."""
    magic = stream.read(4)
    if len(magic) < 4 or magic[:2] != b"\x00\x00":
        got = magic.hex(" ") or "an empty file"
        raise DataError(f"{where}: not an IDX file (expected magic bytes 00 00 <type> <ndim>, got {got})")
    type_byte, ndim = magic[2], magic[3]
    if type_byte not in DTYPES:
        raise DataError(f"{where}: unknown IDX data type 0x{type_byte:02X} (accepted: {_ACCEPTED})")
    sizes = stream.read(4 * ndim)
    if len(sizes) < 4 * ndim:
        raise DataError(f"{where}: truncated IDX header (needs {4 + 4 * ndim} bytes for {ndim} dimensions)")
    dims = struct.unpack(f">{ndim}I", sizes)
    dtype = np.dtype(DTYPES[type_byte])
    expected = math.prod(dims) * dtype.itemsize
    shape_text = f"the header's shape {tuple(dims)} of {dtype.newbyteorder('=').name}"
    if file_size is not None and file_size - 4 - 4 * ndim != expected:
        raise DataError(f"{where}: the payload is {file_size - 4 - 4 * ndim} bytes but {shape_text} needs {expected}")
    limits.check_fits(where, expected, f"{shape_text} ({'decompressed' if file_size is None else 'read'})")
    payload = np.empty(expected, np.uint8)
    view, done = memoryview(payload), 0
    while done < expected:
        got = stream.readinto(view[done: done + _CHUNK])
        if not got:
            raise DataError(f"{where}: the payload is {done} bytes but {shape_text} needs {expected}")
        done += got
    if stream.read(1):
        raise DataError(f"{where}: the payload holds more than the {expected} bytes {shape_text} needs")
    return payload.view(dtype).reshape(dims).astype(dtype.newbyteorder("="))


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
    write_atomic(Path(path), _gzip.compress(payload) if gzip else payload)
