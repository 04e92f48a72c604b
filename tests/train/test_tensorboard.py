import math
import sys

import pytest

pytest.importorskip("tensorboard")

from dnnconf.config import config_from_dict  # noqa: E402
from dnnconf.errors import ConfigError  # noqa: E402
from dnnconf.run import train  # noqa: E402
from dnnconf.train.history import read_history  # noqa: E402
from dnnconf.train.tensorboard import tag_of  # noqa: E402


def raw_config(tensorboard, **training):
    return {"name": "tb", "data": {"dataset": "digits", "valid_size": 0.15, "test_size": 0.2},
            "model": {"hidden": [32, 16]}, "optimizer": {"name": "sgd", "learning_rate": 0.05, "momentum": 0.9},
            "schedule": {"name": "one_cycle", "max_lr": 0.1},
            "training": {"epochs": 3, "batch_size": 64, "early_stopping": None, "tensorboard": tensorboard,
                         **training}}


def events(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(folder), size_guidance={"scalars": 0, "histograms": 0, "tensors": 0})
    return accumulator.Reload()


def test_every_history_scalar_is_in_the_event_files(tmp_path):
    result = train(config_from_dict(raw_config(True, layer_stats=True)), tmp_path / "run", quiet=True, plots=False)
    history = read_history(tmp_path / "run" / "history.csv")
    logs = {split: events(tmp_path / "run" / "tensorboard" / split) for split in ("train", "validation")}
    columns = [c for c in history[0] if c != "epoch"]
    assert {"val_loss", "lr", "momentum", "grad_norm", "grad_norm/dense_1", "time"} <= set(columns)
    for column in columns:
        split, tag = tag_of(column)
        scalars = logs[split].Scalars(tag)
        assert [s.step for s in scalars] == [int(row["epoch"]) for row in history], column
        expected = [row[column] for row in history]  # history.csv keeps 6 significant digits, events float32
        assert [s.value for s in scalars] == pytest.approx(expected, rel=2e-5, abs=1e-12), column
    steps = logs["train"].Scalars("step_lr")
    assert [s.step for s in steps] == list(range(result.state.step))
    assert len(logs["train"].Scalars("step_momentum")) == result.state.step
    histograms = logs["train"].Tags()["histograms"]
    assert {"weights/layers.dense_1.weight", "gradients/layers.dense_1.weight"} <= set(histograms)
    config_text = logs["train"].Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "name: tb" in config_text


def test_a_path_collects_every_run_under_it(tmp_path):
    logdir = tmp_path / "tb"
    train(config_from_dict(raw_config(str(logdir), epochs=1)), tmp_path / "first", quiet=True, plots=False)
    loss = events(logdir / "first" / "train").Scalars("epoch_loss")
    assert len(loss) == 1 and math.isfinite(loss[0].value)
    assert not (tmp_path / "first" / "tensorboard").exists()


def test_missing_package_is_one_line_with_the_install_hint(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails as if not installed
    with pytest.raises(ConfigError, match=r"training.tensorboard: the tensorboard package is not installed; pip "):
        train(config_from_dict(raw_config(True, epochs=1)), tmp_path / "run", quiet=True, plots=False)


def test_refused_with_parallel_seeds():
    with pytest.raises(ConfigError, match="training.tensorboard: not available with training.parallel_seeds"):
        config_from_dict(raw_config(True, parallel_seeds=2))


def test_a_resumed_run_continues_its_curves(tmp_path):
    from dnnconf.train.run_folder.loading import load_run_config

    folder = tmp_path / "run"
    train(config_from_dict(raw_config(True, epochs=2)), folder, quiet=True, plots=False)
    longer = load_run_config(folder).model_copy(deep=True)
    longer.training.epochs = 3
    train(longer, resume=folder, force=True, quiet=True, plots=False)
    history = read_history(folder / "history.csv")
    loss = events(folder / "tensorboard" / "train").Scalars("epoch_loss")
    assert [s.step for s in loss] == [1, 2, 3]
    assert [s.value for s in loss] == pytest.approx([row["loss"] for row in history], rel=2e-5)
