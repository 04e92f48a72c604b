"""The data sources other than Fashion-MNIST: scikit-learn's digits, your own .npz or .csv file.

Each loader returns a `Raw`: the arrays as the source holds them, plus the official test split when
the source has one. Splitting, filtering and normalization happen later, in `dnnconf.data.dataset`.
"""

from __future__ import annotations

import csv
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import numpy as np

from dnnconf.errors import DataError


@dataclass
class Raw:
    """A source's arrays; `x_test`/`y_test` are None when the source has no test split of its own."""

    name: str  # how messages name the source: "digits", "fashion_mnist" or the file path
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    class_names: list[str] | None = None

    @property
    def has_test(self) -> bool:
        return self.x_test is not None


def load_digits() -> Raw:
    """scikit-learn's 1797 handwritten digits, as 8x8 float images with values 0..16."""
    from sklearn.datasets import load_digits as sklearn_digits  # deferred: sklearn is slow to import

    bunch = sklearn_digits()
    return Raw(
        "digits", bunch.images.astype(np.float64), bunch.target, class_names=[str(d) for d in range(10)]
    )


def load_npz(path: str | Path) -> Raw:
    """An .npz with `x_train, y_train` (and optionally `x_test, y_test`), or with `x, y`."""
    path = _existing(path, "npz")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise DataError(f"{path}: cannot read the .npz file ({error})") from None
    found = ", ".join(sorted(arrays)) or "none"
    if "x_train" in arrays or "y_train" in arrays:
        train, test = ("x_train", "y_train"), ("x_test", "y_test")
    elif "x" in arrays or "y" in arrays:
        train, test = ("x", "y"), None
    else:
        raise DataError(
            f"{path}: needs arrays 'x_train' and 'y_train' (optionally 'x_test', 'y_test') or 'x' "
            f"and 'y'; found {found}"
        )
    for key in train + (test if test and (test[0] in arrays or test[1] in arrays) else ()):
        if key not in arrays:
            raise DataError(f"{path}: array '{key}' is missing (found {found})")
    x_train, y_train = _checked(path, arrays, *train)
    if test and test[0] in arrays:
        x_test, y_test = _checked(path, arrays, *test)
        if x_test.shape[1:] != x_train.shape[1:]:
            raise DataError(
                f"{path}: 'x_test' examples have shape {x_test.shape[1:]}, 'x_train' examples "
                f"{x_train.shape[1:]}"
            )
        return Raw(str(path), x_train, y_train, x_test, y_test)
    return Raw(str(path), x_train, y_train)


def load_csv(path: str | Path, label_column: str | int = -1) -> Raw:
    """A .csv of numbers: one example a row, the label in `label_column` (header name or index)."""
    path = _existing(path, "csv")
    try:
        with open(path, newline="", encoding="utf-8-sig") as file:
            reader = csv.reader(file)
            numbered = [(reader.line_num, row) for row in reader if any(cell.strip() for cell in row)]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DataError(f"{path}: cannot read the .csv file ({error})") from None
    # a first row with any non-number is a header; a file of numbers has none
    header = numbered[0][1] if numbered and not all(map(is_number, numbered[0][1])) else None
    body = numbered[1:] if header else numbered
    if not body:
        raise DataError(f"{path}: no data rows")
    width = len(body[0][1])
    if width < 2:
        raise DataError(f"{path}: needs at least 2 columns (features and a label), found {width}")
    if header and len(header) != width:
        raise DataError(f"{path}: the header has {len(header)} columns but the first data row {width}")
    column = _column_index(path, label_column, header, width)
    try:
        values = np.array([row for _, row in body], dtype=np.float64)
    except ValueError:
        _raise_first_bad_cell(path, body, header, width)
    x, y = np.delete(values, column, axis=1), values[:, column]
    _check_finite(path, x, "the features")
    _check_finite(path, y, "the labels")
    return Raw(str(path), x, y)


def _existing(path: str | Path | None, kind: str) -> Path:
    if path is None:
        raise DataError(f"data.path: the {kind} dataset needs the path of a .{kind} file")
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"data.path: {path} does not exist or is not a file")
    return path


def _checked(
    path: Path, arrays: dict[str, np.ndarray], x_key: str, y_key: str
) -> tuple[np.ndarray, np.ndarray]:
    """x as (N, ...) and y as (N,), both numeric and finite, with as many labels as examples."""
    x, y = arrays[x_key], arrays[y_key]
    for key, array in ((x_key, x), (y_key, y)):
        if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
            raise DataError(f"{path}: array '{key}' holds {array.dtype} values, not numbers")
        if array.ndim == 0:
            raise DataError(f"{path}: array '{key}' is a scalar, not one value per example")
    if y.ndim == 2 and y.shape[1] == 1:  # a column vector of labels is common; accept it
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(f"{path}: array '{y_key}' has shape {y.shape}; expected one label per example (N,)")
    if len(x) != len(y):
        raise DataError(f"{path}: '{x_key}' has {len(x)} examples but '{y_key}' has {len(y)} labels")
    _check_finite(path, x, f"array '{x_key}'")
    _check_finite(path, y, f"array '{y_key}'")
    return (x[:, None] if x.ndim == 1 else x), y


def _check_finite(path: Path, array: np.ndarray, what: str) -> None:
    if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
        first = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
        raise DataError(f"{path}: NaN or Inf in {what} (first at index {first}); only finite numbers work")


def _raise_first_bad_cell(
    path: Path, body: list[tuple[int, list[str]]], header: list[str] | None, width: int
) -> NoReturn:
    """Find the row or cell that the fast conversion refused, and say where it is."""
    for line, row in body:
        if len(row) != width:
            raise DataError(f"{path}: line {line} has {len(row)} columns, expected {width}")
        for col, cell in enumerate(row):
            if not is_number(cell):
                name = f"'{header[col]}'" if header else str(col)
                raise DataError(f"{path}: line {line}, column {name}: '{cell}' is not a number")
    raise DataError(f"{path}: cannot read the values as numbers")


def is_number(cell: str) -> bool:
    """Whether a CSV cell reads as a float (header detection, the error naming a bad cell)."""
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _column_index(path: Path, label_column: str | int, header: list[str] | None, width: int) -> int:
    """The label column's index from a header name or an (possibly negative) index."""
    if isinstance(label_column, str):
        names = [name.strip() for name in header] if header else []
        if label_column.strip() in names:
            return names.index(label_column.strip())
        try:
            label_column = int(label_column)
        except ValueError:
            columns = ", ".join(names) if names else "none: the file has no header row"
            raise DataError(
                f"data.label_column: '{label_column}' is not a column of {path} (columns: {columns})"
            ) from None
    if not -width <= label_column < width:
        raise DataError(
            f"data.label_column: index {label_column} is out of range for {path} ({width} columns)"
        )
    return label_column % width
