"""`load_data`: a `DataConfig` in, a `Dataset` of train/valid/test tensors out.

The steps, in this order: load the source; split it; in each split keep `classes` (relabelled 0..k-1)
and apply `positive_class`; keep the first `train_limit` training examples; compute the normalization
statistics of the final training split only (`normalize_on: all_train`: of the whole training split
before the class filter and the limit, which needs no labels). Splitting before filtering is what
reproduces the Hands-On ML book's task A / task B split of Fashion-MNIST.

The tensors stay raw (float32 in the source's units): the statistics go to the network's first layer
(`dnnconf.nn.normalization.InputNormalization`), so the model owns its preprocessing and every consumer
feeds it raw inputs. `apply_normalization` remains for code that wants normalized arrays itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch

from dnnconf.data.fashion_mnist import load_fashion_mnist
from dnnconf.data.limits import MAX_CLASSES
from dnnconf.data.sources import Raw, load_csv, load_digits, load_npz
from dnnconf.errors import DataError
from dnnconf.nn.normalization import fit_statistics, shift_and_scale

if TYPE_CHECKING:  # annotations only: the config package builds on nn and data, not the reverse
    from dnnconf.config.schema import DataConfig

Task = Literal["classification", "binary", "regression"]
Split = tuple[np.ndarray, np.ndarray]
MIN_TRAIN_EXAMPLES = 2  # standardizing one example makes every feature 0; batch norm needs two a batch


@dataclass(repr=False)
class Dataset:
    """The three splits as tensors, and what a model needs to know about them.

    Features are raw float32 in the example's own shape, e.g. (N, 28, 28): not normalized. Labels have
    shape (N,): int64 for classification and binary tasks, float32 for regression. `num_classes` is the
    number of classes, 2 for a binary task (labels 0/1, though one sigmoid unit suffices), None for
    regression. `normalization` is the method and the training statistics as plain data
    (`dnnconf.nn.normalization.fit_statistics`: per feature or per channel), which the network's
    `InputNormalization` layer adapts to (`setup.make_network(config, dataset.normalization)`).
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_valid: torch.Tensor
    y_valid: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    input_shape: tuple[int, ...]
    task: Task
    num_classes: int | None
    class_names: list[str] | None
    normalization: dict[str, Any]

    def __repr__(self) -> str:  # the default would print every tensor and statistic
        return (
            f"Dataset(train={len(self.x_train)}, valid={len(self.x_valid)}, test={len(self.x_test)}, "
            f"input_shape={self.input_shape}, task={self.task!r}, num_classes={self.num_classes}, "
            f"normalization={self.normalization['method']!r})"
        )


def load_data(cfg: DataConfig) -> Dataset:
    """Load, split, filter and limit the data that `cfg` describes; the normalization statistics of the
    training split (the tensors stay raw)."""
    raw = load_source(cfg)
    task, num_classes, class_names = _task(raw, cfg)
    splits = _split(raw, cfg)
    all_train = splits["train"][0]  # before the class filter and the limit (data.normalize_on: all_train)
    splits = {name: _filter(x, y, cfg) for name, (x, y) in splits.items()}
    if cfg.train_limit is not None:
        splits["train"] = tuple(a[: cfg.train_limit] for a in splits["train"])
    if len(splits["train"][0]) == 0:
        raise DataError(f"data.classes: no training examples of classes {cfg.classes} remain in {raw.name}")
    statistics_of = all_train if cfg.normalize_on == "all_train" else splits["train"][0]
    normalization = fit_normalization(statistics_of, cfg.normalize, cfg.normalize_axis)
    tensors = {}
    for name, (x, y) in splits.items():
        tensors[f"x_{name}"] = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        labels = y.astype(np.float32 if task == "regression" else np.int64)
        tensors[f"y_{name}"] = torch.from_numpy(np.ascontiguousarray(labels))
    return Dataset(
        **tensors,
        input_shape=tuple(splits["train"][0].shape[1:]),
        task=task,
        num_classes=num_classes,
        class_names=class_names,
        normalization=normalization,
    )


def load_unlabeled(cfg: DataConfig) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
    """Unlabeled inputs for pretraining: the whole training split (before `classes` and `train_limit`,
    without the validation split) and the validation split, both normalized with the whole training
    split's statistics, which are returned too (what `normalize_on: all_train` gives a labeled run)."""
    splits = _split(load_source(cfg), cfg)
    normalization = fit_normalization(splits["train"][0], cfg.normalize, cfg.normalize_axis)
    x_train, x_valid = (torch.from_numpy(apply_normalization(splits[name][0], normalization))
                        for name in ("train", "valid"))
    return x_train, x_valid, normalization


def load_source(cfg: DataConfig) -> Raw:
    """The raw arrays of `cfg.dataset`."""
    if cfg.dataset == "fashion_mnist":
        return load_fashion_mnist(cfg.path)
    if cfg.dataset == "digits":
        return load_digits()
    if cfg.dataset == "npz":
        return load_npz(cfg.path)
    return load_csv(cfg.path, cfg.label_column)


def fit_normalization(x: np.ndarray, method: str, axis: str = "auto") -> dict[str, Any]:
    """The statistics of the training features `x` for `method` (standardize, minmax, none) along `axis`
    (auto, channel, feature): `dnnconf.nn.normalization.fit_statistics`."""
    return fit_statistics(x, method, axis)


def apply_normalization(x: np.ndarray, normalization: dict[str, Any]) -> np.ndarray:
    """`x` (N, ...) as float32, normalized with statistics from `fit_normalization` (or an older run's
    normalization.json), computed as `InputNormalization` computes it."""
    x = np.asarray(x)
    out = np.array(x, dtype=_work_dtype(x))  # a copy, so the in-place steps below never touch the caller's x
    shift, scale = shift_and_scale(normalization, tuple(out.shape[1:]))
    out -= shift.numpy().astype(out.dtype)
    out /= scale.numpy().astype(out.dtype)
    return out.astype(np.float32, copy=False)


def _work_dtype(x: np.ndarray) -> type:
    """float64 keeps a float64 source's precision until it is centred; anything else fits float32."""
    return np.float64 if x.dtype == np.float64 else np.float32


def _split(raw: Raw, cfg: DataConfig) -> dict[str, Split]:
    """Official test split: valid = the last `valid_size` training examples. Otherwise a seeded shuffle."""
    n = len(raw.x_train)
    if raw.has_test:
        cut = n - _count(cfg.valid_size, n, raw.name)
        _check_sizes(cfg, raw.name, n, train=cut, valid=n - cut)
        return {
            "train": (raw.x_train[:cut], raw.y_train[:cut]),
            "valid": (raw.x_train[cut:], raw.y_train[cut:]),
            "test": (raw.x_test, raw.y_test),
        }
    n_test = max(1, round(cfg.test_size * n))
    if n_test >= n:
        raise DataError(
            f"data.test_size: {cfg.test_size} of {n} examples in {raw.name} leaves none for training"
        )
    order = np.random.default_rng(cfg.split_seed).permutation(n)
    test, rest = order[:n_test], order[n_test:]
    n_valid = _count(cfg.valid_size, len(rest), raw.name)  # a fraction is of what the test split leaves
    valid, train = rest[:n_valid], rest[n_valid:]
    _check_sizes(cfg, raw.name, n, train=len(train), valid=len(valid))
    return {
        name: (raw.x_train[idx], raw.y_train[idx])
        for name, idx in (("train", train), ("valid", valid), ("test", test))
    }


def _check_sizes(cfg: DataConfig, source: str, n: int, train: int, valid: int) -> None:
    """At least MIN_TRAIN_EXAMPLES training examples, and a validation example whenever valid_size asks
    for validation (a fraction of a few examples can round to none, which would leave val_loss unlogged)."""
    if cfg.valid_size and valid == 0:
        raise DataError(
            f"data.valid_size: {cfg.valid_size} of {source}'s {n} examples gives no validation example; use a "
            f"count (valid_size: 1 or more) or more data (a source without its own test split needs at least "
            f"{MIN_TRAIN_EXAMPLES + 2} examples: 1 test, 1 validation, {MIN_TRAIN_EXAMPLES} training)"
        )
    if train < MIN_TRAIN_EXAMPLES:
        raise DataError(
            f"data.valid_size: {source} has {n} examples, which leaves {train} for training after the "
            f"validation and test splits; at least {MIN_TRAIN_EXAMPLES} are needed"
        )


def _count(valid_size: int | float, n: int, source: str) -> int:
    count = round(valid_size * n) if isinstance(valid_size, float) else valid_size
    if count >= n:
        raise DataError(
            f"data.valid_size: {valid_size} leaves no training examples ({source} has {n} to split; "
            "give a smaller count or a fraction such as 0.1)"
        )
    return count


def _filter(x: np.ndarray, y: np.ndarray, cfg: DataConfig) -> Split:
    """Keep `cfg.classes` relabelled 0..k-1 in their order; with `positive_class`, labels become 0/1."""
    if cfg.classes is not None:
        keep = np.isin(y, cfg.classes)
        x, y = x[keep], y[keep]
    if cfg.positive_class is not None:
        return x, (y == cfg.positive_class).astype(np.int64)
    if cfg.classes is not None:
        relabelled = np.empty(len(y), dtype=np.int64)
        for new, old in enumerate(cfg.classes):
            relabelled[y == old] = new
        return x, relabelled
    return x, y


def _task(raw: Raw, cfg: DataConfig) -> tuple[Task, int | None, list[str] | None]:
    """The task, the number of classes and their names; checks `classes` and `positive_class`."""
    labels = np.concatenate([raw.y_train] + ([raw.y_test] if raw.has_test else []))
    integral = (
        labels.dtype == np.bool_
        or np.issubdtype(labels.dtype, np.integer)
        or bool(np.all(np.mod(labels, 1) == 0))
    )
    key = "data.positive_class" if cfg.positive_class is not None else "data.classes"
    filtered = cfg.classes is not None or cfg.positive_class is not None
    if filtered and cfg.task == "regression":
        raise DataError(f"{key}: picks classes, which a regression task (data.task: regression) has none of")
    if not filtered and (cfg.task == "regression" or (cfg.task == "auto" and not integral)):
        return "regression", None, None
    if not integral:
        some = ", ".join(f"{v:g}" for v in labels[np.mod(labels, 1) != 0][:3])
        raise DataError(
            f"{key if filtered else 'data.task'}: classification needs integer labels, but {raw.name} "
            f"has labels such as {some}"
        )
    _check_label_range(raw, labels, key if filtered else "data.task", filtered)
    present = np.unique(labels).astype(np.int64).tolist()
    described = f"{raw.name} ({_describe(present)})"
    if raw.class_names and not 0 <= present[0] <= present[-1] < len(raw.class_names):
        raise DataError(
            f"{raw.name}: labels must be 0..{len(raw.class_names) - 1}, found {_describe(present)}"
        )

    _check_picks(cfg, present, described)

    def name(label: int) -> str:
        return raw.class_names[label] if raw.class_names else str(label)

    if cfg.positive_class is not None:
        positive = cfg.positive_class
        negatives = [label for label in (cfg.classes or present) if label != positive]
        if not negatives:
            raise DataError(f"data.positive_class: {positive} is the only class kept of {described}; a binary "
                            "task needs examples of another class too")
        negative = name(negatives[0]) if len(negatives) == 1 else f"not {name(positive)}"
        return "binary", 2, [negative, name(positive)]
    if cfg.classes is not None:
        if len(cfg.classes) < 2:
            raise DataError(f"data.classes: {cfg.classes} keeps one class; classification needs at least 2 "
                            "(or add data.positive_class for a binary task)")
        return "classification", len(cfg.classes), [name(label) for label in cfg.classes]
    if present[0] < 0:
        raise DataError(
            f"data.task: classification needs labels 0..k-1, but {described}; relabel them with "
            "data.classes or set data.task: regression"
        )
    if len(present) < 2:
        raise DataError(f"data.task: classification needs at least 2 classes, but {described} has one; "
                        "use data with more classes, or data.task: regression")
    num_classes = len(raw.class_names) if raw.class_names else present[-1] + 1
    return "classification", num_classes, [name(label) for label in range(num_classes)]


def _check_label_range(raw: Raw, labels: np.ndarray, key: str, filtered: bool) -> None:
    """Integer labels must be exact in int64 (|label| < 2**53), and without a class filter lie below
    MAX_CLASSES: a label K implies K+1 classes, each an output unit and a name, allocated up front."""
    if labels.dtype == np.bool_:
        return
    low, high = labels.min(), labels.max()  # in the labels' own dtype: a uint64 or a 1e300 does not wrap
    if high >= 2**53 or low <= -(2**53):
        worst = high if high >= 2**53 else low
        raise DataError(f"{key}: {raw.name} has label {worst:.6g}, beyond the integers labels can be "
                        f"(|label| < 2**53); classification labels are 0..k-1 with k <= {MAX_CLASSES:,}")
    if not filtered and high >= MAX_CLASSES:
        raise DataError(f"data.task: classification labels must be 0..k-1 with k <= {MAX_CLASSES:,}, but "
                        f"{raw.name} has label {int(high):,} (which would mean {int(high) + 1:,} classes); "
                        "relabel them, pick some with data.classes, or set data.task: regression")


def _check_picks(cfg: DataConfig, present: list[int], described: str) -> None:
    """`classes` and `positive_class` must name labels that occur in the data."""
    if cfg.classes is not None:
        if len(set(cfg.classes)) != len(cfg.classes):
            raise DataError(f"data.classes: {cfg.classes} lists a class twice")
        for label in cfg.classes:
            if label not in present:
                raise DataError(f"data.classes: class {label} does not occur in {described}")
    positive = cfg.positive_class
    if positive is not None:
        if cfg.classes is not None and positive not in cfg.classes:
            raise DataError(f"data.positive_class: {positive} is not one of data.classes {cfg.classes}")
        if positive not in present:
            raise DataError(f"data.positive_class: class {positive} does not occur in {described}")


def _describe(labels: list[int]) -> str:
    """`labels 0..9` for a run of integers, else the first few: `labels 1, 4, 7`."""
    if len(labels) > 2 and labels[-1] - labels[0] == len(labels) - 1:
        return f"labels {labels[0]}..{labels[-1]}"
    shown = ", ".join(map(str, labels[:10]))
    return f"labels {shown}{', ...' if len(labels) > 10 else ''}"
