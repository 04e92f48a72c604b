import math

import pytest
import torch

from dnnconf.train import setup
from dnnconf.train.history import history_csv
from dnnconf.train.layer_stats import LayerGradientNorms, layer_grad_norm_columns, plot_layer_grad_norms
from dnnconf.train.loop import Loop, LoopSpec
from dnnconf.train.steps import SoloStep


@pytest.fixture(scope="module")
def digits():
    from dnnconf.config.schema import DataConfig
    from dnnconf.data import load_data

    return load_data(DataConfig(dataset="digits", valid_size=0.15))


def make_loop(config, digits, listeners, *, epochs=2, batch_size=None, freeze=None):
    config = setup.resolve_with_data(config, digits)
    setup.seed_everything(config.seed)
    network = setup.make_network(config, digits.normalization)  # raw inputs in
    if freeze:
        getattr(network.layers, freeze).weight.requires_grad_(False)
    splits = setup.to_splits(digits, torch.device("cpu"))
    optimizer, clipping = setup.make_optimizer(config, network)
    batch_size = batch_size or config.training.batch_size
    schedule = setup.make_schedule(config, math.ceil(len(splits.train) / batch_size))
    loop = Loop(LoopSpec(SoloStep(network), optimizer, schedule, config.loss, splits.train, splits.valid, epochs,
                         batch_size, clipping, listeners, torch.Generator().manual_seed(1),
                         config.training.eval_batch_size))
    return loop, network, splits


def test_columns_per_layer_each_epoch(digits, digits_config):
    loop, _, _ = make_loop(digits_config(), digits, [LayerGradientNorms(every=4)], epochs=2)
    history = loop.run().history
    columns = ["grad_norm/dense_1", "grad_norm/dense_2", "grad_norm/dense_3"]
    assert layer_grad_norm_columns(history) == columns
    for row in history:
        assert all(math.isfinite(row[c]) and row[c] > 0 for c in columns)
    header = history_csv(history).splitlines()[0].split(",")
    assert all(c in header for c in columns)


def first_step_norms(config, digits):
    """The per-layer gradient norms of the first full-batch step, computed by hand."""
    loop, network, splits = make_loop(config, digits, [])
    order = torch.randperm(len(splits.train), generator=torch.Generator().manual_seed(1))
    loss = loop.loss_fn(network(splits.train.x[order]), splits.train.y[order])
    loss.backward()
    return [getattr(network.layers, name).weight.grad.norm().item() for name in ("dense_1", "dense_2", "dense_3")]


@pytest.mark.parametrize("clipping", [{}, {"clipnorm": 1e-3}])
def test_values_are_the_gradient_norms_before_clipping(digits, digits_config, clipping):
    config = digits_config(optimizer={"name": "sgd", "learning_rate": 0.01, **clipping})
    expected = first_step_norms(digits_config(), digits)
    full = len(digits.x_train)  # one step an epoch: the first epoch's mean is the first step's norm
    loop, _, _ = make_loop(config, digits, [LayerGradientNorms(every=1)], epochs=1, batch_size=full)
    row = loop.run().history[0]
    got = [row[f"grad_norm/dense_{i}"] for i in (1, 2, 3)]
    assert got == pytest.approx(expected, rel=1e-4)
    if clipping:
        assert min(got) > 1e-3  # the clipped gradients would all be 1e-3


def test_only_every_kth_step_is_sampled(digits, digits_config):
    listener = LayerGradientNorms(every=1000)
    loop, _, _ = make_loop(digits_config(), digits, [listener], epochs=2)
    history = loop.run().history
    assert listener.counts == [0, 0, 0]  # the second epoch holds no multiple of 1000
    assert math.isnan(history[1]["grad_norm/dense_1"]) and history[0]["grad_norm/dense_1"] > 0


def test_a_frozen_layer_has_nan(digits, digits_config):
    loop, _, _ = make_loop(digits_config(), digits, [LayerGradientNorms(every=2)], epochs=1, freeze="dense_1")
    row = loop.run().history[0]
    assert math.isnan(row["grad_norm/dense_1"]) and row["grad_norm/dense_2"] > 0


def test_plot_heatmap_from_history(tmp_path):
    history = [{"epoch": e, "loss": 1.0, "grad_norm/dense_1": 10.0 ** -e, "grad_norm/dense_2": 1.0}
               for e in range(1, 4)]
    path = plot_layer_grad_norms(history, tmp_path / "plots" / "layer_grad_norms.png", title="t")
    assert path.is_file() and path.stat().st_size > 1000
    assert plot_layer_grad_norms([{"epoch": 1, "loss": 1.0}], tmp_path / "none.png") is None


def test_every_must_be_positive():
    with pytest.raises(ValueError):
        LayerGradientNorms(every=0)
