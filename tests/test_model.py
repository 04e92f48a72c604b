"""dnnconf.load: a run or an export as one Model on raw inputs; the CLI and Python agree; older runs load."""

import json
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

import dnnconf
from dnnconf import cli
from dnnconf.config import config_from_dict
from dnnconf.data import apply_normalization, load_data
from dnnconf.errors import BadInput, DataError
from dnnconf.model import Model
from dnnconf.nn.layers import BatchNorm
from dnnconf.nn.normalization import fit_statistics
from dnnconf.run import train
from dnnconf.train.run_folder.loading import load_run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Digits (8x8 images, 0..16), batch norm and dropout: what inference mode must get right."""
    folder = tmp_path_factory.mktemp("runs") / "digits-bn"
    config = config_from_dict({
        "name": "digits-bn", "data": {"dataset": "digits", "valid_size": 0.15},
        "model": {"hidden": [32, 16], "batch_norm": "before_activation", "dropout": {"rate": 0.3, "top_layers": 2}},
        "schedule": {"name": "constant"}, "training": {"epochs": 2, "batch_size": 64},
    })
    train(config, folder, quiet=True, log=lambda *_: None)
    return folder


@pytest.fixture(scope="module")
def test_split(run):
    config, _ = load_run(run)
    data = load_data(config.data)
    return data.x_test.numpy(), data.y_test.numpy()


def test_load_is_the_api_and_the_network_is_in_eval_mode(run):
    model = dnnconf.load(str(run))
    assert isinstance(model, Model) and model.kind == "run" and model.dtype == "float32"
    assert not model.network.training and not load_run(run)[1].training
    assert "standardize per channel" in model.summary()


def test_predict_on_raw_inputs_is_what_dnnconf_predict_writes(run, test_split, tmp_path):
    x = test_split[0][:50]
    np.savez(tmp_path / "in.npz", x=x)
    assert cli.main(["predict", str(run), "--input", str(tmp_path / "in.npz"), "--output",
                     str(tmp_path / "out.npz")]) == 0
    with np.load(tmp_path / "out.npz") as written:
        model = dnnconf.load(run)
        np.testing.assert_array_equal(model.predict_proba(x).astype(np.float64), written["mean"])
        np.testing.assert_array_equal(model.predict_classes(x), written["pred"])


def test_numpy_torch_lists_batches_and_single_examples_agree(run, test_split):
    model = dnnconf.load(run)
    x = test_split[0][:40]
    expected = model.predict(x)
    assert expected.shape == (40, 10) and expected.dtype == np.float32
    np.testing.assert_allclose(expected.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_array_equal(model.predict(torch.from_numpy(x)), expected)
    np.testing.assert_allclose(model.predict(x.tolist()), expected, rtol=1e-6)
    np.testing.assert_allclose(model.predict(x, batch_size=7), expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(model.predict(x.reshape(40, 64)), expected, rtol=1e-6)
    one = model.predict(x[3])  # batch norm on its moving statistics: the same as inside the batch
    assert one.shape == (10,)
    np.testing.assert_allclose(one, expected[3], rtol=1e-5, atol=1e-7)


def test_predict_runs_without_gradients_in_eval_mode(run, test_split):
    model = dnnconf.load(run)
    model.network.train()  # even if someone switched it
    seen = []
    handle = model.network.register_forward_hook(
        lambda module, inputs, output: seen.append((module.training, torch.is_grad_enabled(), output.requires_grad)))
    try:
        model.predict(test_split[0][:5])
    finally:
        handle.remove()
    assert seen == [(False, False, False)] and model.network.training  # the mode is left as found


def test_mc_predict_turns_only_dropout_on(run, test_split):
    model = dnnconf.load(run)
    norms = [m for m in model.network.modules() if isinstance(m, BatchNorm)]
    before = [m.running_mean.clone() for m in norms]
    modes = []
    hooks = [m.register_forward_hook(lambda module, inputs, output: modes.append(module.training)) for m in norms]
    try:
        mc = model.mc_predict(test_split[0][:20], samples=16, seed=1)
    finally:
        for hook in hooks:
            hook.remove()
    assert modes and not any(modes)  # batch norm in inference mode throughout
    assert all(torch.equal(a, m.running_mean) for a, m in zip(before, norms, strict=True))
    assert mc.std.max() > 0  # dropout sampled
    plain = model.predict(test_split[0][:20])
    assert np.abs(mc.mean - plain).max() < 0.5


def test_evaluate_on_a_split_and_on_raw_pairs(run, test_split):
    model = dnnconf.load(run)
    on_split = model.evaluate("test")
    assert on_split == pytest.approx(model.evaluate(test_split))
    accuracy = (model.predict_classes(test_split[0]) == test_split[1]).mean()
    assert on_split["accuracy"] == pytest.approx(accuracy)
    assert dnnconf.evaluate_run(run) == pytest.approx(on_split)
    with pytest.raises(BadInput, match="split"):
        model.evaluate("holdout")
    with pytest.raises(DataError, match="labels"):
        model.evaluate((test_split[0][:5], np.arange(4)))
    with pytest.raises(DataError, match=r"\(N, 8, 8\)"):
        model.predict(np.zeros((3, 7, 7)))


def test_int8_export_evaluates_itself(run, test_split, tmp_path):
    from dnnconf.exporting.exporter import load_model

    out = tmp_path / "int8"
    result = dnnconf.load(run).export(dtype="int8", out=out, measure_latency=False)
    model = dnnconf.load(out)
    assert model.kind == "export" and model.dtype == "int8"
    _, quantized = load_model(out)
    with torch.inference_mode():
        own = (quantized(torch.from_numpy(test_split[0])).argmax(1).numpy() == test_split[1]).mean()
    assert model.evaluate("test")["accuracy"] == pytest.approx(own)
    assert model.evaluate("test")["accuracy"] == pytest.approx(result.stages[-1].metric)
    with pytest.raises(BadInput, match="export folder"):
        model.export()


def test_onnx_on_raw_inputs_matches_torch(run, test_split, tmp_path):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    dnnconf.load(run).export(onnx="model.onnx", out=tmp_path / "onnx", measure_latency=False)
    session = ort.InferenceSession(str(tmp_path / "onnx" / "model.onnx"), providers=["CPUExecutionProvider"])
    x = test_split[0][:25].astype(np.float32)
    logits = session.run(None, {"input": x})[0]
    np.testing.assert_allclose(logits, dnnconf.load(run).logits(x), atol=1e-4, rtol=1e-4)


def older_run(run, tmp_path):
    """The layout before the input layer: per-pixel statistics in normalization.json, weights without them,
    inputs normalized outside the network."""
    config, _ = load_run(run)
    data = load_data(config.data)
    old = fit_statistics(data.x_train.numpy(), "standardize", "feature")
    statistics = {"method": "standardize", "mean": old["mean"], "std": old["std"]}
    folder = tmp_path / "old"
    shutil.copytree(run, folder)
    weights = {k: v for k, v in load_file(str(run / "model.safetensors")).items()
               if not k.startswith("normalization.")}
    save_file(weights, str(folder / "model.safetensors"))
    (folder / "normalization.json").write_text(json.dumps(statistics))
    return folder, weights, statistics


def test_an_older_run_folder_loads_and_predicts_the_same(run, test_split, tmp_path):
    folder, weights, statistics = older_run(run, tmp_path)
    _, bare = load_run(run)
    bare.load_state_dict(weights, strict=False)
    bare.normalization.adapt({"method": "none"})  # the old network: normalized inputs in
    x = test_split[0][:30]
    with torch.inference_mode():
        before = torch.softmax(bare(torch.from_numpy(apply_normalization(x, statistics))), dim=1).numpy()
    model = dnnconf.load(folder)
    np.testing.assert_allclose(model.predict(x), before, rtol=1e-5, atol=1e-6)
    assert "per feature" in model.summary()
    (folder / "normalization.json").write_text("{not json")
    with pytest.raises(dnnconf.errors.RunFolderError, match="normalization.json"):
        dnnconf.load(folder)


@pytest.mark.parametrize("head,units,width", [("sigmoid", 1, 2), ("linear", 2, None)])
def test_binary_and_regression_heads(head, units, width):
    from dnnconf.train import setup

    loss = {"sigmoid": "binary_crossentropy", "linear": "mse"}[head]
    config = config_from_dict({"model": {"input_shape": [5], "hidden": [4],
                                         "output": {"units": units, "activation": head}}, "loss": loss})
    x = np.random.default_rng(0).normal(3, 2, (6, 5))
    network = setup.make_network(config, fit_statistics(x, "standardize"))
    model = Model(config, network)
    out = model.predict(x)
    assert out.shape == (6, units)
    if width is None:
        with pytest.raises(BadInput, match="regression"):
            model.predict_proba(x)
        return
    proba = model.predict_proba(x)
    assert proba.shape == (6, width)
    np.testing.assert_allclose(proba[:, 1], out[:, 0], rtol=1e-6)
    np.testing.assert_array_equal(model.predict_classes(x), (out[:, 0] > 0.5).astype(np.int64))
    metrics = model.evaluate((x, np.array([0, 1, 0, 1, 1, 0])))
    assert set(metrics) == {"loss", "accuracy"}
