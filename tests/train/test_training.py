import math

import pytest
import torch
from safetensors.torch import load_file

from dnnconf.errors import Diverged
from dnnconf.model import evaluate_run
from dnnconf.run import train


def weights(folder):
    return load_file(str(folder / "model.safetensors"))


def test_digits_run_reaches_095_and_writes_the_run_folder(tmp_path):
    from dnnconf.config import load_config

    config = load_config("examples/digits_default.yaml")
    result = train(config, tmp_path / "run", quiet=True)
    assert result.test["accuracy"] >= 0.95
    for name in ("config.yaml", "model.safetensors", "history.csv", "report.md", "metrics.json",
                 "plots/learning_curves.png", "checkpoint/LATEST"):
        assert (tmp_path / "run" / name).is_file(), name
    header = (tmp_path / "run" / "history.csv").read_text().splitlines()[0].split(",")
    assert header[:5] == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy"]
    assert "lr" in header and "grad_norm" in header
    assert evaluate_run(tmp_path / "run")["accuracy"] == pytest.approx(result.test["accuracy"])


def test_same_seed_same_weights_other_seed_other_weights(tmp_path, digits_config):
    a = train(digits_config(model={"dropout": {"rate": 0.2}}), tmp_path / "a", quiet=True)
    b = train(digits_config(model={"dropout": {"rate": 0.2}}), tmp_path / "b", quiet=True)
    c = train(digits_config(seed=7, model={"dropout": {"rate": 0.2}}), tmp_path / "c", quiet=True)
    wa, wb, wc = weights(a.folder), weights(b.folder), weights(c.folder)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not all(torch.equal(wa[k], wc[k]) for k in wa)


def test_saved_config_replays_to_the_same_run(tmp_path, digits_config):
    from dnnconf.config import load_config

    first = train(digits_config(), tmp_path / "first", quiet=True)
    replay = train(load_config(tmp_path / "first" / "config.yaml"), tmp_path / "replay", quiet=True)
    wa, wb = weights(first.folder), weights(replay.folder)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_nan_stops_with_the_notes_remedies_and_keeps_the_last_good_checkpoint(tmp_path, digits_config):
    config = digits_config(optimizer={"name": "sgd", "learning_rate": 1e30}, schedule={"name": "constant"},
                           training={"epochs": 3, "early_stopping": None})
    with pytest.raises(Diverged) as caught:
        train(config, tmp_path / "run", quiet=True)
    message = str(caught.value)
    assert caught.value.exit_code == 1
    assert "lower the learning rate" in message and "clip" in message and "batch norm" in message
    assert "diverged" in (tmp_path / "run" / "report.md").read_text()
    saved = weights(tmp_path / "run")
    assert all(torch.isfinite(v).all() for v in saved.values())


def test_early_stopping_restores_the_best_weights_even_without_stopping(tmp_path, digits_config):
    config = digits_config(training={"epochs": 6, "early_stopping": {"patience": 100, "monitor": "val_loss"}},
                           optimizer={"name": "sgd", "learning_rate": 0.3, "momentum": 0.9})
    result = train(config, tmp_path / "run", quiet=True)
    history = result.state.history
    best = min(range(len(history)), key=lambda i: history[i]["val_loss"])
    assert result.state.restored_epoch == best + 1
    from dnnconf.model import evaluate_run

    valid = evaluate_run(tmp_path / "run", "valid")
    assert math.isclose(valid["loss"], history[best]["val_loss"], rel_tol=1e-5)


def test_early_stopping_stops_after_patience(tmp_path, digits_config):
    config = digits_config(training={"epochs": 50, "early_stopping": {"patience": 0, "monitor": "val_accuracy",
                                                                      "min_delta": 1.0}})
    result = train(config, tmp_path / "run", quiet=True)
    assert result.state.epoch == 2 and "early stopping" in result.state.stop_reason


def test_performance_schedule_halves_the_rate_on_a_plateau(tmp_path, digits_config):
    config = digits_config(schedule={"name": "performance", "factor": 0.5, "patience": 0, "min_delta": 10.0},
                           training={"epochs": 3, "early_stopping": None})
    history = train(config, tmp_path / "run", quiet=True).state.history
    lrs = [row["lr"] for row in history]
    assert lrs == pytest.approx([0.01, 0.01, 0.005])  # the rate used in each epoch


def test_resume_continues_to_the_same_weights(tmp_path, digits_config):
    full = train(digits_config(training={"epochs": 4}), tmp_path / "full", quiet=True)
    train(digits_config(training={"epochs": 2}), tmp_path / "part", quiet=True)
    resumed = train(digits_config(training={"epochs": 4}), resume=tmp_path / "part", force=True, quiet=True)
    assert resumed.state.epoch == 4
    wa, wb = weights(full.folder), weights(tmp_path / "part")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_resume_with_a_different_config_is_refused(tmp_path, digits_config):
    from dnnconf.errors import ConfigError

    train(digits_config(training={"epochs": 1}), tmp_path / "run", quiet=True)
    with pytest.raises(ConfigError, match="training.epochs"):
        train(digits_config(training={"epochs": 2}), resume=tmp_path / "run", quiet=True)


def test_regularization_clipping_and_constraint_run(tmp_path, digits_config):
    config = digits_config(model={"kernel_regularizer": {"l2": 0.01}, "kernel_constraint": {"max_norm": 1.0},
                                  "batch_norm": "before_activation"},
                           optimizer={"name": "adam", "clipnorm": 1.0})
    result = train(config, tmp_path / "run", quiet=True)
    for name, tensor in result.network.state_dict().items():
        if name in ("layers.dense_1.weight", "layers.dense_2.weight"):
            assert tensor.norm(dim=1).max() <= 1.0 + 1e-5


def test_one_cycle_logs_momentum_and_draws_the_rate_per_step(tmp_path, digits_config):
    config = digits_config(schedule={"name": "one_cycle", "max_lr": 0.05}, training={"epochs": 3},
                           optimizer={"name": "sgd", "momentum": 0.9})
    result = train(config, tmp_path / "run", quiet=True)
    history = result.state.history
    assert "momentum" in history[0] and history[0]["momentum"] != history[1]["momentum"]
    assert (tmp_path / "run" / "plots" / "learning_rate.png").is_file()


def test_training_leaves_the_denormal_mode_as_it_found_it(tmp_path, digits_config):
    from dnnconf.train.loop import denormals_flushed

    assert not denormals_flushed()
    train(digits_config(training={"epochs": 1}), tmp_path / "run", quiet=True)
    assert not denormals_flushed()


def test_layer_stats_add_a_column_per_layer_and_a_plot(tmp_path, digits_config):
    result = train(digits_config(training={"epochs": 2, "layer_stats": True}), tmp_path / "run", quiet=True)
    header = (tmp_path / "run" / "history.csv").read_text().splitlines()[0].split(",")
    assert {"grad_norm/dense_1", "grad_norm/dense_2", "grad_norm/dense_3"} <= set(header)
    assert result.state.history[0]["grad_norm/dense_1"] > 0
    assert (tmp_path / "run" / "plots" / "layer_grad_norms.png").is_file()


def test_train_runs_the_check_first(tmp_path):
    import subprocess
    import sys

    config = tmp_path / "selu.yaml"
    config.write_text("data: {dataset: digits, valid_size: 0.15}\nmodel: {hidden: [16], activation: selu, "
                      "kernel_initializer: lecun_normal, batch_norm: before_activation}\ntraining: {epochs: 1}\n")
    result = subprocess.run([sys.executable, "-m", "dnnconf", "train", config, "--out", tmp_path / "run"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and "DNC110" in result.stderr and "--force" in result.stderr
    assert not (tmp_path / "run" / "model.safetensors").exists()
    forced = subprocess.run([sys.executable, "-m", "dnnconf", "train", config, "--out", tmp_path / "run", "--force",
                             "--quiet"], capture_output=True, text=True, timeout=300)
    assert forced.returncode == 0, forced.stderr


def test_every_epoch_logs_a_gradient_norm_even_when_shorter_than_the_sampling_interval(tmp_path, digits_config):
    # 4 steps an epoch, the norm sampled every 16 steps: each epoch's first step is sampled as well
    config = digits_config(data={"train_limit": 128}, training={"epochs": 4, "batch_size": 32, "early_stopping": None})
    result = train(config, tmp_path / "run", quiet=True)
    assert all(row["grad_norm"] > 0 for row in result.state.history), [r["grad_norm"] for r in result.state.history]
