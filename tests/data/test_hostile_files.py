"""Generated hostile data files (absurd labels, shapes and dtypes, headers promising gigabytes, malformed
CSV): `dnnconf train` on each exits 2 with one line naming the file, under an address-space limit and a
timeout, so a file that makes it allocate what a header promises fails the test instead of the machine."""

from __future__ import annotations

import gzip
import io
import json
import math
import os
import resource
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from dnnconf.data.limits import MAX_CLASSES  # noqa: E402

ADDRESS_SPACE = 3 * 2**30  # torch and scikit-learn take ~0.9 GB of it; every header below promises > 16 GB
DRIVER = """
import contextlib, io, json, sys
from dnnconf.cli import main
results = []
for config in sys.argv[1:]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(["train", config, "--out", config + ".run", "--quiet"])
        except BaseException as error:  # a traceback is what the test is looking for
            code = f"{type(error).__name__}: {error}"[:300]
    results.append([code, err.getvalue()])
print(json.dumps(results))
"""

FEATURES = st.tuples(st.integers(20, 60), st.integers(1, 5))  # rows, features


def npy_member(shape, dtype: str, body: bytes) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": dtype, "fortran_order": False, "shape": tuple(shape)})
    return buffer.getvalue() + body


@st.composite
def absurd_labels(draw):
    rows, features = draw(FEATURES)
    x = np.random.default_rng(draw(st.integers(0, 99))).random((rows, features))
    y = (np.arange(rows) % 2).astype(np.float64)
    bad = draw(st.one_of(st.integers(MAX_CLASSES, 2**63 - 1), st.integers(-(2**63), -1),
                         st.sampled_from([math.nan, math.inf, -math.inf, 1e300, -1e300, 0.5, 2.25, 1e15 + 0.5])))
    task = "classification" if isinstance(bad, float) else "auto"
    if isinstance(bad, int):
        y = y.astype(np.int64 if bad < 2**63 else np.uint64)
    y[draw(st.integers(0, rows - 1))] = bad
    return "npz", {"x": x, "y": y}, {"task": task}


@st.composite
def unusable_features(draw):
    rows, features = draw(FEATURES)
    x = np.random.default_rng(0).random((rows, features))
    y = np.arange(rows) % 2
    kind = draw(st.sampled_from(["complex", "no features", "empty", "nan", "beyond float32", "text", "object",
                                 "one class", "few rows"]))
    x, y = {
        "complex": lambda: (x + 1j * x, y),
        "no features": lambda: (np.zeros((rows, 0)), y),
        "empty": lambda: (np.zeros((0, features)), y[:0]),
        "nan": lambda: (np.where(np.arange(x.size).reshape(x.shape) == x.size // 2, np.nan, x), y),  # any shape
        "beyond float32": lambda: (x * 1e39, y),
        "text": lambda: (x.astype(str), y),
        "object": lambda: (x.astype(object), y),
        "one class": lambda: (x, np.full(rows, draw(st.integers(0, 9)))),
        "few rows": lambda: (x[: draw(st.integers(1, 3))], y[:3][: draw(st.integers(1, 3))]),
    }[kind]()
    if kind == "few rows":
        x, y = x[: len(y)], y[: len(x)]
    return "npz", {"x": x, "y": y}, {}


@st.composite
def lying_npz(draw):
    shape = draw(st.lists(st.integers(1, 2**31), min_size=1, max_size=3))
    dtype = draw(st.sampled_from(["|u1", "<f4", "<f8", "<c16"]))
    if math.prod(shape) * np.dtype(dtype).itemsize < 2**34:
        shape = [2**34, *shape[1:]]
    body = draw(st.binary(max_size=256))
    bomb = "y" if draw(st.booleans()) else "x"
    members = {f"{bomb}.npy": npy_member(shape, dtype, body)}
    other = "x" if bomb == "y" else "y"
    members[f"{other}.npy"] = npy_member((4,) if other == "y" else (4, 2), "<i8", bytes(64 if other == "x" else 32))
    return "zip", members, {}


@st.composite
def lying_idx(draw):
    dims = (draw(st.integers(2**20, 2**32 - 1)), 28, 28)
    return "idx", idx_header(dims) + draw(st.binary(max_size=256)), {}


def idx_header(dims, type_byte=0x08) -> bytes:
    return bytes([0, 0, type_byte, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)


@st.composite
def malformed_csv(draw):
    rows, features = draw(FEATURES)
    table = [[f"{v:.3f}" for v in row] + [str(i % 2)] for i, row in enumerate(np.random.default_rng(1).random(
        (rows, features)))]
    kind = draw(st.sampled_from(["huge label", "negative label", "not a number", "ragged", "nan", "one class",
                                 "few rows", "beyond float64"]))
    at = draw(st.integers(0, rows - 1))
    if kind == "huge label":
        table[at][-1] = str(draw(st.integers(MAX_CLASSES, 10**30)))
    elif kind == "negative label":
        table[at][-1] = str(draw(st.integers(-(10**30), -1)))
    elif kind == "not a number":
        table[at][0] = draw(st.sampled_from(["abc", "1,2", "--", "0x10", "1e"]))
    elif kind == "ragged":
        table[at] = table[at][:-1] if draw(st.booleans()) else table[at] + ["1"]
    elif kind == "nan":
        table[at][0] = draw(st.sampled_from(["nan", "inf", "-inf"]))
    elif kind == "one class":
        table = [row[:-1] + ["3"] for row in table]
    elif kind == "few rows":
        table = table[: draw(st.integers(1, 3))]
    else:
        table[at][0] = "1e400"  # float64 infinity
    if kind == "ragged" and at == 0:
        table.insert(0, table[1][:])  # the first row sets the width: make the odd one a later row
    return "csv", "\n".join(",".join(row) for row in table) + "\n", {}


HOSTILE = st.one_of(absurd_labels(), unusable_features(), lying_npz(), lying_idx(), malformed_csv())


def write_case(folder: Path, index: int, case) -> tuple[Path, str]:
    """The file (or IDX folder) of one case and a config training on it; returns (config, name to find)."""
    kind, content, data = case
    if kind == "npz":
        target = folder / f"case{index}.npz"
        np.savez(target, **content)
        data = {"dataset": "npz", "path": str(target), **data}
    elif kind == "zip":
        target = folder / f"case{index}.npz"
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, payload in content.items():
                archive.writestr(name, payload)
        data = {"dataset": "npz", "path": str(target)}
    elif kind == "idx":
        target = folder / f"case{index}"
        target.mkdir()
        (target / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(content))
        (target / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_header((4,)) + bytes(4)))
        (target / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_header((1, 28, 28)) + bytes(784)))
        (target / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_header((1,)) + bytes(1)))
        data = {"dataset": "fashion_mnist", "path": str(target), "valid_size": 1}
    else:
        target = folder / f"case{index}.csv"
        target.write_text(content)
        data = {"dataset": "csv", "path": str(target)}
    data.setdefault("valid_size", 0.2)
    config = folder / f"case{index}.yaml"
    config.write_text(yaml.safe_dump({"name": f"case{index}", "data": data, "model": {"hidden": [4]},
                                      "training": {"epochs": 1}}))
    return config, target.name


def limit_address_space() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(cases=st.lists(HOSTILE, min_size=3, max_size=6))
def test_hostile_data_files_exit_2_with_one_line_in_bounded_memory(tmp_path_factory, cases):
    folder = tmp_path_factory.mktemp("hostile")
    written = [write_case(folder, i, case) for i, case in enumerate(cases)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src"), "OMP_NUM_THREADS": "1",
           "DNNCONF_CACHE": str(folder / "cache")}
    done = subprocess.run([sys.executable, "-c", DRIVER, *(str(config) for config, _ in written)], env=env,
                          capture_output=True, text=True, timeout=600, preexec_fn=limit_address_space)
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    for (_, name), case, (code, stderr) in zip(written, cases, results, strict=True):
        lines = stderr.strip().splitlines()
        described = f"{case[0]} {name}: {code!r} {stderr!r}"
        assert code == 2, described
        assert len(lines) == 1 and lines[0].startswith("dnnconf train: "), described
        assert name in lines[0], described
