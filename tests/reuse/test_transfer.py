"""Transfer learning: the reused layers are copies of the source run's, checked against its architecture."""

import hashlib
import json
from pathlib import Path

import pytest
import torch
from digits_tasks import bn_digits_config

from dnnconf.config import dump_config, load_config
from dnnconf.errors import ConfigError
from dnnconf.reuse.transfer import build_transferred, layer_groups
from dnnconf.run import train
from dnnconf.train.run_folder.loading import load_run

A_CLASSES = [0, 1, 2, 3, 5, 6, 7, 8]


config = bn_digits_config  # the shared small digits MLP (tests/shared/digits_tasks.py)


def task_b(source, **transfer):
    return config(name="b", data={"classes": [4, 9], "positive_class": 9, "train_limit": 60},
                  transfer={"from": str(source), **transfer})


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    folder = tmp_path_factory.mktemp("transfer") / "task-a"
    train(config(name="a", data={"classes": A_CLASSES}), folder, quiet=True)
    return folder


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_reused_weights_are_copies_of_the_source_and_the_source_is_untouched(source, tmp_path):
    before = digest(source)
    _, original = load_run(source)
    network, plan = build_transferred(task_b(source))
    assert plan.groups == [["flatten_1", "dense_1", "batch_norm_1", "relu_1"], ["dense_2", "batch_norm_2", "relu_2"]]
    mine, theirs = network.state_dict(), original.state_dict()
    for name in ("dense_1.weight", "batch_norm_1.running_mean", "batch_norm_2.running_var", "dense_2.weight"):
        assert torch.equal(mine[f"layers.{name}"], theirs[f"layers.{name}"])
        assert mine[f"layers.{name}"].data_ptr() != theirs[f"layers.{name}"].data_ptr()
    assert mine["layers.dense_3.weight"].shape == (1, 16)  # the new output: one sigmoid unit
    result = train(task_b(source, freeze_epochs=1), tmp_path / "b", quiet=True)
    assert result.state.epoch == 2
    assert digest(source) == before  # training B never writes into A's folder
    assert not torch.equal(result.network.state_dict()["layers.dense_1.weight"], theirs["layers.dense_1.weight"])


def test_inputs_are_normalized_with_the_source_statistics(source, tmp_path):
    train(task_b(source, freeze_epochs=1), tmp_path / "b", quiet=True)
    assert json.loads((tmp_path / "b" / "normalization.json").read_text()) == json.loads(
        (source / "normalization.json").read_text())
    train(task_b(source, freeze_epochs=1, normalization="own"), tmp_path / "own", quiet=True)
    assert json.loads((tmp_path / "own" / "normalization.json").read_text()) != json.loads(
        (source / "normalization.json").read_text())


def test_reuse_counts_names_and_drop_top(source):
    _, plan = build_transferred(task_b(source, reuse=1))
    assert plan.modules == ["flatten_1", "dense_1", "batch_norm_1", "relu_1"]
    _, plan = build_transferred(task_b(source, drop_top=1))
    assert plan.modules == ["flatten_1", "dense_1", "batch_norm_1", "relu_1"]
    _, plan = build_transferred(task_b(source, reuse=["dense_1", "batch_norm_1"]))
    assert plan.groups == [["dense_1", "batch_norm_1"]]
    # dropping the top hidden layer and replacing it (the new model keeps 2 hidden layers, the second fresh)
    network, plan = build_transferred(task_b(source, drop_top=1).model_copy(
        update={"model": config(model={"hidden": [24, 8]}).model}))
    assert [name for name, _ in network.layers.named_children()][-1] == "dense_3"


@pytest.mark.parametrize("transfer, model, message", [
    ({}, {"hidden": [24, 12]}, "transfer.from: layer dense_2 has weight of shape [16, 24] in "),
    ({}, {"hidden": [24, 16], "batch_norm": "none"}, "transfer.from: the source's layer batch_norm_1 (BatchNorm) has"),
    ({"reuse": 5}, {}, "transfer.reuse: 5 layers, but the source has 3"),
    ({"reuse": ["dense_9"]}, {}, "transfer.reuse: 'dense_9' is not a layer of the source"),
    ({"drop_top": 2}, {}, "transfer.drop_top: 2 drops every one of the 2 reused layers"),
])
def test_architecture_mismatch_is_one_line(source, transfer, model, message):
    bad = task_b(source, **transfer)
    bad = bad.model_copy(update={"model": config(model=model).model})
    with pytest.raises(ConfigError) as error:
        build_transferred(bad)
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


def test_missing_source_run_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"^transfer.from: .*no such run folder") as error:
        train(task_b(tmp_path / "nowhere"), tmp_path / "b", quiet=True)
    assert "\n" not in str(error.value)
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.yaml").write_text(dump_config(config()))
    with pytest.raises(ConfigError, match="model.safetensors is missing"):
        build_transferred(task_b(tmp_path / "half"))


def test_the_section_round_trips_with_the_yaml_key_from(tmp_path):
    b = task_b("runs/transfer-task-a", unfreeze=1, unfreeze_lr_factor=0.1)
    text = dump_config(b)
    assert "  from: runs/transfer-task-a" in text
    (tmp_path / "b.yaml").write_text(text)
    assert load_config(tmp_path / "b.yaml") == b
    with pytest.raises(ConfigError, match="transfer.unfreeze: unfreeze the top k >= 1"):
        task_b("x", unfreeze=0)
    with pytest.raises(ConfigError, match="transfer.from: Field required"):
        config(transfer={"freeze_epochs": 4})


def test_layer_groups_of_the_compact_forms():
    from dnnconf.data import load_data
    from dnnconf.train import setup

    model = {"batch_norm": "after_activation", "dropout": {"rate": 0.2, "top_layers": 3}}
    c = setup.resolve_with_data(config(model=model), load_data(config().data))
    groups = layer_groups(setup.make_network(c))
    assert groups[0][:3] == ["flatten_1", "dropout_1", "batch_norm_1"] and groups[0][3] == "dense_1"
    assert groups[-1] == ["dense_3"]
