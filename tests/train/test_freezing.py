"""Freezing reused layers, then unfreezing them: weights, batch-norm statistics, rates, resume."""

import json

import pytest
import torch
from digits_tasks import bn_digits_config

from dnnconf.run import train
from dnnconf.train.callbacks import Listener

config = bn_digits_config  # the shared small digits MLP (tests/shared/digits_tasks.py)


def task_b(source, epochs=4, **transfer):
    return config(name="b", data={"classes": [4, 9], "positive_class": 9, "train_limit": 100},
                  training={"epochs": epochs}, transfer={"from": str(source), **transfer})


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    folder = tmp_path_factory.mktemp("freezing") / "task-a"
    train(config(name="a", data={"classes": [0, 1, 2, 3, 5, 6, 7, 8]}), folder, quiet=True)
    return folder


class Snapshots(Listener):
    """The weights (with BN statistics) before training and after each epoch, and each param group's rate."""

    def __init__(self):
        self.weights, self.rates = [], []

    def on_train_begin(self, loop):
        self.weights.append({k: v.clone() for k, v in loop.network.state_dict().items()})

    def on_epoch_end(self, loop, logs):
        self.weights.append({k: v.clone() for k, v in loop.network.state_dict().items()})
        self.rates.append([(g.get("lr_factor", 1.0), g["lr"]) for g in loop.optimizer.param_groups])


def changed(snapshots, before, after, key):
    return not torch.equal(snapshots.weights[before][f"layers.{key}"], snapshots.weights[after][f"layers.{key}"])


REUSED = ("dense_1.weight", "batch_norm_1.weight", "batch_norm_1.running_mean", "batch_norm_1.running_var",
          "dense_2.weight", "batch_norm_2.bias", "batch_norm_2.running_mean")


def test_frozen_layers_and_their_statistics_stay_fixed_then_learn(source, tmp_path):
    snap = Snapshots()
    result = train(task_b(source, freeze_epochs=2), tmp_path / "b", quiet=True, listeners=(snap,))
    for key in REUSED:
        assert not changed(snap, 0, 2, key), f"{key} changed while frozen"
        assert changed(snap, 2, 4, key), f"{key} did not change after unfreezing"
    assert changed(snap, 0, 1, "dense_3.weight")  # the new output learns from the start
    history = result.state.history
    # trainable parameters: the output's 16 + 1, then all 64·24 + 48 + 24·16 + 32 + 17
    assert [row["trainable"] for row in history] == [17.0, 17.0, 2017.0, 2017.0]
    record = json.loads((tmp_path / "b" / "trainable.json").read_text())
    assert record["epochs"]["1"] == ["dense_3"] and "dense_1" in record["epochs"]["3"]
    assert "trainable" in (tmp_path / "b" / "history.csv").read_text().splitlines()[0]


def test_unfreezing_the_top_layer_only(source, tmp_path):
    snap = Snapshots()
    train(task_b(source, freeze_epochs=1, epochs=3, unfreeze=1), tmp_path / "b", quiet=True, listeners=(snap,))
    for key in ("dense_1.weight", "batch_norm_1.running_mean", "batch_norm_1.bias"):
        assert not changed(snap, 0, 3, key)
    for key in ("dense_2.weight", "batch_norm_2.running_var", "dense_3.bias"):
        assert changed(snap, 1, 3, key)


def test_unfreeze_none_and_no_frozen_epochs(source, tmp_path):
    snap = Snapshots()
    train(task_b(source, freeze_epochs=1, epochs=2, unfreeze="none"), tmp_path / "none", quiet=True,
          listeners=(snap,))
    assert not any(changed(snap, 0, 2, key) for key in REUSED)
    snap = Snapshots()
    train(task_b(source, freeze_epochs=0, epochs=1), tmp_path / "zero", quiet=True, listeners=(snap,))
    assert all(changed(snap, 0, 1, key) for key in REUSED)


def test_the_rate_of_the_unfrozen_layers_drops_by_the_factor(source, tmp_path):
    snap = Snapshots()
    result = train(task_b(source, freeze_epochs=1, epochs=2, unfreeze_lr_factor=0.1), tmp_path / "b", quiet=True,
                   listeners=(snap,))
    assert snap.rates[0] == [(1.0, 0.01)]
    assert snap.rates[1] == [(1.0, 0.01), (0.1, pytest.approx(0.001))]  # the new output keeps the full rate
    assert [row["lr"] for row in result.state.history] == [0.01, 0.01]  # the schedule's rate


def test_the_optimizer_is_rebuilt_over_the_unfrozen_parameters(source, tmp_path):
    seen = []

    class Optimizers(Listener):
        def on_epoch_end(self, loop, logs):
            seen.append((id(loop.optimizer), sum(len(g["params"]) for g in loop.optimizer.param_groups)))

    train(task_b(source, freeze_epochs=1, epochs=2), tmp_path / "b", quiet=True, listeners=(Optimizers(),))
    assert seen[0][0] != seen[1][0] and (seen[0][1], seen[1][1]) == (2, 8)


@pytest.fixture(scope="module")
def straight(source, tmp_path_factory):
    return train(task_b(source, freeze_epochs=1, epochs=4, unfreeze_lr_factor=0.5),
                 tmp_path_factory.mktemp("straight") / "b", quiet=True)


@pytest.mark.parametrize("stop_after", [1, 2])
def test_resume_across_the_unfreezing_gives_the_uninterrupted_weights(source, straight, tmp_path, stop_after):
    train(task_b(source, freeze_epochs=1, epochs=stop_after, unfreeze_lr_factor=0.5), tmp_path / "cut", quiet=True)
    resumed = train(task_b(source, freeze_epochs=1, epochs=4, unfreeze_lr_factor=0.5), resume=tmp_path / "cut",
                    force=True, quiet=True)
    for key, value in straight.network.state_dict().items():
        assert torch.equal(value, resumed.network.state_dict()[key]), key
    assert [row["trainable"] for row in resumed.state.history] == [row["trainable"] for row in straight.state.history]
