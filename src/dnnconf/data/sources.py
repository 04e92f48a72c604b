"""The data sources other than Fashion-MNIST: scikit-learn's digits, your own .npz or .csv file.

Each loader returns a `Raw`: the arrays as the source holds them, plus the official test split when
the source has one. Splitting, filtering and normalization happen later, in `dnnconf.data.dataset`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dnnconf.data.files import is_number, npz_members, read_csv_numbers, read_npz
from dnnconf.errors import DataError

__all__ = ["Raw", "check_features", "is_number", "load_csv", "load_digits", "load_npz"]
FLOAT32_MAX = float(np.finfo(np.float32).max)
# loading copies each feature value: once in the split (at most 8 bytes, float64) and twice as float32
# (normalization's working copy and the tensor the model trains on)
BYTES_PER_FEATURE_COPIES = 8 + 4 + 4


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
    from sklearn.datasets import load_digits as sklearn_digits  # lazy: sklearn is slow to import

    bunch = sklearn_digits()
    return Raw(
        "digits", bunch.images.astype(np.float64), bunch.target, class_names=[str(d) for d in range(10)]
    )


def load_npz(path: str | Path) -> Raw:
    """An .npz with `x_train, y_train` (and optionally `x_test, y_test`), or with `x, y`.

    Only those arrays are read, each after its header's decompressed size is checked against the memory
    available (`dnnconf.data.files.read_npz`); object arrays are refused, never unpickled."""
    path = _existing(path, "npz")
    names = set(npz_members(str(path), path))
    found = ", ".join(sorted(names)) or "none"
    if "x_train" in names or "y_train" in names:
        train, test = ("x_train", "y_train"), ("x_test", "y_test")
    elif "x" in names or "y" in names:
        train, test = ("x", "y"), None
    else:
        raise DataError(
            f"{path}: needs arrays 'x_train' and 'y_train' (optionally 'x_test', 'y_test') or 'x' "
            f"and 'y'; found {found}"
        )
    for key in train + (test if test and (test[0] in names or test[1] in names) else ()):
        if key not in names:
            raise DataError(f"{path}: array '{key}' is missing (found {found})")
    arrays = read_npz(str(path), path, train + (test or ()), copies=dict.fromkeys(("x", "x_train", "x_test"),
                                                                                   BYTES_PER_FEATURE_COPIES))
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
    """A .csv of numbers: one example a row, the label in `label_column` (header name or index).

    Parsed in chunks, in bounded memory (`dnnconf.data.files.read_csv_numbers`)."""
    path = _existing(path, "csv")
    header, values = read_csv_numbers(str(path), path)
    width = values.shape[1]
    if width < 2:
        raise DataError(f"{path}: needs at least 2 columns (features and a label), found {width}")
    column = _column_index(path, label_column, header, width)
    x, y = np.delete(values, column, axis=1), values[:, column]
    check_features(str(path), x, "the features")
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
    """x as (N, ...) and y as (N,), both real, finite numbers, with as many labels as examples; boolean
    features become 0/1 (uint8)."""
    x, y = arrays[x_key], arrays[y_key]
    for key, array in ((x_key, x), (y_key, y)):
        if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
            raise DataError(f"{path}: array '{key}' holds {array.dtype} values, not numbers")
        if np.issubdtype(array.dtype, np.complexfloating):
            raise DataError(f"{path}: array '{key}' holds complex numbers ({array.dtype}); only real numbers "
                            "work (split the real and imaginary parts into features yourself)")
        if array.ndim == 0:
            raise DataError(f"{path}: array '{key}' is a scalar, not one value per example")
        if len(array) == 0:
            raise DataError(f"{path}: array '{key}' is empty (shape {array.shape}); it needs examples")
    if y.ndim == 2 and y.shape[1] == 1:  # a column vector of labels is common; accept it
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(f"{path}: array '{y_key}' has shape {y.shape}; expected one label per example (N,)")
    if len(x) != len(y):
        raise DataError(f"{path}: '{x_key}' has {len(x)} examples but '{y_key}' has {len(y)} labels")
    if x.dtype == np.bool_:
        x = x.astype(np.uint8)
    x = x[:, None] if x.ndim == 1 else x
    check_features(str(path), x, f"array '{x_key}'")
    _check_finite(path, y, f"array '{y_key}'")
    return x, y


def check_features(where: str, x: np.ndarray, what: str) -> None:
    """Features (N, ...) must have at least one value an example, all finite and within float32's range
    (the model computes in float32, where a larger value is infinite)."""
    if math.prod(x.shape[1:]) == 0:
        raise DataError(f"{where}: {what} has examples of shape {x.shape[1:]}: no features")
    _check_finite(where, x, what)
    if np.issubdtype(x.dtype, np.floating) and x.dtype.itemsize > 4:  # float64: may exceed float32
        largest = max(float(x.max()), -float(x.min()))  # no copy, unlike np.abs
        if largest > FLOAT32_MAX:
            raise DataError(f"{where}: {what} holds {largest:.3g}, beyond float32's range (±{FLOAT32_MAX:.3g}) in "
                            "which the model computes; rescale the features")


def _check_finite(path: Path | str, array: np.ndarray, what: str) -> None:
    if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
        first = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
        raise DataError(f"{path}: NaN or Inf in {what} (first at index {first}); only finite numbers work")


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
