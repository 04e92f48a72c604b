"""Reading .npz and .csv files of numbers in bounded memory, for training data and `predict --input` alike.

.npz: only the arrays asked for are read, and only after each one's .npy header (shape x itemsize, the
bytes it decompresses to) has been checked against the memory available; object arrays are refused
(never unpickled), as are members that are not .npy. .csv: parsed in chunks of rows into float64, the
memory used so far checked after each chunk, and the longest line checked first when the file is large
(a row is held as Python strings while it is parsed, ~30 bytes per character of text).
Messages start with `where`: the file, or the option and the file (`--input FILE`).
"""

from __future__ import annotations

import csv
import math
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import numpy as np

from dnnconf.data import limits
from dnnconf.data.limits import format_bytes
from dnnconf.errors import DataError

CSV_CHUNK_CELLS = 1 << 20  # cells parsed as Python strings before they become one float64 block
CSV_BYTES_PER_TEXT_BYTE = 32  # measured upper bound of a parsed row's Python objects per byte of its text


def npz_members(where: str, path: Path) -> dict[str, zipfile.ZipInfo]:
    """The arrays of an .npz by name (`x` for `x.npy`); members that are not .npy keep their file name."""
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (OSError, zipfile.BadZipFile, ValueError, EOFError) as error:
        raise DataError(f"{where}: cannot read the .npz file ({error})") from None
    return {info.filename.removesuffix(".npy"): info for info in infos}


def read_npz(where: str, path: Path, keys: Sequence[str], copies: dict[str, int] | None = None
             ) -> dict[str, np.ndarray]:
    """The arrays `keys` (those present) of the .npz `path`, each header checked before it is read.

    The memory needed is the arrays decompressed plus, for each key in `copies`, what the caller's
    copies of it take: `copies[key]` bytes a value (e.g. a copy in the array's own dtype and float32
    working copies), so a file is refused before it is read when its arrays fit but their copies would not."""
    copies = copies or {}
    try:
        with zipfile.ZipFile(path) as archive:
            members = {info.filename.removesuffix(".npy"): info for info in archive.infolist()}
            chosen = {key: members[key] for key in keys if key in members}
            headers = {key: _npy_header(where, archive, key, info) for key, info in chosen.items()}
            total = sum(nbytes for _, _, nbytes in headers.values())
            working = sum(math.prod(shape) * copies.get(key, 0) for key, (shape, _, _) in headers.items())
            if total:
                shapes = ", ".join(f"'{key}' {shape} of {dtype}" for key, (shape, dtype, _) in headers.items())
                plus = f", plus {format_bytes(working)} of copies while loading" if working else ""
                what = f"the arrays {shapes} ({format_bytes(total)} decompressed{plus})"
                limits.check_fits(f"{where}", total + working, what)
            arrays = {}
            for key, info in chosen.items():
                with archive.open(info) as member:
                    arrays[key] = np.lib.format.read_array(member, allow_pickle=False)
            return arrays
    except (OSError, zipfile.BadZipFile, ValueError, EOFError, NotImplementedError) as error:
        raise DataError(f"{where}: cannot read the .npz file ({_short(error)})") from None


def _npy_header(where: str, archive: zipfile.ZipFile, key: str, info: zipfile.ZipInfo) -> tuple:
    """(shape, dtype, bytes once decompressed) from the member's .npy header; refuses object arrays."""
    if not info.filename.endswith(".npy"):
        raise DataError(f"{where}: member '{info.filename}' is not a .npy array")
    try:
        with archive.open(info) as member:
            version = np.lib.format.read_magic(member)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(member)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(member)
            else:
                raise DataError(f"{where}: array '{key}' uses .npy format {version}; accepted: 1.0, 2.0")
    except (OSError, zipfile.BadZipFile, ValueError, EOFError, NotImplementedError) as error:
        raise DataError(f"{where}: array '{key}' has no valid .npy header ({_short(error)})") from None
    if dtype.hasobject:
        raise DataError(f"{where}: array '{key}' holds Python objects ({dtype}); only numeric arrays are read "
                        "(objects would need unpickling, which dnnconf never does)")
    return shape, dtype, math.prod(shape) * dtype.itemsize


def _short(error: Exception, limit: int = 160) -> str:
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def read_csv_numbers(where: str, path: Path) -> tuple[list[str] | None, np.ndarray]:
    """(header or None, float64 values (rows, columns)) of a .csv of numbers; a first row holding any
    non-number is the header. Blank lines are skipped; every row must have the first data row's width."""
    _check_longest_line(where, path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as file:
            reader = csv.reader(file)
            header, width, blocks, chunk, used = None, None, [], [], 0
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue
                if width is None:
                    if header is None and not all(map(is_number, row)):
                        header = row
                        continue
                    width = len(row)
                    if header is not None and len(header) != width:
                        raise DataError(f"{where}: the header has {len(header)} columns but the first data "
                                        f"row {width}")
                chunk.append((reader.line_num, row))
                if len(chunk) * width >= CSV_CHUNK_CELLS:
                    used += _add_block(where, blocks, chunk, header, width, used)
                    chunk = []
            if chunk:
                _add_block(where, blocks, chunk, header, width, used)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DataError(f"{where}: cannot read the .csv file ({_short(error)})") from None
    if not blocks:
        raise DataError(f"{where}: no data rows")
    return header, (blocks[0] if len(blocks) == 1 else np.concatenate(blocks))


def _add_block(where: str, blocks: list, chunk: list, header: list[str] | None, width: int, used: int) -> int:
    """Convert `chunk` to float64 and append it; refuse once the blocks (and their final concatenation,
    which doubles them) would exceed the memory available. Returns the block's size in bytes."""
    nbytes = len(chunk) * width * 8
    limits.check_fits(where, 2 * (used + nbytes), f"the values parsed so far ({len(chunk)} more rows of {width})")
    try:
        block = np.array([row for _, row in chunk], dtype=np.float64)
    except ValueError:
        _raise_first_bad_cell(where, chunk, header, width)
    blocks.append(block)
    return nbytes


def _check_longest_line(where: str, path: Path) -> None:
    """A row is parsed whole, as Python strings; refuse a line too long for that (checked only when the
    whole file could not fit, which a small file always does)."""
    size = path.stat().st_size
    available = limits.memory_available()
    if size * CSV_BYTES_PER_TEXT_BYTE <= available:
        return
    longest, current, line, longest_line = 0, 0, 1, 1
    with open(path, "rb") as file:
        while block := file.read(1 << 20):
            pieces = block.split(b"\n")
            for piece in pieces[:-1]:
                current += len(piece)
                if current > longest:
                    longest, longest_line = current, line
                current, line = 0, line + 1
            current += len(pieces[-1])
    if current > longest:
        longest, longest_line = current, line
    if longest * CSV_BYTES_PER_TEXT_BYTE > available:
        raise DataError(f"{where}: line {longest_line} is {format_bytes(longest)} long; parsing it needs about "
                        f"{format_bytes(longest * CSV_BYTES_PER_TEXT_BYTE)}, more than the "
                        f"{format_bytes(available)} available")


def _raise_first_bad_cell(where: str, chunk: list, header: list[str] | None, width: int) -> NoReturn:
    """Find the row or cell that the fast conversion refused, and say where it is."""
    for line, row in chunk:
        if len(row) != width:
            raise DataError(f"{where}: line {line} has {len(row)} columns, expected {width}")
        for col, cell in enumerate(row):
            if not is_number(cell):
                name = f"'{header[col]}'" if header else str(col)
                raise DataError(f"{where}: line {line}, column {name}: '{_clip(cell)}' is not a number")
    raise DataError(f"{where}: cannot read the values as numbers")


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def is_number(cell: str) -> bool:
    """Whether a CSV cell reads as a float (header detection, the error naming a bad cell)."""
    try:
        float(cell)
    except ValueError:
        return False
    return True
