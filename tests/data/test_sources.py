"""The sources: Fashion-MNIST (search order, download, cache), digits, .npz and .csv files."""

import hashlib
import io
import urllib.request

import numpy as np
import pytest

from dnnconf.data import fashion_mnist as fm
from dnnconf.data import write_idx
from dnnconf.data.sources import load_csv, load_digits, load_npz
from dnnconf.errors import DataError

REAL_DOWNLOAD = fm.download


pytestmark = pytest.mark.usefixtures("offline_fashion_mnist")


def fake_fashion(folder, n_train=30, n_test=10, gz=True, seed=0, shape=(28, 28)):
    """Write the four IDX files with random images and labels 0..9 repeating; return the arrays."""
    rng = np.random.default_rng(seed)
    arrays = {
        "x_train": rng.integers(0, 256, (n_train, *shape), dtype=np.uint8),
        "y_train": (np.arange(n_train) % 10).astype(np.uint8),
        "x_test": rng.integers(0, 256, (n_test, *shape), dtype=np.uint8),
        "y_test": (np.arange(n_test) % 10).astype(np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for key, stem in fm.FILES.items():
        write_idx(folder / (stem + ".gz" if gz else stem), arrays[key], gzip=gz)
    return arrays


def test_fashion_from_data_path(tmp_path):
    arrays = fake_fashion(tmp_path / "fm")
    raw = fm.load_fashion_mnist(tmp_path / "fm")
    assert raw.has_test and raw.x_train.shape == (30, 28, 28) and raw.x_test.shape == (10, 28, 28)
    np.testing.assert_array_equal(raw.x_train, arrays["x_train"])
    np.testing.assert_array_equal(raw.y_test, arrays["y_test"])
    assert raw.class_names[0] == "T-shirt/top" and raw.class_names[9] == "Ankle boot"


def test_raw_uncompressed_names(tmp_path):
    fake_fashion(tmp_path / "fm", gz=False)
    assert fm.load_fashion_mnist(tmp_path / "fm").x_train.shape == (30, 28, 28)


@pytest.mark.parametrize("sub", ["", "fashion_mnist"])
def test_fashion_from_env(tmp_path, monkeypatch, sub):
    fake_fashion(tmp_path / "data" / sub, n_train=20)
    monkeypatch.setenv("DNNCONF_DATA", str(tmp_path / "data"))
    assert len(fm.load_fashion_mnist().x_train) == 20


def test_search_order(tmp_path, monkeypatch):
    given, env, system = tmp_path / "given", tmp_path / "env", tmp_path / "system"
    for folder, n in [(given, 11), (env, 12), (fm.cache_dir(), 13), (system, 14)]:
        fake_fashion(folder, n_train=n)
    monkeypatch.setenv("DNNCONF_DATA", str(env))
    monkeypatch.setattr(fm, "SYSTEM_DIRS", [system])
    assert fm.search_dirs(given) == [given, env, env / "fashion_mnist", fm.cache_dir(), system]
    assert len(fm.load_fashion_mnist(given).x_train) == 11
    assert len(fm.load_fashion_mnist().x_train) == 12
    monkeypatch.delenv("DNNCONF_DATA")
    assert len(fm.load_fashion_mnist().x_train) == 13
    for file in fm.cache_dir().glob("*-ubyte.gz"):
        file.unlink()
    assert len(fm.load_fashion_mnist().x_train) == 14


def test_incomplete_folder_is_skipped_but_an_incomplete_data_path_is_an_error(tmp_path, monkeypatch):
    fake_fashion(tmp_path / "partial", n_train=11)
    (tmp_path / "partial" / "t10k-labels-idx1-ubyte.gz").unlink()
    fake_fashion(tmp_path / "system", n_train=14)
    monkeypatch.setattr(fm, "SYSTEM_DIRS", [tmp_path / "partial", tmp_path / "system"])
    assert len(fm.load_fashion_mnist().x_train) == 14
    with pytest.raises(DataError, match="data.path: .*partial does not hold"):
        fm.load_fashion_mnist(tmp_path / "partial")


def test_offline_error_lists_the_places(tmp_path, monkeypatch):
    monkeypatch.setenv("DNNCONF_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(DataError) as info:
        fm.load_fashion_mnist()
    message = str(info.value)
    assert str(tmp_path / "nowhere") in message and str(fm.cache_dir()) in message
    assert "network is unreachable" in message and "apt-get install dataset-fashion-mnist" in message


class FakeResponse(io.BytesIO):
    def __init__(self, data):
        super().__init__(data)
        self.headers = {"Content-Length": str(len(data))}


def test_download_checks_md5_and_removes_bad_file(monkeypatch):
    monkeypatch.setattr(fm, "download", REAL_DOWNLOAD)
    monkeypatch.setattr(
        urllib.request, "urlopen", lambda url, timeout=None: FakeResponse(b"<html>not it</html>")
    )
    with pytest.raises(DataError, match="checksum mismatch"):
        fm.load_fashion_mnist()
    assert list(fm.cache_dir().iterdir()) == []  # no partial or bad file left behind


def test_download_then_load(tmp_path, monkeypatch, capsys):
    arrays = fake_fashion(tmp_path / "server", n_train=20)
    served = {f.name: f.read_bytes() for f in (tmp_path / "server").iterdir()}
    monkeypatch.setattr(fm, "MD5", {name: hashlib.md5(data).hexdigest() for name, data in served.items()})
    monkeypatch.setattr(fm, "download", REAL_DOWNLOAD)
    monkeypatch.setattr(
        urllib.request, "urlopen", lambda url, timeout=None: FakeResponse(served[url.split("/")[-1]])
    )
    raw = fm.load_fashion_mnist()
    np.testing.assert_array_equal(raw.x_train, arrays["x_train"])
    assert sorted(p.name for p in fm.cache_dir().glob("*.gz")) == sorted(served)
    assert "downloading train-images-idx3-ubyte.gz" in capsys.readouterr().err


def test_binary_cache_is_used_and_survives_damage(tmp_path, monkeypatch):
    arrays = fake_fashion(tmp_path / "fm")
    fm.load_fashion_mnist(tmp_path / "fm")
    (cached,) = fm.cache_dir().glob("cache-*.npz")
    with monkeypatch.context() as patch:
        patch.setattr(fm, "read_idx", lambda path: pytest.fail("read the IDX files despite the cache"))
        np.testing.assert_array_equal(fm.load_fashion_mnist(tmp_path / "fm").x_test, arrays["x_test"])
    cached.write_bytes(b"garbage")
    np.testing.assert_array_equal(fm.load_fashion_mnist(tmp_path / "fm").x_test, arrays["x_test"])


def test_fashion_shape_checks(tmp_path):
    fake_fashion(tmp_path / "fm", shape=(28, 27))
    with pytest.raises(
        DataError, match=r"train-images-idx3-ubyte.gz: expected uint8 images of shape \(N, 28, 28\)"
    ):
        fm.load_fashion_mnist(tmp_path / "fm")
    fake_fashion(tmp_path / "fm2")
    write_idx(tmp_path / "fm2" / "t10k-labels-idx1-ubyte.gz", np.zeros(9, np.uint8), gzip=True)
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz: 9 labels for 10 images"):
        fm.load_fashion_mnist(tmp_path / "fm2")


def test_digits():
    raw = load_digits()
    assert raw.x_train.shape == (1797, 8, 8) and raw.x_train.dtype == np.float64
    assert raw.y_train.shape == (1797,) and set(raw.y_train) == set(range(10)) and not raw.has_test


def test_npz_train_and_test(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x_train=np.ones((5, 3)), y_train=np.arange(5), x_test=np.zeros((2, 3)), y_test=[0, 1])
    raw = load_npz(path)
    assert raw.has_test and raw.x_train.shape == (5, 3) and raw.x_test.shape == (2, 3)


def test_npz_x_y(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.arange(4.0), y=np.arange(4).reshape(4, 1))
    raw = load_npz(path)
    assert not raw.has_test and raw.x_train.shape == (4, 1) and raw.y_train.shape == (4,)


@pytest.mark.parametrize(
    "arrays, expected",
    [
        ({"a": np.ones(3)}, "needs arrays 'x_train' and 'y_train'.*found a"),
        ({"x_train": np.ones((3, 2))}, "array 'y_train' is missing"),
        (
            {"x_train": np.ones((3, 2)), "y_train": np.ones(3), "x_test": np.ones((1, 2))},
            "'y_test' is missing",
        ),
        ({"x": np.array([["a", "b"]]), "y": np.ones(1)}, "array 'x' holds <U1 values, not numbers"),
        ({"x": np.array([[1.0, np.nan]]), "y": np.ones(1)}, "NaN or Inf in array 'x'"),
        ({"x": np.ones((3, 2)), "y": np.ones(2)}, "'x' has 3 examples but 'y' has 2 labels"),
        ({"x": np.ones((3, 2)), "y": np.ones((3, 2))}, "'y' has shape"),
        ({"x": np.array([None, 1]), "y": np.ones(2)}, "Python objects"),  # object arrays need pickle
    ],
)
def test_npz_errors(tmp_path, arrays, expected):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError, match=expected) as info:
        load_npz(path)
    assert str(path) in str(info.value)


def test_npz_missing_file(tmp_path):
    with pytest.raises(DataError, match="data.path: .*missing.npz does not exist"):
        load_npz(tmp_path / "missing.npz")


def test_csv_with_header_and_label_by_name(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,label,b\n1,0,2\n\n3,1,4\n5,2,6\n")
    raw = load_csv(path, "label")
    np.testing.assert_array_equal(raw.x_train, [[1, 2], [3, 4], [5, 6]])
    np.testing.assert_array_equal(raw.y_train, [0, 1, 2])


@pytest.mark.parametrize("column, label", [(-1, [9, 8]), (0, [1, 4]), ("1", [2, 5])])
def test_csv_without_header_label_by_index(tmp_path, column, label):
    path = tmp_path / "d.csv"
    path.write_text("1,2,9\n4,5,8\n")
    raw = load_csv(path, column)
    assert raw.x_train.shape == (2, 2)
    np.testing.assert_array_equal(raw.y_train, label)


@pytest.mark.parametrize(
    "text, column, expected",
    [
        ("a,b\n1,2\n", "label", r"data.label_column: 'label' is not a column of .* \(columns: a, b\)"),
        ("1,2\n3,4\n", 5, "data.label_column: index 5 is out of range"),
        ("a,b\n1,2\n3,x\n", -1, "line 3, column 'b': 'x' is not a number"),
        ("1,2\n3,x\n", -1, "line 2, column 1: 'x' is not a number"),
        ("1,2,3\n4,5\n", -1, "line 2 has 2 columns, expected 3"),
        ("1,nan,3\n4,5,6\n", -1, "NaN or Inf in the features"),
        ("a,b\n", -1, "no data rows"),
    ],
)
def test_csv_errors(tmp_path, text, column, expected):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=expected) as info:
        load_csv(path, column)
    assert str(path) in str(info.value)


def test_csv_missing_file(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_csv(tmp_path / "missing.csv")
