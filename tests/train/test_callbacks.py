"""Performance scheduling: the listener decides, the schedule reads its record, resume is exact."""

import json
import shutil
from types import SimpleNamespace

import pytest
import torch

from dnnconf.config import config_from_dict
from dnnconf.optim.schedules import SCHEDULES
from dnnconf.run import train
from dnnconf.train import checkpoint
from dnnconf.train.callbacks import ReduceOnPlateau, schedule_listener
from dnnconf.train.checkpoint import latest_checkpoint


def performance(**settings):
    return SCHEDULES.build({"name": "performance", **settings}, base_lr=0.01, steps_per_epoch=10, total_steps=100)


def epoch_end(listener, step, value):
    listener.on_epoch_end(SimpleNamespace(state=SimpleNamespace(step=step)), {"val_loss": value})


def test_each_plateau_is_recorded_from_the_next_step_and_min_lr_bounds_it():
    schedule = performance(factor=0.5, patience=1, min_lr=0.003)
    inner, settings = schedule.inner, dict(schedule.settings)
    listener = schedule_listener(schedule)
    assert isinstance(listener, ReduceOnPlateau) and schedule_listener(SCHEDULES.build(
        "constant", base_lr=0.01, steps_per_epoch=10, total_steps=100)) is None
    for step, value in ((10, 1.0), (20, 1.0), (30, 1.0), (40, 1.0)):
        epoch_end(listener, step, value)
    # plateaus after epochs 2, 3, 4: 0.01 → 0.005 → max(0.0025, 0.003) → 0.003 again (nothing to record)
    assert schedule.reductions.to_plain() == [[20, 0.5], [30, pytest.approx(0.3)]]
    assert [schedule(19), schedule(20), schedule(29), schedule(30), schedule(99)] == pytest.approx(
        [0.01, 0.005, 0.005, 0.003, 0.003])
    assert schedule.inner is inner and schedule.settings == settings and inner(99) == 0.01  # only the record moved


def test_the_state_round_trips_and_an_older_checkpoint_state_still_loads():
    schedule = performance(factor=0.5, patience=0)
    listener = schedule_listener(schedule)
    epoch_end(listener, 10, 1.0)
    epoch_end(listener, 20, 2.0)
    state = listener.state_dict()
    assert state == {"best": 1.0, "wait": 0, "cooldown_left": 0, "scale": 0.5, "reductions": [[20, 0.5]]}
    again = performance(factor=0.5, patience=0)
    schedule_listener(again).load_state_dict(json.loads(json.dumps(state)))
    assert [again(19), again(20)] == [0.01, 0.005]
    older = performance(factor=0.5, patience=0)  # a checkpoint written before the record existed: scale only
    schedule_listener(older).load_state_dict({"best": 1.0, "wait": 0, "cooldown_left": 0, "scale": 0.25})
    assert older.reductions.to_plain() == [[0, 0.25]] and older(1000) == 0.0025


@pytest.mark.parametrize("damage", [{"scale": "x", "reductions": None}, {"scale": 0.0, "reductions": None},
                                    {"reductions": [[5, -1.0]]}, {"reductions": {"5": 0.5}}])
def test_a_damaged_plateau_state_is_refused(damage):
    state = {"best": 1.0, "wait": 0, "cooldown_left": 0, "scale": 0.5, "reductions": [[20, 0.5]], **damage}
    state = {key: value for key, value in state.items() if value is not None}
    with pytest.raises((TypeError, ValueError)):
        schedule_listener(performance()).load_state_dict(state)


def config(epochs):
    return config_from_dict({
        "name": "plateau", "data": {"dataset": "digits", "valid_size": 0.15}, "model": {"hidden": [16]},
        "optimizer": {"name": "sgd", "learning_rate": 0.01, "momentum": 0.9},
        "schedule": {"name": "performance", "factor": 0.5, "patience": 0, "min_delta": 10.0},  # every epoch
        "training": {"epochs": epochs, "batch_size": 64, "early_stopping": None}})


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    return train(config(4), tmp_path_factory.mktemp("straight") / "run", quiet=True)


@pytest.fixture(scope="module")
def cut(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cut") / "run"
    train(config(2), folder, quiet=True)
    return folder


def plateau_state(folder):
    path = latest_checkpoint(folder / "checkpoint")
    state = json.loads((path / "state.json").read_text())
    assert state["listener_kinds"] == ["ReduceOnPlateau"]
    return path, state


@pytest.mark.parametrize("older", [False, True], ids=["record", "older-checkpoint"])
def test_resuming_a_performance_schedule_gives_the_uninterrupted_rates_and_weights(straight, cut, tmp_path, older):
    folder = tmp_path / "run"
    shutil.copytree(cut, folder)
    path, state = plateau_state(folder)
    assert state["listeners"][0]["reductions"] == [[2 * 20, 0.5]]  # 20 steps an epoch: ceil(1221 / 64)
    if older:  # as a run checkpointed before the record existed: the multiplier alone
        del state["listeners"][0]["reductions"]
        (path / "state.json").write_text(json.dumps(state))
        manifest = {name: checkpoint._sha256(path / name) for name in checkpoint.FILES}
        (path / "manifest.json").write_text(json.dumps(manifest))
    resumed = train(config(4), resume=folder, force=True, quiet=True)
    assert [row["lr"] for row in resumed.state.history] == [row["lr"] for row in straight.state.history] == \
        pytest.approx([0.01, 0.01, 0.005, 0.0025])
    for key, value in straight.network.state_dict().items():
        assert torch.equal(value, resumed.network.state_dict()[key]), key
    _, final = plateau_state(straight.folder)
    assert final["listeners"][0]["reductions"] == [[40, 0.5], [60, 0.25], [80, 0.125]]
