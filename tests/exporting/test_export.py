"""dnnconf export: batch-norm folding, pruning, precision, ONNX, export folders and the command."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from dnnconf.config import config_from_dict
from dnnconf.config.layers import model_layers
from dnnconf.exporting.exporter import (
    ExportedModel,
    append_report,
    export_onnx,
    export_run,
    fold,
    fold_batch_norm,
    folded_layers,
    kernel_sparsity,
    load_model,
    prune,
    quantize_int8,
    to_dtype,
)
from dnnconf.nn.build import build_network
from dnnconf.nn.layers import BatchNorm

ROOT = Path(__file__).resolve().parents[2]
TOL = {"atol": 1e-5, "rtol": 1e-5}


def layers_of(model: dict, units: int = 10) -> list:
    config = config_from_dict({"model": model})
    return model_layers(config.model, units, "softmax")


def randomized(layers: list, input_shape: tuple, seed: int = 0):
    """A network with non-trivial batch-norm statistics and biases (both signs of γ)."""
    net = build_network(layers, input_shape, torch.Generator().manual_seed(seed))
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, BatchNorm):
                n = module.features
                module.running_mean.copy_(torch.randn(n, generator=generator))
                module.running_var.copy_(torch.rand(n, generator=generator) * 1.5 + 0.5)
                if module.weight is not None:
                    sign = torch.where(torch.rand(n, generator=generator) < 0.3, -1.0, 1.0)
                    module.weight.copy_(sign * (torch.rand(n, generator=generator) + 0.5))
                if module.bias is not None:
                    module.bias.copy_(torch.randn(n, generator=generator))
            elif isinstance(module, torch.nn.Linear | torch.nn.Conv2d) and module.bias is not None:
                module.bias.copy_(torch.randn(module.bias.shape, generator=generator) * 0.1)
    return net.eval()


def assert_folds_exactly(layers: list, input_shape: tuple, kept: int = 0):
    net = randomized(layers, input_shape)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    folded, report = fold(net)
    x = torch.randn(16, *input_shape, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        torch.testing.assert_close(folded(x), net(x), **TOL)
    assert sum(isinstance(m, BatchNorm) for m in folded.modules()) == kept == len(report.kept)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # the original is untouched
    assert all(m.bias is not None for m in folded.modules() if isinstance(m, torch.nn.Linear | torch.nn.Conv2d))
    # the folded layer list builds the same modules, names included: the export's config.yaml rebuilds it
    rebuilt = build_network(folded_layers(layers, report), input_shape).eval()
    rebuilt.load_state_dict(folded.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x), net(x), **TOL)
    return folded, report


@pytest.mark.parametrize("position", ["before_activation", "after_activation"])
def test_folding_the_notes_batch_norm_models_keeps_their_outputs(position):
    layers = layers_of({"hidden": [30, 20], "activation": "elu", "batch_norm": position})
    folded, report = assert_folds_exactly(layers, (6, 5))
    assert report.folded == [True] * (2 if position == "before_activation" else 3)
    if position == "after_activation":  # the input BN right after flatten went into the first dense layer
        assert report.into[0] == "batch_norm_1 -> dense_1"
    assert [type(m).__name__ for m in folded.layers] == ["Flatten", "Linear", "ELU", "Linear", "ELU", "Linear"]


def test_fold_batch_norm_returns_a_network_and_leaves_dropout_in_place():
    layers = layers_of({"hidden": [16, 8], "batch_norm": "before_activation", "dropout": {"rate": 0.3}})
    net = randomized(layers, (12,))
    folded = fold_batch_norm(net)
    x = torch.randn(5, 12)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), net(x), **TOL)
    assert folded.head == "softmax" and folded.input_shape == (12,)


CONV_LAYERS = [
    {"conv2d": {"filters": 4, "kernel_size": 3, "padding": "same"}},  # BN before the activation: backward
    {"batch_norm": {}}, {"activation": "relu"},
    {"conv2d": {"filters": 5, "kernel_size": 3, "activation": "relu"}},  # BN after the activation: forward
    {"batch_norm": {}},
    {"avg_pooling2d": {}},
    {"conv2d": {"filters": 3, "kernel_size": [2, 3], "strides": 2, "activation": "selu"}},
    {"batch_norm": {"center": False}},  # through flatten into a dense layer, per channel repeated over H·W
    {"flatten": {}},
    {"dense": {"units": 7, "activation": "tanh"}},
    {"batch_norm": {"scale": False}},
]


def test_folding_conv_batch_norm_before_and_after_the_activation():
    folded, report = assert_folds_exactly(layers_of({"layers": CONV_LAYERS}), (12, 11, 2))
    assert report.folded == [True, True, True, True]
    assert report.into == ["batch_norm_1 -> conv2d_1", "batch_norm_2 -> conv2d_3", "batch_norm_3 -> dense_1",
                           "batch_norm_4 -> dense_2"]


def test_a_batch_norm_that_cannot_fold_exactly_is_kept():
    layers = layers_of({"layers": [
        {"conv2d": {"filters": 4, "kernel_size": 3, "activation": "relu"}}, {"batch_norm": {}},
        {"conv2d": {"filters": 4, "kernel_size": 3, "padding": "same"}},  # pads: BN(0) ≠ 0 at the border
        {"batch_norm": {}}, {"activation": "relu"}, {"global_avg_pooling2d": {}}, {"batch_norm": {}}]})
    folded, report = assert_folds_exactly(layers, (9, 9), kept=1)
    assert report.folded == [False, True, True] and "pads its input" in report.kept[0]


def test_prune_to_a_sparsity_zeroes_that_share_of_each_kernel_and_no_bias():
    net = randomized(layers_of({"layers": CONV_LAYERS}), (12, 11, 2))
    pruned = prune(net, sparsity=0.3)
    for (name, before), after in zip(net.state_dict().items(), pruned.state_dict().values(), strict=True):
        if name.endswith("weight") and before.dim() > 1:
            assert int((after == 0).sum()) == round(0.3 * before.numel()), name
            kept = after != 0
            assert torch.equal(after[kept], before[kept])
            assert before[~kept].abs().max() <= before[kept].abs().min()  # the smallest magnitudes went
        else:
            assert torch.equal(after, before), name
    sparsity = kernel_sparsity(pruned)
    assert sparsity["conv2d_1"] == pytest.approx(0.3, abs=0.02) and 0.29 < sparsity["total"] < 0.31
    assert kernel_sparsity(net)["total"] == 0.0


def test_prune_by_threshold_zeroes_exactly_the_small_weights():
    net = randomized(layers_of({"hidden": [20, 10]}), (8,))
    pruned = prune(net, threshold=0.2)
    for (name, before), after in zip(net.state_dict().items(), pruned.state_dict().values(), strict=True):
        if name.endswith("weight"):
            assert torch.equal(after, torch.where(before.abs() < 0.2, 0.0, before)), name
        else:
            assert torch.equal(after, before), name


@pytest.mark.parametrize("threshold,sparsity", [(None, None), (0.1, 0.5), (None, 1.5), (-1.0, None)])
def test_prune_refuses_bad_options(threshold, sparsity):
    from dnnconf.errors import BadInput

    with pytest.raises(BadInput):
        prune(torch.nn.Linear(2, 2), threshold, sparsity)


@pytest.mark.parametrize("dtype,tolerance", [("float16", 5e-2), ("bfloat16", 2e-1), ("int8", 1e-1)])
def test_to_dtype_keeps_float32_in_and_out(dtype, tolerance):
    net = randomized(layers_of({"hidden": [32, 16], "batch_norm": "before_activation"}), (10,))
    model = to_dtype(net, dtype)
    assert isinstance(model, ExportedModel) and model.head == "softmax"
    x = torch.randn(8, 10)
    with torch.no_grad():
        out = model(x)
        assert out.dtype == torch.float32
        torch.testing.assert_close(out, net(x), atol=tolerance, rtol=tolerance)
        torch.testing.assert_close(model.predict(x).sum(dim=1), torch.ones(8))
    assert next(p for p in net.parameters()).dtype == torch.float32  # the original is untouched


# --- export folders ---


@pytest.fixture(scope="module")
def bn_run(tmp_path_factory):
    """A tiny digits run with batch norm before the activation (1 epoch)."""
    from dnnconf.run import train

    config = config_from_dict({"name": "digits-export", "data": {"dataset": "digits", "valid_size": 0.15},
                               "model": {"hidden": [32, 16], "batch_norm": "before_activation"},
                               "schedule": {"name": "constant"}, "training": {"epochs": 1, "batch_size": 32}})
    return train(config, tmp_path_factory.mktemp("export") / "run", quiet=True).folder


def digits_inputs(n: int = 64) -> torch.Tensor:
    return torch.randn(n, 8, 8, generator=torch.Generator().manual_seed(5))


def test_export_folder_float16_loads_back_as_exported(bn_run, tmp_path):
    from dnnconf.train.run_folder.loading import load_run

    result = export_run(bn_run, fold_bn=True, sparsity=0.25, dtype="float16", out=tmp_path / "fp16",
                        measure_latency=False)
    folder = result.folder
    for name in ("config.yaml", "model.safetensors", "normalization.json", "export.json", "export_report.md"):
        assert (folder / name).is_file(), name
    info = json.loads((folder / "export.json").read_text())
    assert info["dtype"] == "float16" and info["quantization"] is None and info["source"] == str(bn_run)
    assert info["fold_bn"]["folded"] == 2 and info["sparsity"]["total"] == pytest.approx(0.25, abs=0.01)
    assert [s["stage"] for s in info["stages"]] == ["original", "folded", "pruned", "float16"]
    assert info["stages"][1]["max_abs_logit_diff"] < 1e-4
    assert info["stages"][1]["metric"] == info["stages"][0]["metric"]
    model_section = yaml.safe_load((folder / "config.yaml").read_text())["model"]
    assert "batch_norm" not in yaml.safe_dump(model_section)  # folded away (training.sync_batch_norm is not a layer)
    x = digits_inputs()
    config, model = load_model(folder)
    assert isinstance(model, ExportedModel) and model.dtype_name == "float16"
    with torch.no_grad():
        torch.testing.assert_close(model(x), result.model(x), atol=1e-3, rtol=1e-3)
        # the float builder rebuilds it from config.yaml (weights stored in float16)
        _, network = load_run(folder)
        torch.testing.assert_close(network(x), result.network(x), atol=2e-2, rtol=2e-2)
    assert "## Export → `fp16`" not in (bn_run / "report.md").read_text()  # outside the run: full path shown
    assert f"## Export → `{folder}`" in (bn_run / "report.md").read_text()


def test_export_folder_int8_is_quantized_again_at_load(bn_run, tmp_path):
    from torch.ao.quantization import quantize_dynamic

    from dnnconf.train.run_folder.loading import load_run

    result = export_run(bn_run, fold_bn=True, dtype="int8", out=tmp_path / "int8", measure_latency=False)
    info = json.loads((result.folder / "export.json").read_text())
    assert info["quantization"] == "dynamic_int8" and info["dtype"] == "int8"
    _, model = load_model(result.folder)
    _, float_network = load_run(result.folder)
    with pytest.warns(Warning):  # torch.ao.quantization is deprecated
        reference = quantize_dynamic(float_network.eval(), {torch.nn.Linear}, dtype=torch.qint8)
    x = digits_inputs()
    with torch.no_grad():
        assert torch.equal(model(x), reference(x))
        assert torch.equal(model(x), result.model(x))
        assert torch.equal(model(x), quantize_int8(result.network)(x))
    # a plain run loads as its Network
    config, plain = load_model(bn_run)
    assert type(plain).__name__ == "Network" and not plain.training


def test_onnx_runs_in_onnxruntime_as_in_pytorch(tmp_path):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    layers = layers_of({"layers": [{"conv2d": {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same"}},
                                   {"batch_norm": {}}, {"activation": "relu"}, {"max_pooling2d": {"padding": "same"}},
                                   {"flatten": {}}, {"dense": {"units": 12, "activation": "swish"}}]})
    net = fold_batch_norm(randomized(layers, (11, 11)))
    path = export_onnx(net, torch.randn(2, 11, 11), tmp_path / "conv.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (1, 7):  # the batch axis is dynamic
        x = torch.randn(batch, 11, 11)
        got = session.run(None, {"input": x.numpy()})[0]
        with torch.no_grad():
            torch.testing.assert_close(torch.from_numpy(got), net(x), atol=1e-4, rtol=1e-4)


def test_append_report_replaces_an_earlier_export_section(tmp_path):
    report = tmp_path / "report.md"
    report.write_text("# Run\n\n## Model\n\nsummary\n")
    target = tmp_path / "export"
    append_report(report, f"## Export → `{target}`\n\nfirst\n", target, tmp_path)
    append_report(report, f"## Export → `{target}`\n\nsecond\n", target, tmp_path)
    text = report.read_text()
    assert text.count("## Export → `export`") == 1 and "second" in text and "first" not in text
    assert text.startswith("# Run\n\n## Model\n\nsummary\n")


# --- the command ---


@pytest.fixture
def main(monkeypatch):
    """`dnnconf ARGS` through the command line's entry point (argparse's own errors as exit codes)."""
    import dnnconf.cli as cli

    def run(argv):
        try:
            return cli.main(argv)
        except SystemExit as error:  # argparse's own errors
            return error.code

    return run


def test_export_command_writes_the_folder_and_the_table(main, bn_run, tmp_path, capsys):
    pytest.importorskip("onnx")
    out = tmp_path / "cli"
    code = main(["export", str(bn_run), "--fold-bn", "--sparsity", "0.5", "--dtype", "float16", "--onnx", "m.onnx",
                 "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert (out / "m.onnx").is_file() and (out / "export.json").is_file() and (out / "model.safetensors").is_file()
    for stage in ("original", "folded", "pruned", "float16"):
        assert stage in printed
    assert "sparsity achieved: 50.0%" in printed and "µs/ex @256" in printed
    info = json.loads((out / "export.json").read_text())
    assert info["stages"][-1]["stage"] in ("onnxruntime", "float16")
    assert info["stages"][0]["us_per_example"]["1"] > 0
    assert "speed-up @1" in (out / "export_report.md").read_text()


@pytest.mark.parametrize("args,message", [
    (["{tmp}"], "not a run folder"),
    (["{run}", "--sparsity", "1.5"], "--sparsity 1.5"),
    (["{run}", "--prune", "0.1", "--sparsity", "0.5"], "not allowed with argument"),
    (["{run}", "--prune", "0"], "--prune 0.0"),
])
def test_export_command_bad_input_exits_2_with_one_line(main, bn_run, tmp_path, capsys, args, message):
    args = [a.format(tmp=tmp_path, run=bn_run) for a in args]
    code = main(["export", *args, "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_export_latency_benchmark_quick_mode():
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "export_latency.py"), "--quick"],
                            capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    for model in ("mlp", "mlp-bn"):
        for variant in ("original", "folded", "float16", "bfloat16", "int8"):
            assert any(line.split()[:2] == [model, variant] for line in result.stdout.splitlines()), (model, variant)
