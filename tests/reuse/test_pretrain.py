"""Unsupervised pretraining: the autoencoder learns, its encoder starts the classifier, frozen then unfrozen."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from dnnconf.config import config_from_dict
from dnnconf.errors import ConfigError
from dnnconf.reuse import pretrain as pretrain_module
from dnnconf.reuse.pretrain import pretrained_network
from dnnconf.run import train
from dnnconf.train.callbacks import Listener
from dnnconf.train.history import read_history
from dnnconf.train.run_folder.loading import load_run

ROOT = Path(__file__).resolve().parents[2]


def config(**sections):
    raw = {"name": "p", "seed": 3, "data": {"dataset": "digits", "valid_size": 0.15, "train_limit": 60},
           "model": {"hidden": [24, 12]}, "schedule": {"name": "constant"},
           "training": {"epochs": 4, "early_stopping": None, "threads": 1},
           "pretrain": {"epochs": 3, "freeze_epochs": 2, "batch_size": 64}}
    for key, value in sections.items():
        raw[key] = {**raw[key], **value} if isinstance(raw.get(key), dict) and value is not None else value
    return config_from_dict(raw)


class Snapshots(Listener):
    """dense_1's and dense_2's kernels at the start and after each epoch of the supervised run."""

    def __init__(self):
        self.kernels = []

    def _take(self, loop):
        layers = dict(loop.network.layers.named_children())
        self.kernels.append({name: layers[name].weight.detach().clone() for name in ("dense_1", "dense_2", "dense_3")})

    def on_train_begin(self, loop):
        self._take(loop)

    def on_epoch_end(self, loop, logs):
        self._take(loop)


@pytest.fixture(scope="module")
def autoencoder_run(tmp_path_factory):
    snapshots = Snapshots()
    folder = tmp_path_factory.mktemp("pretrain") / "run"
    result = train(config(), folder, quiet=True, listeners=(snapshots,))
    return folder, result, snapshots


def test_the_encoder_starts_the_classifier_and_the_reconstruction_loss_falls(autoencoder_run):
    folder, result, snapshots = autoencoder_run
    encoder = load_file(str(folder / "pretrain" / "encoder.safetensors"))
    assert set(encoder) == {"dense_1.weight", "dense_1.bias", "dense_2.weight", "dense_2.bias"}
    first = snapshots.kernels[0]
    assert torch.equal(first["dense_1"], encoder["dense_1.weight"]) and torch.equal(first["dense_2"],
                                                                                     encoder["dense_2.weight"])
    autoencoder = load_file(str(folder / "pretrain" / "model.safetensors"))
    assert torch.equal(autoencoder["layers.dense_2.weight"], encoder["dense_2.weight"])
    assert autoencoder["layers.dense_4.weight"].shape == (64, 24)  # the decoder mirrors 64-24-12 back to 64
    history = read_history(folder / "pretrain" / "history.csv")
    assert [row["epoch"] for row in history] == [1, 2, 3]
    assert history[-1]["loss"] < history[0]["loss"] and history[-1]["val_loss"] < history[0]["val_loss"]
    assert (folder / "pretrain" / "reconstructions.png").stat().st_size > 1000
    # the run is normalized with the unlabeled set's statistics, which the encoder learned on
    assert json.loads((folder / "normalization.json").read_text()) == json.loads(
        (folder / "pretrain" / "normalization.json").read_text())
    assert result.config.pretrain.optimizer.name == "adam"  # the pretraining default, resolved in the config


def test_pretrained_layers_stay_fixed_while_frozen_then_change(autoencoder_run):
    folder, result, snapshots = autoencoder_run
    kernels = snapshots.kernels  # before training, then after epochs 1..4; freeze_epochs: 2
    for epoch in (1, 2):
        assert torch.equal(kernels[epoch]["dense_1"], kernels[0]["dense_1"])
        assert torch.equal(kernels[epoch]["dense_2"], kernels[0]["dense_2"])
        assert not torch.equal(kernels[epoch]["dense_3"], kernels[epoch - 1]["dense_3"])  # the output learns
    for epoch in (3, 4):
        assert not torch.equal(kernels[epoch]["dense_1"], kernels[epoch - 1]["dense_1"])
    trainable = json.loads((folder / "trainable.json").read_text())
    assert trainable["source"] == str(folder / "pretrain")
    assert trainable["epochs"]["1"] == ["dense_3"] and "dense_1" in trainable["epochs"]["3"]


def test_resuming_a_finished_run_does_not_pretrain_again(autoencoder_run, monkeypatch):
    folder, result, _ = autoencoder_run
    before = (folder / "pretrain" / "encoder.safetensors").read_bytes()
    monkeypatch.setattr(pretrain_module, "fit_autoencoder", lambda *a, **k: pytest.fail("pretrained again"))
    again = train(config(), resume=folder, quiet=True)
    assert again.state.epoch == 4 and (folder / "pretrain" / "encoder.safetensors").read_bytes() == before


def test_an_interrupted_pretraining_resumes_from_its_epoch_checkpoint(tmp_path, monkeypatch):
    import dnnconf.train.checkpoint as checkpoint

    whole = train(config(), tmp_path / "whole", quiet=True)
    saved = checkpoint.Checkpointer.on_epoch_end

    def stop_after_pretraining_epoch_2(self, loop, logs):
        saved(self, loop, logs)
        if "pretrain" in str(self.folder) and loop.state.epoch == 2:
            raise KeyboardInterrupt  # as if killed right after the checkpoint of epoch 2

    monkeypatch.setattr(checkpoint.Checkpointer, "on_epoch_end", stop_after_pretraining_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        train(config(), tmp_path / "cut", quiet=True)
    monkeypatch.setattr(checkpoint.Checkpointer, "on_epoch_end", saved)
    assert not (tmp_path / "cut" / "pretrain" / "encoder.safetensors").exists()
    resumed = train(config(), resume=tmp_path / "cut", quiet=True)
    assert [row["epoch"] for row in read_history(tmp_path / "cut" / "pretrain" / "history.csv")] == [1, 2, 3]
    # restarted from epoch 2's checkpoint, it ends exactly where the uninterrupted run did
    for name, value in load_file(str(tmp_path / "whole" / "pretrain" / "encoder.safetensors")).items():
        assert torch.equal(value, load_file(str(tmp_path / "cut" / "pretrain" / "encoder.safetensors"))[name])
    assert resumed.test == whole.test


def test_greedy_layerwise_trains_each_layer_on_the_codes_below(tmp_path):
    raw = config(pretrain={"method": "greedy_layerwise", "noise": {"kind": "gaussian", "std": 0.1}})
    network, plan = pretrained_network(raw, tmp_path / "greedy")
    assert plan.groups == [["flatten_1", "dense_1", "relu_1"], ["dense_2", "relu_2"]]
    for layer, shapes in ((1, [(24, 64), (64, 24)]), (2, [(12, 24), (24, 12)])):
        history = read_history(tmp_path / "greedy" / f"layer-{layer}" / "history.csv")
        assert history[-1]["loss"] < history[0]["loss"], layer
        shallow = load_file(str(tmp_path / "greedy" / f"layer-{layer}" / "model.safetensors"))
        assert [shallow["layers.dense_1.weight"].shape, shallow["layers.dense_2.weight"].shape] == shapes
        assert torch.equal(network.layers.get_submodule(f"dense_{layer}").weight, shallow["layers.dense_1.weight"])
    reused = raw.pretrain.model_copy(update={"reuse_from": str(tmp_path / "greedy")})
    again, _ = pretrained_network(raw.model_copy(update={"pretrain": reused}))
    assert torch.equal(again.layers.dense_2.weight, network.layers.dense_2.weight)  # read back, not redone


def test_reusing_a_pretraining_made_otherwise_is_refused(tmp_path):
    pretrained_network(config(), tmp_path / "pre")
    other = config(pretrain={"epochs": 4, "reuse_from": str(tmp_path / "pre")})
    with pytest.raises(ConfigError, match=r"pretrain.reuse_from: .* another pretrain"):
        pretrained_network(other)
    with pytest.raises(ConfigError, match=r"^pretrain: .* another pretrain"):  # --force into a used folder
        pretrained_network(config(pretrain={"epochs": 4}), tmp_path / "pre")
    with pytest.raises(ConfigError, match="this config has no pretrain section"):
        pretrained_network(config(pretrain=None))
    with pytest.raises(ConfigError, match="holds no finished pretraining"):
        pretrained_network(config(pretrain={"reuse_from": str(tmp_path / "nothing")}))


@pytest.mark.parametrize(("sections", "message"), [
    ({"transfer": {"from": "runs/a"}}, "pretrain: cannot be combined with transfer"),
    ({"pretrain": {"loss": "binary_crossentropy"}}, "needs inputs in [0, 1] (data.normalize: minmax)"),
    ({"pretrain": {"noise": {"kind": "salt"}}}, "pretrain.noise.kind"),
])
def test_bad_pretrain_sections_are_config_errors(sections, message):
    with pytest.raises(ConfigError) as error:
        config(**sections)
    assert message in str(error.value)


def test_a_conv_encoder_is_refused(tmp_path):
    conv = config().model_dump(mode="json", by_alias=True)
    conv["model"] = {"layers": [{"conv2d": {"filters": 4, "kernel_size": 3}}, {"flatten": {}}, {"dense": {"units": 8}}]}
    with pytest.raises(ConfigError, match="pretrain: the model has a conv2d layer"):
        pretrained_network(config_from_dict(conv), tmp_path / "conv")


def test_the_cli_exits_2_on_pretrain_with_transfer(tmp_path):
    path = tmp_path / "both.yaml"
    path.write_text("data: {dataset: digits}\npretrain: {epochs: 1}\ntransfer: {from: runs/a}\n")
    result = subprocess.run([sys.executable, "-m", "dnnconf", "train", str(path)], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "pretrain: cannot be combined with transfer" in result.stderr


def test_load_run_reads_a_pretrained_run_back(autoencoder_run):
    folder, result, _ = autoencoder_run
    _, network = load_run(folder)
    assert torch.equal(network.layers.dense_1.weight, result.network.layers.dense_1.weight.cpu())


def test_losses_and_metrics_of_targets_with_several_values():
    from dnnconf.train.losses import loss_function, metric_sum

    output = torch.tensor([[0.0, 2.0, -1.0], [1.0, 1.0, 1.0]])
    target = torch.tensor([[0.0, 1.0, 0.0], [1.0, 1.0, 0.0]])
    assert loss_function("mse")(output, target).item() == pytest.approx((1 + 1 + 1) / 6)
    assert metric_sum("mse")(output, target).item() == pytest.approx(3 / 3)  # Σ over examples of the mean |error|
    assert metric_sum("binary_crossentropy")(output, target).item() == pytest.approx(5 / 3)  # 5 of 6 values right
    expected = torch.nn.functional.binary_cross_entropy_with_logits(output, target)
    assert loss_function("binary_crossentropy")(output, target).item() == pytest.approx(expected.item())
    assert metric_sum("mse")(torch.tensor([[1.0], [3.0]]), torch.tensor([0.0, 1.0])).item() == 3.0  # one value


def test_a_run_reusing_a_pretraining_equals_the_run_that_made_it(tmp_path):
    made = train(config(), tmp_path / "made", quiet=True)
    reused = train(config(pretrain={"reuse_from": str(tmp_path / "made" / "pretrain")}), tmp_path / "reused",
                   quiet=True)
    a, b = load_file(str(made.folder / "model.safetensors")), load_file(str(reused.folder / "model.safetensors"))
    assert a.keys() == b.keys()
    assert all(torch.equal(a[name], b[name]) for name in a)  # the output layer too: its init is the seed's
    untimed = [[{k: v for k, v in row.items() if k != "time"} for row in run.state.history] for run in (made, reused)]
    assert untimed[0] == untimed[1]
