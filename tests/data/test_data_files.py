"""Hostile and absurd data files: sizes checked before decompressing, labels, classes, rows and features
refused with one line naming the file (issue 20, classes 2, 3 and 8)."""

from __future__ import annotations

import gzip
import io
import struct
import zipfile

import numpy as np
import pytest

from dnnconf.cli.predict import read_input
from dnnconf.config.schema import DataConfig
from dnnconf.data import limits, load_data, read_idx
from dnnconf.data.limits import MAX_CLASSES, memory_available
from dnnconf.errors import DataError

RNG = np.random.default_rng(0)


def npz(tmp_path, name="d.npz", **arrays):
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


def npy_bytes(shape, dtype="<f8", body=b"") -> bytes:
    """A .npy member whose header claims `shape`, followed by `body` (maybe far less than it claims)."""
    buffer = io.BytesIO()
    header = {"descr": dtype, "fortran_order": False, "shape": tuple(shape)}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue() + body


def zip_of(path, members: dict[str, bytes]):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def load(path, **data):
    return load_data(DataConfig(**{"dataset": "npz", "path": str(path), "valid_size": 0.2, **data}))


def small(n=40, features=3):
    return {"x": RNG.random((n, features)), "y": np.arange(n) % 2}


# --- class 2: sizes checked before anything is allocated ---


def test_memory_available_is_positive_and_bounded_by_an_address_space_limit():
    import resource
    import subprocess
    import sys

    assert 0 < memory_available() < 2**63
    code = "from dnnconf.data.limits import memory_available as m; print(m())"
    limit = 6 * 2**30
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, limit)))
    assert 0 < int(out.stdout) < limit


@pytest.mark.parametrize("shape", [(10**12,), (2**31, 2**31), (10**6, 10**6)])
def test_an_npz_header_claiming_more_than_memory_is_refused_before_reading(tmp_path, shape):
    path = zip_of(tmp_path / "bomb.npz", {"x.npy": npy_bytes(shape, body=b"\0" * 64),
                                          "y.npy": npy_bytes((2,), "<i8", b"\0" * 16)})
    with pytest.raises(DataError, match=r"bomb\.npz: the arrays 'x' .* decompressed.* more than the .* available"):
        load(path)
    with pytest.raises(DataError, match=r"--input .*bomb\.npz: .* available"):
        read_input(path)


def test_a_real_deflate_bomb_is_refused_from_its_header(tmp_path, monkeypatch):
    size = 64 * 2**20  # 64 MB of zeros deflate to ~64 kB
    path = tmp_path / "zeros.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("x.npy", npy_bytes((size // 8, 1), body=bytes(size)))
        archive.writestr("y.npy", npy_bytes((size // 8,), "<i8", bytes(size)))
    assert path.stat().st_size < size // 100
    monkeypatch.setattr(limits, "memory_available", lambda: 32 * 2**20)
    with pytest.raises(DataError, match=r"zeros\.npz: the arrays 'x' \(8388608, 1\) of float64, 'y' \(8388608,\) "
                                        r"of int64 \(134\.2 MB decompressed, plus 134\.2 MB of copies while loading\) "
                                        r"needs 268\.4 MB in memory, more than the 33\.6 MB available"):
        load(path)


def test_arrays_that_fit_are_refused_when_the_copies_loading_makes_do_not(tmp_path, monkeypatch):
    path = npz(tmp_path, x=np.zeros((1000, 100), np.uint8), y=np.arange(1000) % 2)  # 100 kB of pixels
    monkeypatch.setattr(limits, "memory_available", lambda: 1_000_000)  # fits them, not 16 bytes a pixel more
    with pytest.raises(DataError, match=r"d\.npz: .*\(108\.0 kB decompressed, plus 1\.6 MB of copies while "
                                        r"loading\) needs 1\.7 MB in memory, more than the 1\.0 MB available"):
        load(path)
    monkeypatch.setattr(limits, "memory_available", lambda: 10_000_000)
    assert load(path).num_classes == 2


def test_an_npz_member_that_is_not_npy_is_not_read(tmp_path):
    path = zip_of(tmp_path / "odd.npz", {"x": b"\0" * 100, "y.npy": npy_bytes((2,), "<i8", b"\0" * 16)})
    with pytest.raises(DataError, match=r"odd\.npz: member 'x' is not a \.npy array"):
        load(path)


def test_an_npz_that_is_not_a_zip_and_a_truncated_member(tmp_path):
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(DataError, match=r"text\.npz: cannot read the \.npz file"):
        load(tmp_path / "text.npz")
    path = zip_of(tmp_path / "short.npz", {"x.npy": npy_bytes((10, 3), body=b"\0" * 8),
                                           "y.npy": npy_bytes((10,), "<i8", b"\0" * 80)})
    with pytest.raises(DataError, match=r"short\.npz: cannot read the \.npz file"):
        load(path)


def idx_header(dims, type_byte=0x08) -> bytes:
    return bytes([0, 0, type_byte, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)


@pytest.mark.parametrize("compressed", [True, False])
def test_an_idx_header_claiming_more_than_memory_is_refused_before_reading(tmp_path, compressed):
    data = idx_header((2**32 - 1, 2**32 - 1), 0x0E) + b"\0" * 100
    path = tmp_path / "bomb-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(data) if compressed else data)
    expected = "decompressed" if compressed else "the payload is 100 bytes"
    with pytest.raises(DataError, match=rf"bomb-idx3-ubyte\.gz: .*{expected}"):
        read_idx(path)


def test_a_gzip_idx_bomb_is_refused_from_its_header_and_a_lying_one_is_not_inflated(tmp_path, monkeypatch):
    size = 32 * 2**20
    honest = tmp_path / "honest.gz"
    honest.write_bytes(gzip.compress(idx_header((size,)) + bytes(size), compresslevel=1))
    monkeypatch.setattr(limits, "memory_available", lambda: 8 * 2**20)
    with pytest.raises(DataError, match=r"honest\.gz: the header's shape \(33554432,\) of uint8 \(decompressed\) "
                                        r"needs 33\.6 MB in memory, more than the 8\.4 MB available"):
        read_idx(honest)
    lying = tmp_path / "lying.gz"  # promises 10 bytes, inflates to 32 MB: refused after reading 11
    lying.write_bytes(gzip.compress(idx_header((10,)) + bytes(size), compresslevel=1))
    with pytest.raises(DataError, match=r"lying\.gz: the payload holds more than the 10 bytes"):
        read_idx(lying)
    with pytest.raises(DataError, match=r"--input .*lying\.gz: the payload holds more"):
        read_input(lying)


def test_a_csv_larger_than_memory_is_refused_while_parsing(tmp_path, monkeypatch):
    path = tmp_path / "big.csv"
    path.write_text("".join(f"{i},{i % 2}\n" for i in range(2000)))
    monkeypatch.setattr(limits, "memory_available", lambda: 1000)
    with pytest.raises(DataError, match=r"big\.csv: .*more than the 1\.0 kB available"):
        load_data(DataConfig(dataset="csv", path=str(path)))
    with pytest.raises(DataError, match=r"--input .*big\.csv: .*available"):
        read_input(path)


def test_a_csv_line_too_long_to_parse_is_refused_before_parsing(tmp_path, monkeypatch):
    path = tmp_path / "wide.csv"
    path.write_text("1,0\n" + ",".join(["1"] * 50_000) + "\n")
    monkeypatch.setattr(limits, "memory_available", lambda: 1_000_000)
    with pytest.raises(DataError, match=r"wide\.csv: line 2 is 100\.0 kB long"):
        load_data(DataConfig(dataset="csv", path=str(path)))


@pytest.mark.parametrize("label", [10**9, MAX_CLASSES])
def test_a_label_implying_too_many_classes_is_refused(tmp_path, label):
    y = np.r_[np.arange(39) % 2, label]
    with pytest.raises(DataError, match=rf"data\.task: .*k <= 100,000, but .*d\.npz has label {label:,}"):
        load(npz(tmp_path, x=RNG.random((40, 3)), y=y))
    csv = tmp_path / "d.csv"
    csv.write_text("".join(f"{v},1.5,{int(c)}\n" for v, c in zip(RNG.random(40), y, strict=True)))
    with pytest.raises(DataError, match=rf"d\.csv has label {label:,}"):
        load_data(DataConfig(dataset="csv", path=str(csv)))


def test_the_largest_label_allowed_gives_that_many_classes(tmp_path):
    y = np.r_[np.arange(39) % 2, MAX_CLASSES - 1]
    assert load(npz(tmp_path, x=RNG.random((40, 3)), y=y)).num_classes == MAX_CLASSES


# --- class 3: absurd labels and arrays, one line naming the file and key ---


@pytest.mark.parametrize("labels, task, expected", [
    (np.full(40, 2**64 - 1, dtype=np.uint64), "auto", r"label 1\.84467e\+19, beyond the integers"),
    (np.full(40, 1e300), "auto", r"label 1e\+300, beyond the integers"),
    (np.full(40, -1e300), "auto", r"label -1e\+300, beyond the integers"),
    (np.arange(40) - 20, "auto", r"classification needs labels 0\.\.k-1, but .*labels -20\.\.19"),
    (np.arange(40) / 3, "classification", r"data\.task: classification needs integer labels"),
    (np.r_[np.zeros(39), np.nan], "auto", r"NaN or Inf in array 'y' \(first at index \(39,\)\)"),
])
def test_absurd_labels_are_refused(tmp_path, labels, task, expected):
    with pytest.raises(DataError, match=expected):
        load(npz(tmp_path, x=RNG.random((40, 3)), y=labels), task=task)


@pytest.mark.parametrize("arrays, expected", [
    ({"x": np.zeros((0, 3)), "y": np.zeros(0, int)}, r"array 'x' is empty \(shape \(0, 3\)\)"),
    ({"x_train": RNG.random((20, 3)), "y_train": np.arange(20) % 2, "x_test": np.zeros((0, 3)),
      "y_test": np.zeros(0)}, r"array 'x_test' is empty"),
    ({"x": RNG.random((40, 3)) + 1j, "y": np.arange(40) % 2}, r"array 'x' holds complex numbers"),
    ({"x": RNG.random((40, 3)), "y": (np.arange(40) % 2) + 0j}, r"array 'y' holds complex numbers"),
    ({"x": np.zeros((40, 0)), "y": np.arange(40) % 2}, r"array 'x' has examples of shape \(0,\): no features"),
    ({"x": np.zeros((40, 3, 0)), "y": np.arange(40) % 2}, r"array 'x' has examples of shape \(3, 0\): no features"),
    ({"x": np.full((40, 3), 1e39), "y": np.arange(40) % 2}, r"array 'x' holds 1e\+39, beyond float32's range"),
    ({"x": np.array(["a"] * 40), "y": np.arange(40) % 2}, r"array 'x' holds <U1 values, not numbers"),
    ({"x": np.array([None] * 40), "y": np.arange(40) % 2}, r"array 'x' holds Python objects"),
])
def test_unusable_arrays_are_refused_naming_file_and_key(tmp_path, arrays, expected):
    with pytest.raises(DataError, match=r"d\.npz: " + expected):
        load(npz(tmp_path, **arrays))


def test_boolean_features_and_labels_train_as_0_and_1(tmp_path):
    data = load(npz(tmp_path, x=RNG.random((40, 3)) > 0.5, y=np.arange(40) % 2 == 1))
    assert data.num_classes == 2 and set(np.unique(data.x_train.numpy() != 0)) <= {True, False}


def test_complex_and_boolean_predict_inputs(tmp_path):
    with pytest.raises(DataError, match=r"--input .*c\.npz: holds complex numbers"):
        read_input(npz(tmp_path, "c.npz", x=np.ones((2, 3)) + 1j))
    assert read_input(npz(tmp_path, "b.npz", x=np.ones((2, 3), bool))).dtype == np.uint8
    with pytest.raises(DataError, match=r"--input .*o\.npz: array 'x' holds Python objects"):
        read_input(npz(tmp_path, "o.npz", x=np.array([None, 1])))
    with pytest.raises(DataError, match=r"--input .*f\.npz: holds 1e\+39, beyond float32's range"):
        read_input(npz(tmp_path, "f.npz", x=np.full((2, 3), -1e39)))


# --- class 8: data that trains but should not ---


def test_one_class_is_refused_in_every_form(tmp_path):
    path = npz(tmp_path, x=RNG.random((40, 3)), y=np.full(40, 3))
    with pytest.raises(DataError, match=r"data\.task: classification needs at least 2 classes, but .*labels 3"):
        load(path)
    two = npz(tmp_path, "two.npz", x=RNG.random((40, 3)), y=np.arange(40) % 2)
    with pytest.raises(DataError, match=r"data\.classes: \[1\] keeps one class"):
        load(two, classes=[1])
    with pytest.raises(DataError, match=r"data\.positive_class: 1 is the only class kept"):
        load(two, classes=[1], positive_class=1)


@pytest.mark.parametrize("rows, valid_size, expected", [
    (2, 0.2, "gives no validation example"),
    (3, 0.2, "gives no validation example"),
    (3, 1, r"has 3 examples, which leaves 1 for training"),
    (2, 0, r"has 2 examples, which leaves 1 for training"),
])
def test_too_few_rows_are_refused_with_the_minimum(tmp_path, rows, valid_size, expected):
    path = npz(tmp_path, x=RNG.random((rows, 3)), y=np.arange(rows) % 2)
    with pytest.raises(DataError, match=r"data\.valid_size: .*" + expected):
        load(path, valid_size=valid_size)


def test_the_smallest_accepted_source_has_one_example_per_split_and_two_for_training(tmp_path):
    data = load(npz(tmp_path, x=RNG.random((4, 3)), y=np.arange(4) % 2), valid_size=1, test_size=0.25)
    assert (len(data.x_train), len(data.x_valid), len(data.x_test)) == (2, 1, 1)


def test_an_official_test_split_leaving_too_little_training_data(tmp_path):
    path = npz(tmp_path, x_train=RNG.random((3, 2)), y_train=np.array([0, 1, 0]), x_test=RNG.random((2, 2)),
               y_test=np.array([0, 1]))
    with pytest.raises(DataError, match=r"leaves 1 for training"):
        load(path, valid_size=2)
