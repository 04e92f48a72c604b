"""training.parallel_seeds: each member of a batched run is the solo run of its seed (within float
tolerance), with its own early stopping and its own complete run folder; what cannot be batched is refused."""

import csv

import pytest
import torch
from safetensors.torch import load_file

from dnnconf.cli import main
from dnnconf.config import config_from_dict
from dnnconf.errors import ConfigError, Diverged, NotBatchable
from dnnconf.run import train
from dnnconf.train.callbacks import Listener
from dnnconf.train.history import read_history
from dnnconf.train.run_folder.loading import load_run_config


@pytest.fixture(autouse=True)
def denormal_mode_restored():
    """`dnnconf.cli.app` sets flush-to-zero for its process; these tests call it in-process."""
    from dnnconf.train.loop import denormals_flushed

    flushing = denormals_flushed()
    yield
    torch.set_flush_denormal(flushing)


ATOL = 1e-5  # after 2 epochs (~70 steps) of float32
LONG_ATOL = 1e-4  # after up to 14 epochs: the batched and the solo matmuls round differently, and it adds up
# Adam with global clipping: the first step is bit-identical, but the clipping factors (norms summed in another
# order) round differently later, and Adam turns a rounding difference on a near-zero gradient into a step of
# the learning rate's size. With per-channel input normalization every pixel's weight has such gradients:
# measured 7.0e-5 and 1.0e-4 for the two members after 2 epochs (0 and 6e-8 with per-pixel statistics).
WEIGHT_ATOL = {"batch-norm-adam-global-clipnorm": 3e-4}


def make_config(**sections):
    raw = {"name": "seeds", "data": {"dataset": "digits", "valid_size": 0.15}, "model": {"hidden": [32, 16]},
           "schedule": {"name": "constant"}, "training": {"epochs": 2, "batch_size": 32, "threads": 1}}
    for key, value in sections.items():
        raw[key] = {**raw[key], **value} if isinstance(value, dict) and isinstance(raw.get(key), dict) else value
    return config_from_dict(raw)


def batched(config, folder, k):
    training = config.training.model_copy(update={"parallel_seeds": k})
    return train(config.model_copy(update={"training": training}), folder, quiet=True, log=lambda *_: None)


def max_difference(a, b):
    a, b = a.state_dict(), b.state_dict()
    assert a.keys() == b.keys()
    return max((a[name] - b[name]).abs().max().item() for name in a)


CASES = {
    "sgd-momentum": {},
    "dropout-l2-max-norm": {"model": {"dropout": {"rate": 0.3, "top_layers": 3}, "kernel_regularizer": {"l2": 0.01},
                                      "kernel_constraint": {"max_norm": 1.0}}},
    "batch-norm-adam-global-clipnorm": {"model": {"batch_norm": {"position": "before_activation"}},
                                        "optimizer": {"name": "adam", "global_clipnorm": 0.5}},
    "batch-norm-after-alpha-dropout-clipnorm": {
        "model": {"batch_norm": {"position": "after_activation"}, "dropout": {"rate": 0.2, "kind": "alpha_dropout"}},
        "optimizer": {"name": "sgd", "momentum": 0.9, "nesterov": True, "clipnorm": 0.3}},
}


@pytest.mark.parametrize("case", CASES)
def test_each_member_equals_the_solo_run_of_its_seed(tmp_path, case):
    config = make_config(**CASES[case])
    result = batched(config, tmp_path / "batched", 2)
    assert [m.config.seed for m in result.members] == [42, 43]
    for member in result.members:
        # the member's own config.yaml trains it alone: same seed, parallel_seeds 1
        replay = load_run_config(member.folder)
        assert replay.seed == member.config.seed and replay.training.parallel_seeds == 1
        solo = train(replay, tmp_path / f"solo-{replay.seed}", quiet=True, log=lambda *_: None)
        assert max_difference(solo.network, member.network) < WEIGHT_ATOL.get(case, ATOL)
        for solo_row, member_row in zip(solo.state.history, member.state.history, strict=True):
            assert member_row["val_loss"] == pytest.approx(solo_row["val_loss"], abs=ATOL)
            assert member_row["loss"] == pytest.approx(solo_row["loss"], abs=ATOL)
        assert member.test["accuracy"] == pytest.approx(solo.test["accuracy"], abs=1e-3)
    a, b = (m.network for m in result.members)
    assert max_difference(a, b) > 0.01  # different seeds: different members


def test_each_member_stops_early_on_its_own(tmp_path):
    # seeds 42..44 of this config stop after 5, 9 and 14 epochs when trained alone (found by running them)
    config = make_config(schedule={"name": "performance", "factor": 0.5, "patience": 1},
                         optimizer={"name": "sgd", "learning_rate": 0.05, "momentum": 0.9},
                         training={"epochs": 14, "early_stopping": {"patience": 3, "min_delta": 0.003,
                                                                   "restore_best_weights": False}})
    result = batched(config, tmp_path / "batched", 3)
    epochs = [m.state.epoch for m in result.members]
    assert len(set(epochs)) > 1 and min(epochs) < 14, epochs
    rows = list(csv.DictReader(open(tmp_path / "batched" / "members.csv")))
    assert [int(row["epochs"]) for row in rows] == epochs
    for member in result.members:
        history = read_history(member.folder / "history.csv")
        assert len(history) == member.state.epoch
        assert history[-1]["lr"] <= history[0]["lr"]  # its own performance schedule
        solo = train(member.config, tmp_path / f"solo-{member.config.seed}", quiet=True, log=lambda *_: None)
        assert solo.state.epoch == member.state.epoch
        # a member that stopped early kept the weights of its stop epoch while the others trained on
        assert max_difference(solo.network, member.network) < LONG_ATOL
        assert [row["lr"] for row in solo.state.history] == pytest.approx([row["lr"] for row in history])


def test_member_folders_are_complete_run_folders(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text("name: cli\ndata: {dataset: digits, valid_size: 0.15}\nmodel: {hidden: [16]}\n"
                    "schedule: {name: constant}\ntraining: {epochs: 2, threads: 1, parallel_seeds: 2}\n")
    out = tmp_path / "run"
    assert main(["train", str(path), "--out", str(out), "--quiet"]) == 0
    for seed in (42, 43):
        member = out / f"seed-{seed}"
        for name in ("config.yaml", "model.safetensors", "history.csv", "metrics.json", "report.md",
                     "normalization.json", "plots/learning_curves.png"):
            assert (member / name).is_file(), name
    assert (out / "members.csv").is_file() and (out / "plots" / "members.png").is_file()
    capsys.readouterr()
    assert main(["evaluate", str(out / "seed-43")]) == 0
    assert "accuracy" in capsys.readouterr().out
    assert main(["evaluate", str(out)]) == 2
    assert "seed-42" in capsys.readouterr().err
    assert (out / "checkpoint" / "LATEST").is_file()


@pytest.mark.parametrize(("sections", "named"), [
    ({"training": {"parallel_seeds": 0}}, "training.parallel_seeds"),
    ({"training": {"parallel_seeds": 2, "layer_stats": True}}, "training.layer_stats"),
    ({"training": {"parallel_seeds": 2}, "pretrain": {"epochs": 1}}, "pretrain"),
    ({"training": {"parallel_seeds": 2}, "model": {"hidden": [8], "activation": "prelu"}}, "prelu"),
    ({"training": {"parallel_seeds": 2}, "schedule": {"name": "performance"},
      "optimizer": {"name": "rmsprop", "momentum": 0.9}}, "schedule: performance"),
])
def test_what_cannot_be_batched_is_one_clear_config_error(tmp_path, sections, named):
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")) as raised:
        train(make_config(**sections), tmp_path / "run", quiet=True, log=lambda *_: None)
    # NotBatchable (a study then trains the seeds one by one) for all but the invalid value itself
    assert isinstance(raised.value, NotBatchable) == (named != "training.parallel_seeds")


def test_a_convolution_is_refused_with_exit_2(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text("data: {dataset: digits, valid_size: 0.15}\n"
                    "model: {layers: [{conv2d: {filters: 2, kernel_size: 3}}, {flatten: {}}]}\n"
                    "training: {epochs: 1, parallel_seeds: 2}\n")
    assert main(["train", str(path), "--out", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "conv2d" in error[0] and "parallel_seeds" in error[0]


def test_early_stopping_without_restoring_still_stops(tmp_path):
    # EarlyStopping used to count every epoch as an improvement when restore_best_weights was false
    config = make_config(optimizer={"name": "sgd", "learning_rate": 0.05, "momentum": 0.9},
                         training={"epochs": 30, "early_stopping": {"patience": 2, "min_delta": 0.01,
                                                                   "restore_best_weights": False}})
    result = train(config, tmp_path / "run", quiet=True, log=lambda *_: None)
    assert result.state.epoch < 30 and "early stopping" in result.state.stop_reason


class Interrupt(Listener):
    def __init__(self, after):
        self.after = after

    def on_epoch_end(self, loop, logs):
        if loop.state.epoch == self.after:
            raise KeyboardInterrupt


def test_an_interrupted_batched_run_resumes_exactly(tmp_path):
    # seeds 42, 43, 44 stop after epochs 6, 7, 8: one before the interruption, two after; dropout draws on
    config = make_config(schedule={"name": "performance", "factor": 0.5, "patience": 1},
                         optimizer={"name": "sgd", "learning_rate": 0.05, "momentum": 0.9},
                         model={"dropout": {"rate": 0.1}},
                         training={"epochs": 10, "parallel_seeds": 3,
                                   "early_stopping": {"patience": 2, "min_delta": 0.003}})
    whole = train(config, tmp_path / "whole", quiet=True, log=lambda *_: None)
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "cut", quiet=True, log=lambda *_: None, listeners=(Interrupt(6),))
    resumed = train(config, resume=tmp_path / "cut", quiet=True, log=lambda *_: None)
    assert any(m.state.epoch <= 6 for m in whole.members) and any(m.state.epoch > 6 for m in whole.members)
    for a, b in zip(whole.members, resumed.members, strict=True):
        assert a.state.epoch == b.state.epoch and a.state.stop_reason == b.state.stop_reason
        for name, value in a.network.state_dict().items():
            assert torch.equal(value, b.network.state_dict()[name]), name
        drop_time = [{k: v for k, v in row.items() if k != "time"} for row in a.state.history]
        assert drop_time == [{k: v for k, v in row.items() if k != "time"} for row in b.state.history]


class Poison(Listener):
    """Puts a NaN into member 1's weights after epoch 1, as a diverging member would."""

    def on_epoch_end(self, loop, logs):
        if loop.state.epoch == 1:
            with torch.no_grad():
                loop.network.parameters()[0][1].fill_(float("nan"))  # the first weights (not the input layer)


def test_a_diverging_member_is_rolled_back_and_the_others_finish(tmp_path):
    config = make_config(training={"epochs": 3, "parallel_seeds": 2})
    with pytest.raises(Diverged, match="seed 43"):
        train(config, tmp_path / "run", quiet=True, log=lambda *_: None, listeners=(Poison(),))
    assert len(read_history(tmp_path / "run" / "seed-42" / "history.csv")) == 3
    assert len(read_history(tmp_path / "run" / "seed-43" / "history.csv")) == 1
    weights = load_file(str(tmp_path / "run" / "seed-43" / "model.safetensors"))
    assert all(torch.isfinite(value).all() for value in weights.values())
    rows = list(csv.DictReader(open(tmp_path / "run" / "members.csv")))
    assert [row["epochs"] for row in rows] == ["3", "1"] and "NaN" in rows[1]["stopped"]
