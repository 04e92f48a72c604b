"""The explicit-form layers: batch norm, convolutions, pooling and alpha dropout with Keras's numbers."""

import numpy as np
import pytest
import torch

from dnnconf.config import config_from_dict
from dnnconf.config.layers import model_layers
from dnnconf.errors import ConfigError
from dnnconf.nn.build import build_network
from dnnconf.nn.constraints import MaxNorm
from dnnconf.nn.layers import LAYERS, BatchNorm, Maps, keras_shape, resolve_layer

TOL = {"rtol": 1e-5, "atol": 1e-5}


def build(kind, shape, **params):
    """The modules of one resolved explicit layer, as a Sequential, and its Built."""
    (name, resolved), = resolve_layer({kind: params}, "test").items()
    built = LAYERS.get(name).factory(shape, torch.Generator().manual_seed(0), **resolved)
    return torch.nn.Sequential(*[module for _, module in built.modules]), built


def numpy(tensor):
    import keras

    return np.asarray(keras.ops.convert_to_numpy(tensor))


def nchw(array):
    return torch.as_tensor(np.ascontiguousarray(np.transpose(array, (0, 3, 1, 2))))


def nhwc(tensor):
    return tensor.detach().permute(0, 2, 3, 1).numpy()


# --- batch norm ---


@pytest.mark.parametrize("maps", [False, True], ids=["dense", "conv"])
@pytest.mark.parametrize("momentum", [0.99, 0.9])
@pytest.mark.parametrize("affine", [True, False], ids=["center_scale", "plain"])
def test_batch_norm_equals_keras(maps, momentum, affine):
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(0)
    shape = (12, 5, 4, 3) if maps else (16, 6)  # Keras layout: NHWC or (N, F)
    features = shape[-1]
    ours = BatchNorm(features, momentum=momentum, epsilon=1e-3, center=affine, scale=affine)
    theirs = keras.layers.BatchNormalization(momentum=momentum, epsilon=1e-3, center=affine, scale=affine)
    theirs.build(shape)
    if affine:
        gamma = rng.uniform(0.5, 2.0, features).astype("float32")
        beta = rng.normal(size=features).astype("float32")
        theirs.gamma.assign(gamma)
        theirs.beta.assign(beta)
        with torch.no_grad():
            ours.weight.copy_(torch.from_numpy(gamma))
            ours.bias.copy_(torch.from_numpy(beta))
    else:
        assert ours.weight is None and ours.bias is None
    to_ours = nchw if maps else torch.from_numpy
    from_ours = nhwc if maps else (lambda t: t.detach().numpy())
    for _ in range(5):
        x = (1.5 + 2.0 * rng.normal(size=shape)).astype("float32")
        np.testing.assert_allclose(from_ours(ours.train()(to_ours(x))), numpy(theirs(x, training=True)), **TOL)
        np.testing.assert_allclose(ours.running_mean.numpy(), numpy(theirs.moving_mean), **TOL)
        np.testing.assert_allclose(ours.running_var.numpy(), numpy(theirs.moving_variance), **TOL)
    x = (1.5 + 2.0 * rng.normal(size=shape)).astype("float32")
    np.testing.assert_allclose(from_ours(ours.eval()(to_ours(x))), numpy(theirs(x, training=False)), **TOL)


def test_batch_norm_moving_variance_is_biased_and_state_keys():
    bn = BatchNorm(3, momentum=0.9)
    x = torch.randn(4, 3, 5, 5)
    bn.train()(x)
    var = x.var(dim=(0, 2, 3), unbiased=False)
    torch.testing.assert_close(bn.running_var, 0.9 + 0.1 * var)
    torch.testing.assert_close(bn.running_mean, 0.1 * x.mean(dim=(0, 2, 3)))
    assert sorted(bn.state_dict()) == ["bias", "running_mean", "running_var", "weight"]
    assert sorted(BatchNorm(3, center=False).state_dict()) == ["running_mean", "running_var", "weight"]


def test_batch_norm_gradient_matches_the_formula():
    x = torch.randn(8, 4, dtype=torch.float64, requires_grad=True)
    bn = BatchNorm(4).double()
    with torch.no_grad():
        bn.weight.uniform_(0.5, 2.0)
        bn.bias.normal_()
    (bn(x) ** 3).sum().backward()
    grad = x.grad.clone()
    x.grad = None
    mean, var = x.mean(0), x.var(0, unbiased=False)
    ((bn.weight * (x - mean) / torch.sqrt(var + 1e-3) + bn.bias) ** 3).sum().backward()
    torch.testing.assert_close(grad, x.grad)


def test_batch_norm_on_a_batch_of_one_gives_beta():
    bn = BatchNorm(3)
    with torch.no_grad():
        bn.bias.copy_(torch.tensor([1.0, 2.0, 3.0]))
    x = torch.randn(1, 3, requires_grad=True)
    y = bn.train()(x)
    torch.testing.assert_close(y, torch.tensor([[1.0, 2.0, 3.0]]))
    y.sum().backward()
    assert torch.count_nonzero(x.grad) == 0
    torch.testing.assert_close(bn.running_mean, 0.01 * x.detach()[0])


def test_frozen_batch_norm_computes_as_in_inference_and_keeps_its_averages_in_training_mode():
    bn = BatchNorm(3, momentum=0.9)
    with torch.no_grad():
        bn.running_mean.normal_()
        bn.running_var.uniform_(0.5, 2.0)
    before = {k: v.clone() for k, v in bn.state_dict().items()}
    x = torch.randn(6, 3)
    inference = bn.eval()(x)
    bn.train().freeze()
    assert bn.training and bn.frozen and "train" not in vars(bn)  # its own state, no patched method
    torch.testing.assert_close(bn(x), inference)
    assert all(torch.equal(v, before[k]) for k, v in bn.state_dict().items())
    assert "frozen" in repr(bn)
    bn.freeze(False)
    batch = bn(x)
    torch.testing.assert_close(batch.mean(0), bn.bias.detach(), atol=1e-5, rtol=0)  # batch statistics again
    assert not torch.equal(bn.running_mean, before["running_mean"])


def _sums(x):
    """What a rank hands the reducer: per channel [Σx, Σx², n], float64."""
    wide = x.double()
    return torch.cat([wide.sum(0), (wide * wide).sum(0), torch.tensor([float(len(x))], dtype=torch.float64)])


@pytest.mark.parametrize("shape", [(10, 4), (6, 3, 2, 2)])
def test_batch_norm_with_a_reducer_normalizes_over_the_global_batch(shape):
    torch.manual_seed(0)
    x = torch.randn(*shape)
    full = BatchNorm(shape[1], momentum=0.9)
    expected = full.train()(x)
    half, rest = x[: len(x) // 2], x[len(x) // 2:]
    channels_last = (lambda t: t.movedim(1, -1).reshape(-1, shape[1])) if len(shape) == 4 else (lambda t: t)
    other = _sums(channels_last(rest))
    seen = []
    share = BatchNorm(shape[1], momentum=0.9)
    share.reducer = lambda sums: seen.append(sums.shape) or sums + other  # the other rank's sums added
    torch.testing.assert_close(share.train()(half), expected[: len(x) // 2], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(share.running_mean, full.running_mean)
    torch.testing.assert_close(share.running_var, full.running_var)
    assert seen == [torch.Size([2 * shape[1] + 1])]
    alone = BatchNorm(shape[1], momentum=0.9)
    alone.reducer = lambda sums: sums  # one process: the layer's own batch
    torch.testing.assert_close(alone.train()(x), expected, atol=1e-5, rtol=1e-5)
    share.freeze()
    torch.testing.assert_close(share(half), share.eval()(half))  # frozen: no reduction, the averages


def test_nn_and_optim_import_nothing_from_train():
    """Layering: the layers and the optimizers know nothing of the loop (imports inside functions too)."""
    import ast
    from pathlib import Path

    import dnnconf

    root = Path(dnnconf.__file__).parent
    upward = []
    for path in [*(root / "nn").glob("*.py"), *(root / "optim").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            upward += [f"{path.name}: {name}" for name in names if name.startswith("dnnconf.train")]
    assert upward == []


# --- convolutions and pooling ---


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("strides", [1, 2])
@pytest.mark.parametrize("kernel", [3, 5])
def test_conv_and_pooling_shapes_equal_keras(padding, strides, kernel):
    keras = pytest.importorskip("keras")
    conv, built = build("conv2d", (28, 28), filters=4, kernel_size=kernel, strides=strides, padding=padding)
    expected = keras.layers.Conv2D(4, kernel, strides=strides, padding=padding).compute_output_shape(
        (None, 28, 28, 1))
    assert isinstance(built.shape, Maps) and keras_shape(built.shape) == tuple(expected[1:])
    assert conv(torch.zeros(2, 28, 28)).shape == (2, *built.shape)
    for size in (28, 7):
        for kind, layer in (("max_pooling2d", keras.layers.MaxPooling2D),
                            ("avg_pooling2d", keras.layers.AveragePooling2D)):
            pool, built = build(kind, (size, size, 2), pool_size=kernel, strides=strides, padding=padding)
            expected = layer(kernel, strides=strides, padding=padding).compute_output_shape((None, size, size, 2))
            assert keras_shape(built.shape) == tuple(expected[1:]), (kind, size)
            assert pool(torch.zeros(2, size, size, 2)).shape == (2, *built.shape)


@pytest.mark.parametrize("padding,strides,kernel", [("valid", 1, 3), ("same", 1, 3), ("same", 1, [4, 2]),
                                                    ("valid", 2, 3), ("same", 2, 3), ("same", 2, [5, 4])])
def test_conv2d_equals_keras_with_the_same_weights(padding, strides, kernel):
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(1)
    conv, built = build("conv2d", (9, 10, 2), filters=3, kernel_size=kernel, strides=strides, padding=padding)
    weight, bias = conv[1].weight, conv[1].bias
    with torch.no_grad():
        bias.normal_()
    theirs = keras.layers.Conv2D(3, kernel, strides=strides, padding=padding)
    theirs.build((None, 9, 10, 2))
    theirs.set_weights([weight.detach().permute(2, 3, 1, 0).numpy(), bias.detach().numpy()])  # (kh, kw, in, out)
    x = rng.normal(size=(4, 9, 10, 2)).astype("float32")
    ours = conv(torch.from_numpy(x))  # raw (N, H, W, C) data: the layer makes it channels-first
    np.testing.assert_allclose(nhwc(ours), numpy(theirs(x)), **TOL)
    assert keras_shape(built.shape) == nhwc(ours).shape[1:]


def tf_pooling(x, kind, pool, stride):
    """TensorFlow's 'same' pooling by its definition: each window over the real inputs only (NHWC)."""
    n, h, w, c = x.shape
    out_h, out_w = -(-h // stride), -(-w // stride)
    top = max((out_h - 1) * stride + pool - h, 0) // 2
    left = max((out_w - 1) * stride + pool - w, 0) // 2
    reduce = np.max if kind == "max_pooling2d" else np.mean
    out = np.empty((n, out_h, out_w, c), dtype=x.dtype)
    for i in range(out_h):
        for j in range(out_w):
            rows = slice(max(i * stride - top, 0), min(i * stride - top + pool, h))
            cols = slice(max(j * stride - left, 0), min(j * stride - left + pool, w))
            out[:, i, j] = reduce(x[:, rows, cols], axis=(1, 2))
    return out


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("kind", ["max_pooling2d", "avg_pooling2d"])
def test_pooling_equals_keras(kind, padding):
    keras = pytest.importorskip("keras")
    layer = {"max_pooling2d": keras.layers.MaxPooling2D, "avg_pooling2d": keras.layers.AveragePooling2D}[kind]
    x = np.random.default_rng(2).normal(size=(3, 8, 8, 2)).astype("float32")
    for pool_size, strides in ((2, None), (3, 1), (3, 2), (2, 3)):
        pool, _ = build(kind, (8, 8, 2), pool_size=pool_size, strides=strides, padding=padding)
        ours = nhwc(pool(torch.from_numpy(x)))
        if padding == "same":
            np.testing.assert_allclose(ours, tf_pooling(x, kind, pool_size, strides or pool_size), **TOL)
        if kind == "avg_pooling2d" and padding == "same" and (pool_size, strides) == (3, 2):
            continue  # asymmetric padding: Keras's torch backend averages replicated edges, TF (and we) skip them
        np.testing.assert_allclose(ours, numpy(layer(pool_size, strides=strides, padding=padding)(x)), **TOL)


def test_global_pooling():
    x = torch.randn(2, 3, 4, 5)
    gap, built = build("global_avg_pooling2d", Maps(3, 4, 5))
    torch.testing.assert_close(gap(x), x.mean(dim=(2, 3)))
    assert built.shape == (3,) and not isinstance(built.shape, Maps)
    gmp, _ = build("global_max_pooling2d", Maps(3, 4, 5))
    torch.testing.assert_close(gmp(x), x.amax(dim=(2, 3)))


def test_max_norm_on_a_conv_kernel_equals_keras():
    keras = pytest.importorskip("keras")
    weight = torch.nn.Parameter(torch.randn(6, 3, 3, 3, generator=torch.Generator().manual_seed(3)))
    weight.data[0] *= 0.01  # one filter under the bound, the others over it
    kernel = weight.detach().permute(2, 3, 1, 0).numpy().copy()
    MaxNorm(weight, 2.0)()
    expected = numpy(keras.constraints.MaxNorm(2.0, axis=[0, 1, 2])(kernel))
    np.testing.assert_allclose(weight.detach().permute(2, 3, 1, 0).numpy(), expected, **TOL)


def test_conv_net_from_config_runs_on_images():
    config = config_from_dict({"data": {"dataset": "digits"}, "model": {"layers": [
        {"conv2d": {"filters": 8, "kernel_size": 3, "activation": "relu", "kernel_initializer": "he_normal"}},
        {"max_pooling2d": {}}, {"flatten": {}}]}})
    assert config.model.layers[0]["conv2d"]["kernel_size"] == [3, 3]
    assert config.model.layers[1]["max_pooling2d"] == {"pool_size": [2, 2], "strides": None, "padding": "valid"}
    net = build_network(model_layers(config.model, 10, "softmax"), (28, 28), torch.Generator().manual_seed(0))
    assert net(torch.randn(5, 28, 28)).shape == (5, 10)
    summary = [(info.name, info.shape) for info in net.summary]
    assert summary == [("channels_first_1", (28, 28, 1)), ("conv2d_1", (26, 26, 8)), ("relu_1", (26, 26, 8)),
                       ("max_pooling2d_1", (13, 13, 8)), ("flatten_1", (13 * 13 * 8,)), ("dense_1", (10,))]
    assert net.layers.conv2d_1.weight.std().item() == pytest.approx((2 / 9) ** 0.5, rel=0.2)  # he_normal fan_in 9


def test_conv_followed_by_batch_norm_loses_its_bias_and_gets_kernel_extras():
    config = config_from_dict({"model": {"layers": [
        {"conv2d": {"filters": 4, "kernel_size": 3, "kernel_regularizer": {"l2": 0.01},
                    "kernel_constraint": {"max_norm": 1.0}}},
        {"batch_norm": {}}, {"activation": "prelu"}, {"conv2d": {"filters": 4, "kernel_size": 3}},
        {"global_avg_pooling2d": {}}]}})
    net = build_network(model_layers(config.model, 10, "softmax"), (8, 8, 3))
    assert net.layers.conv2d_1.bias is None and net.layers.conv2d_2.bias is not None
    assert net.layers.batch_norm_1.running_mean.shape == (4,)
    assert net.layers.prelu_1.weight.shape == (4,)  # one slope per channel
    assert len(net.penalties) == 1 and net.penalties[0].weight is net.layers.conv2d_1.weight
    assert len(net.constraints) == 1
    assert net(torch.randn(2, 8, 8, 3)).shape == (2, 10)


@pytest.mark.parametrize("layers,message", [
    ([{"flatten": {}}, {"conv2d": {"filters": 2, "kernel_size": 3}}], "conv2d needs images"),
    ([{"conv2d": {"filters": 2, "kernel_size": 9}}], "does not fit its 8×8 input"),
    ([{"batch_norm": {}}, {"flatten": {}}], "batch_norm normalizes flat features or conv feature maps"),
    ([{"conv2d": {"filters": 2, "kernel_size": 3}}], "dense needs a flat input but receives shape \\[6, 6, 2\\]"),
])
def test_shape_errors_are_clear(layers, message):
    config = config_from_dict({"model": {"layers": layers}})
    with pytest.raises(ConfigError, match=message):
        build_network(model_layers(config.model, 10, "softmax"), (8, 8))


@pytest.mark.parametrize("params,message", [({"filters": 2, "kernel_size": [3]}, "kernel_size"),
                                            ({"filters": 2, "kernel_size": 3, "strides": 0}, "strides"),
                                            ({"filters": 2, "kernel_size": 3, "padding": "full"}, "padding")])
def test_conv_parameters_are_validated(params, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict({"model": {"layers": [{"conv2d": params}]}})


# --- alpha dropout ---


def test_alpha_dropout_keeps_mean_and_variance_and_is_identity_in_eval():
    torch.manual_seed(0)
    dropout, _ = build("alpha_dropout", (1000,), rate=0.2)
    x = torch.randn(200, 1000)
    y = dropout.train()(x)
    assert abs(y.mean().item()) < 0.01 and abs(y.std().item() - 1) < 0.01
    assert (y != x).float().mean() > 0.5
    assert torch.equal(dropout.eval()(x), x)


def test_alpha_dropout_equals_keras_on_the_same_mask(monkeypatch):
    keras = pytest.importorskip("keras")
    from keras.src import ops

    torch.manual_seed(1)
    rate = 0.3
    dropout, _ = build("alpha_dropout", (50,), rate=rate)
    x = torch.randn(40, 50)
    y = dropout.train()(x)
    a = ((1 - rate) * (1 + rate * 1.7580993408473766**2)) ** -0.5
    dropped = torch.isclose(y, torch.tensor(-1.7580993408473766 * a * (1 - rate)), rtol=0, atol=1e-6)
    assert 0.2 < dropped.float().mean() < 0.4
    monkeypatch.setattr(ops.random, "uniform", lambda shape, **_: (~dropped).float())  # kept: 1 >= rate
    expected = numpy(keras.layers.AlphaDropout(rate)(x.numpy(), training=True))
    np.testing.assert_allclose(y.numpy(), expected, **TOL)


def test_compact_dropout_kind():
    config = config_from_dict({"model": {"hidden": [20, 20], "activation": "selu",
                                         "kernel_initializer": "lecun_normal",
                                         "dropout": {"rate": 0.1, "kind": "alpha_dropout", "top_layers": 3}}})
    layers = model_layers(config.model, 10, "softmax")
    assert [next(iter(layer)) for layer in layers] == ["flatten", "alpha_dropout", "dense", "alpha_dropout",
                                                      "dense", "alpha_dropout", "dense"]
    net = build_network(layers, (8, 8))
    assert sum(isinstance(m, torch.nn.AlphaDropout) for m in net.layers) == 3
    assert config_from_dict({"model": {"dropout": {"rate": 0.1}}}).model.dropout.kind == "dropout"
    with pytest.raises(ConfigError):
        config_from_dict({"model": {"dropout": {"kind": "mc_dropout"}}})


# --- every registered layer ---

EXAMPLE_VALUES = {"units": 4, "filters": 3, "kernel_size": 3, "rate": 0.1, "activation": "relu"}


@pytest.mark.parametrize("entry", list(LAYERS), ids=lambda entry: entry.name)
def test_every_layer_is_described_and_builds(entry):
    assert len(entry.description) > 10
    required = {name: EXAMPLE_VALUES[name] for name, field in entry.params.model_fields.items()
                if field.is_required()}
    if entry.name == "activation":
        required = {"name": required.pop("activation")}
    last = None
    for shape, batch in (((8, 8), torch.randn(2, 8, 8)), (Maps(2, 6, 6), torch.randn(2, 2, 6, 6)),
                         ((5,), torch.randn(2, 5))):
        try:
            module, built = build(entry.name, shape, **required)
        except ConfigError as error:
            last = error
            continue
        assert module.train()(batch).shape == (2, *built.shape)
        assert module.eval()(batch).shape == (2, *built.shape)
        break
    else:
        raise AssertionError(f"{entry.name} builds on no shape: {last}")


# --- training ---


def test_tiny_conv_net_learns_digits(tmp_path):
    from dnnconf.run import train

    config = config_from_dict({
        "name": "conv-digits",
        "data": {"dataset": "digits", "valid_size": 0.15},
        "model": {"layers": [
            {"conv2d": {"filters": 16, "kernel_size": 3, "padding": "same", "kernel_initializer": "he_normal"}},
            {"batch_norm": {}}, {"activation": "relu"},
            {"max_pooling2d": {}},
            {"conv2d": {"filters": 32, "kernel_size": 3, "activation": "relu", "kernel_initializer": "he_normal"}},
            {"flatten": {}},
        ]},
        "optimizer": {"name": "adam", "learning_rate": 0.003},
        "schedule": {"name": "constant"},
        "training": {"epochs": 4, "batch_size": 32, "early_stopping": None},
    })
    result = train(config, tmp_path / "run", quiet=True)
    assert result.test["accuracy"] > 0.8
    assert result.network.layers.conv2d_1.bias is None
