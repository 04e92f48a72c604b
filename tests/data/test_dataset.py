"""load_data: splits, class filter and relabelling (the book's tasks A and B), limits, normalization."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from dnnconf.config.schema import DataConfig
from dnnconf.data import Dataset, apply_normalization, load_data, write_idx
from dnnconf.data import fashion_mnist as fm
from dnnconf.errors import DataError

TASK_A = [1, 3, 4, 5, 6, 7, 8, 9]
REAL = Path("/usr/share/datasets/fashion-mnist")


pytestmark = pytest.mark.usefixtures("offline_fashion_mnist")


@pytest.fixture
def fashion(tmp_path):
    """Fake Fashion-MNIST: 100 training and 40 test images, labels drawn from 0..9; returns the arrays."""
    rng = np.random.default_rng(1)
    arrays = {
        "x_train": rng.integers(0, 256, (100, 28, 28), dtype=np.uint8),
        "y_train": np.r_[np.arange(10), rng.integers(0, 10, 90)].astype(np.uint8),
        "x_test": rng.integers(0, 256, (40, 28, 28), dtype=np.uint8),
        "y_test": np.r_[np.arange(10), rng.integers(0, 10, 30)].astype(np.uint8),
    }
    for key, stem in fm.FILES.items():
        write_idx(tmp_path / f"{stem}.gz", arrays[key], gzip=True)
    arrays["path"] = str(tmp_path)
    return arrays


def npz(tmp_path, **arrays):
    path = tmp_path / "d.npz"
    np.savez(path, **arrays)
    return str(path)


def test_fashion_defaults_shapes_and_types(fashion):
    data = load_data(DataConfig(path=fashion["path"], valid_size=20))
    assert isinstance(data, Dataset)
    assert (len(data.x_train), len(data.x_valid), len(data.x_test)) == (80, 20, 40)
    assert data.x_train.shape[1:] == (28, 28) and data.input_shape == (28, 28)
    assert data.x_train.dtype == torch.float32 and data.y_train.dtype == torch.int64
    assert data.task == "classification" and data.num_classes == 10 and data.class_names[2] == "Pullover"
    json.dumps(data.normalization)  # plain values, ready to save


def test_valid_is_the_last_examples_of_the_training_file(fashion):
    data = load_data(DataConfig(path=fashion["path"], valid_size=0.1, normalize="none"))
    np.testing.assert_array_equal(data.x_valid.numpy(), fashion["x_train"][-10:])
    np.testing.assert_array_equal(data.x_train.numpy(), fashion["x_train"][:-10])
    np.testing.assert_array_equal(data.y_test.numpy(), fashion["y_test"])


def test_task_a_reproduces_the_book(fashion):
    data = load_data(DataConfig(path=fashion["path"], valid_size=20, normalize="none", classes=TASK_A))
    x_train, y_train = fashion["x_train"][:-20], fashion["y_train"][:-20]  # split first, then filter
    keep = np.isin(y_train, TASK_A)
    expected = np.array([TASK_A.index(label) for label in y_train[keep]])
    np.testing.assert_array_equal(data.x_train.numpy(), x_train[keep])
    np.testing.assert_array_equal(data.y_train.numpy(), expected)
    assert data.num_classes == 8 and data.class_names[0] == "Trouser" and data.class_names[-1] == "Ankle boot"
    assert set(data.y_test.tolist()) <= set(range(8)) and set(data.y_valid.tolist()) <= set(range(8))


def test_task_b_reproduces_the_book(fashion):
    cfg = DataConfig(
        path=fashion["path"], valid_size=20, normalize="none", classes=[0, 2], positive_class=2, train_limit=5
    )
    data = load_data(cfg)
    y_train = fashion["y_train"][:-20]
    keep = np.isin(y_train, [0, 2])
    np.testing.assert_array_equal(data.x_train.numpy(), fashion["x_train"][:-20][keep][:5])
    np.testing.assert_array_equal(data.y_train.numpy(), (y_train[keep] == 2)[:5])
    assert data.task == "binary" and data.num_classes == 2 and data.class_names == ["T-shirt/top", "Pullover"]
    assert len(data.x_test) == np.isin(fashion["y_test"], [0, 2]).sum()


def test_positive_class_alone_is_one_versus_rest(fashion):
    data = load_data(DataConfig(path=fashion["path"], valid_size=0, positive_class=9))
    assert len(data.x_train) == 100 and data.y_train.sum() == (fashion["y_train"] == 9).sum()
    assert data.class_names == ["not Ankle boot", "Ankle boot"]


def test_shuffled_splits_by_count_and_fraction(tmp_path):
    path = npz(tmp_path, x=np.arange(200.0).reshape(100, 2), y=np.arange(100) % 3)
    data = load_data(DataConfig(dataset="npz", path=path, test_size=0.2, valid_size=0.25))
    assert (len(data.x_train), len(data.x_valid), len(data.x_test)) == (60, 20, 20)
    data = load_data(DataConfig(dataset="npz", path=path, test_size=0.1, valid_size=7, normalize="none"))
    assert (len(data.x_train), len(data.x_valid), len(data.x_test)) == (83, 7, 10)
    rows = torch.cat([data.x_train, data.x_valid, data.x_test])[:, 0].sort().values
    np.testing.assert_array_equal(rows.numpy(), np.arange(0, 200, 2))  # a partition of the file
    again = load_data(DataConfig(dataset="npz", path=path, test_size=0.1, valid_size=7, normalize="none"))
    other = load_data(
        DataConfig(dataset="npz", path=path, test_size=0.1, valid_size=7, normalize="none", split_seed=1)
    )
    assert torch.equal(again.x_test, data.x_test) and not torch.equal(other.x_test, data.x_test)


def test_valid_size_zero_gives_empty_tensors(fashion):
    data = load_data(DataConfig(path=fashion["path"], valid_size=0))
    assert data.x_valid.shape == (0, 28, 28) and data.y_valid.shape == (0,)


def test_digits_and_csv(tmp_path):
    data = load_data(DataConfig(dataset="digits", valid_size=0.1))
    assert data.input_shape == (8, 8) and data.num_classes == 10
    assert len(data.x_train) + len(data.x_valid) + len(data.x_test) == 1797
    path = tmp_path / "d.csv"
    path.write_text("f1,f2,y\n" + "".join(f"{i},{i % 5},{i % 2}\n" for i in range(50)))
    data = load_data(DataConfig(dataset="csv", path=str(path), label_column="y", valid_size=0.2))
    assert data.input_shape == (2,) and data.task == "classification" and data.class_names == ["0", "1"]


def test_standardize_uses_training_statistics_only(tmp_path):
    rng = np.random.default_rng(0)
    x_train = np.r_[rng.normal(0, 1, (80, 3)), rng.normal(5, 1, (20, 3))]  # the last 20 become valid
    x_train[:, 2] = 7.0  # a constant feature maps to 0
    path = npz(tmp_path, x_train=x_train, y_train=np.arange(100) % 2, x_test=x_train[:5], y_test=np.arange(5) % 2)
    data = load_data(DataConfig(dataset="npz", path=path, valid_size=20))
    train = x_train[:80]
    np.testing.assert_allclose(data.normalization["mean"][:2], train[:, :2].mean(0))
    np.testing.assert_allclose(data.normalization["std"][:2], train[:, :2].std(0))
    np.testing.assert_allclose(data.x_train.numpy(), train, rtol=1e-6)  # the tensors stay raw
    normalized_train = apply_normalization(data.x_train.numpy(), data.normalization)
    normalized_valid = apply_normalization(data.x_valid.numpy(), data.normalization)
    np.testing.assert_allclose(normalized_train[:, :2].mean(0), 0, atol=1e-5)
    assert (normalized_valid[:, :2].mean(0) > 3).all()  # valid keeps its offset: not standardized on its own
    assert data.normalization["std"][2] == 1 and (normalized_valid[:, 2] == 0).all()


def test_minmax_and_none(tmp_path):
    x = np.array([[0.0, 3.0], [10.0, 3.0], [5.0, 3.0], [20.0, 1.0]])
    path = npz(tmp_path, x_train=x, y_train=np.arange(4), x_test=x, y_test=np.arange(4))
    data = load_data(DataConfig(dataset="npz", path=path, valid_size=1, normalize="minmax"))
    np.testing.assert_allclose(apply_normalization(data.x_train.numpy(), data.normalization),
                               [[0, 0], [1, 0], [0.5, 0]])
    np.testing.assert_allclose(apply_normalization(data.x_valid.numpy(), data.normalization), [[2, -2]])
    data = load_data(DataConfig(dataset="npz", path=path, valid_size=1, normalize="none"))
    np.testing.assert_array_equal(data.x_test.numpy(), x)


def test_normalize_on_all_train_uses_the_whole_training_split_and_matches_the_unlabeled_set(tmp_path):
    from dnnconf.data.dataset import load_unlabeled

    x = np.array([[0.0], [10.0], [4.0], [20.0], [7.0]])  # the last one is the validation split
    y = np.array([0, 1, 1, 0, 1])
    path = npz(tmp_path, x_train=x, y_train=y, x_test=x, y_test=y)
    kept = dict(dataset="npz", path=path, valid_size=1, normalize="minmax", classes=[1, 0], train_limit=1)
    own = load_data(DataConfig(**kept))  # statistics of the one kept image: a constant feature
    plain = {"method": "minmax", "axis": "feature", "shape": [1]}
    assert own.normalization == {**plain, "min": [0.0], "max": [0.0]}
    whole = load_data(DataConfig(**kept, normalize_on="all_train"))  # of the four training images, any label
    assert whole.normalization == {**plain, "min": [0.0], "max": [20.0]}
    np.testing.assert_allclose(apply_normalization(whole.x_train.numpy(), whole.normalization), [[0.0]])
    x_unlabeled, x_valid, normalization = load_unlabeled(DataConfig(**kept))
    assert normalization == whole.normalization
    np.testing.assert_allclose(x_unlabeled.numpy(), [[0.0], [0.5], [0.2], [1.0]])
    np.testing.assert_allclose(x_valid.numpy(), [[0.35]])


def test_task_auto(tmp_path):
    path = npz(tmp_path, x=np.ones((20, 2)), y=np.linspace(0, 1, 20))
    data = load_data(DataConfig(dataset="npz", path=path, valid_size=0.25))
    assert data.task == "regression" and data.num_classes is None and data.class_names is None
    assert data.y_train.dtype == torch.float32
    path = npz(tmp_path, x=np.ones((20, 2)), y=np.arange(20.0) % 4)  # integral floats
    data = load_data(DataConfig(dataset="npz", path=path, valid_size=0.25))
    assert data.task == "classification" and data.num_classes == 4 and data.y_train.dtype == torch.int64
    data = load_data(DataConfig(dataset="npz", path=path, valid_size=0.25, task="regression"))
    assert data.task == "regression" and data.y_train.dtype == torch.float32


@pytest.mark.parametrize(
    "options, message",
    [
        ({"classes": [1, 12]}, r"^data.classes: class 12 does not occur in fashion_mnist \(labels 0..9\)$"),
        ({"classes": [1, 1]}, "data.classes: .* lists a class twice"),
        (
            {"classes": [0, 2], "positive_class": 3},
            r"data.positive_class: 3 is not one of data.classes \[0, 2\]",
        ),
        ({"positive_class": 10}, "data.positive_class: class 10 does not occur in fashion_mnist"),
        ({"classes": [0, 2], "task": "regression"}, "data.classes: .*regression"),
        ({"valid_size": 100}, "data.valid_size: 100 leaves no training examples"),
    ],
)
def test_bad_values_name_the_key(fashion, options, message):
    with pytest.raises(DataError, match=message):
        load_data(DataConfig(path=fashion["path"], **{"valid_size": 10, **options}))


def test_label_errors(tmp_path):
    path = npz(tmp_path, x=np.ones((20, 2)), y=np.linspace(0, 1, 20))
    with pytest.raises(DataError, match="data.task: classification needs integer labels, but .* such as"):
        load_data(DataConfig(dataset="npz", path=path, valid_size=0.25, task="classification"))
    with pytest.raises(DataError, match="data.classes: classification needs integer labels"):
        load_data(DataConfig(dataset="npz", path=path, valid_size=0.25, classes=[0]))
    path = npz(tmp_path, x=np.ones((20, 2)), y=np.arange(20) - 5)
    with pytest.raises(DataError, match="needs labels 0..k-1.*labels -5..14"):
        load_data(DataConfig(dataset="npz", path=path, valid_size=0.25))
    with pytest.raises(DataError, match="data.path: the csv dataset needs"):
        load_data(DataConfig(dataset="csv", valid_size=0.25))


@pytest.mark.slow
@pytest.mark.skipif(
    not REAL.is_dir(), reason="Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)"
)
def test_real_fashion_mnist(monkeypatch):
    monkeypatch.setattr(fm, "SYSTEM_DIRS", [REAL])
    data = load_data(DataConfig())
    assert (len(data.x_train), len(data.x_valid), len(data.x_test)) == (55000, 5000, 10000)
    assert data.input_shape == (28, 28) and data.num_classes == 10
    assert data.normalization["axis"] == "channel" and data.normalization["shape"] == [1]  # grey images
    train = apply_normalization(data.x_train.numpy(), data.normalization)
    valid = apply_normalization(data.x_valid.numpy(), data.normalization)
    assert abs(float(train.mean())) < 1e-3 and abs(float(valid.mean())) > 1e-3
