"""The IDX reader and writer: round trips of every data type, and clear errors for damaged files."""

import gzip
import struct

import numpy as np
import pytest

from dnnconf.data import read_idx, write_idx
from dnnconf.errors import DataError

DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_round_trip(tmp_path, dtype, compress):
    array = (np.arange(2 * 3 * 4) - 5).reshape(2, 3, 4).astype(dtype)
    path = tmp_path / "a.idx"
    write_idx(path, array, gzip=compress)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == compress
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative
    np.testing.assert_array_equal(back, array)
    back[0, 0, 0] = 1  # the result is a writable array, not a view of the file's bytes


def test_gzip_detected_by_content_not_name(tmp_path):
    path = tmp_path / "labels-idx1-ubyte"  # no .gz, but gzip inside
    write_idx(path, np.array([3, 1, 4], np.uint8), gzip=True)
    np.testing.assert_array_equal(read_idx(path), [3, 1, 4])


def test_big_endian_layout(tmp_path):
    path = tmp_path / "x.idx"
    write_idx(path, np.array([1, 256], np.int32))
    assert path.read_bytes() == bytes([0, 0, 0x0C, 1]) + struct.pack(">I", 2) + struct.pack(">2i", 1, 256)


def header(type_byte, dims):
    return bytes([0, 0, type_byte, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"", "not an IDX file"),
        (b"\x01\x02\x08\x01" + struct.pack(">I", 1) + b"\x00", "expected magic bytes 00 00"),
        (header(0x07, [1]) + b"\x00", "unknown IDX data type 0x07"),
        (header(0x08, [2, 3]) + bytes(5), "payload is 5 bytes"),  # truncated
        (header(0x08, [2, 3]) + bytes(7), "needs 6"),  # dims do not match the payload
        (bytes([0, 0, 0x08, 3]) + struct.pack(">I", 2), "truncated IDX header"),
    ],
    ids=["empty", "wrong-magic", "wrong-type", "truncated", "wrong-dims", "short-header"],
)
def test_corrupt_files_name_the_file(tmp_path, content, expected):
    path = tmp_path / "broken-idx3-ubyte"
    path.write_bytes(content)
    with pytest.raises(DataError, match=expected) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_truncated_gzip(tmp_path):
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(header(0x08, [100]) + bytes(100))[:-12])
    with pytest.raises(DataError, match="gzip") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="cannot read"):
        read_idx(tmp_path / "nope")


def test_write_rejects_unsupported_dtype(tmp_path):
    with pytest.raises(DataError, match="int64"):
        write_idx(tmp_path / "x", np.zeros(3, np.int64))
