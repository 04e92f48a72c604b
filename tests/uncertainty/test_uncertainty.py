import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from dnnconf.config import config_from_dict
from dnnconf.errors import BadInput
from dnnconf.nn.build import build_network
from dnnconf.nn.layers import LAYERS, MCDropout, resolve_layers
from dnnconf.train import setup
from dnnconf.uncertainty.calibration import calibration_metrics, reliability_bins
from dnnconf.uncertainty.mc_dropout import MCAlphaDropout, mc_model, mc_predict, plain_predict

ROOT = Path(__file__).resolve().parents[2]


def compact(head="softmax", units=3, input_shape=(6,), **model):
    config = config_from_dict({"name": "t", "seed": 3, "model": {"input_shape": list(input_shape), "hidden": [16, 8],
                                                                 "output": {"units": units, "activation": head},
                                                                 **model}})
    return setup.make_network(config)


def explicit(layers, input_shape=(6,), units=3, head="softmax"):
    resolved = resolve_layers([*layers, {"dense": {"units": units, "activation": head}}], "model.layers")
    return build_network(resolved, input_shape, torch.Generator().manual_seed(1))


def bn_dropout_network():
    return explicit([{"dense": {"units": 16}}, {"batch_norm": {}}, {"activation": "relu"}, {"dropout": {"rate": 0.3}},
                     {"dense": {"units": 8, "activation": "selu"}}, {"alpha_dropout": {"rate": 0.2}}])


def trained_bn(network, x):
    network.train()
    with torch.no_grad():
        for _ in range(3):
            network(x)  # moving statistics away from their initial values
    return network


X = torch.randn(50, 6, generator=torch.Generator().manual_seed(0))


# --- MC prediction ---


@pytest.mark.parametrize("model", [{}, {"dropout": {"rate": 0.0, "top_layers": 3}}])
def test_without_dropout_mc_is_the_plain_prediction(model):
    network = compact(**model).eval()
    result = mc_predict(network, X, samples=7, seed=1)
    with torch.inference_mode():
        expected = network.predict(X).double().numpy()
    np.testing.assert_array_equal(result.mean, expected)
    np.testing.assert_array_equal(result.std, 0)
    np.testing.assert_array_equal(result.mutual_information, 0)
    np.testing.assert_allclose(result.entropy, -(expected * np.log(expected)).sum(1))
    np.testing.assert_array_equal(plain_predict(network, X).mean, expected)


def test_batch_norm_stays_in_inference_mode_and_untouched():
    network = trained_bn(bn_dropout_network(), X)
    network.train()  # the mode must come back as found
    before = {k: v.clone() for k, v in network.state_dict().items()}
    result = mc_predict(network, X, samples=20, seed=0, return_samples=True)
    assert network.training
    assert all(torch.equal(before[k], v) for k, v in network.state_dict().items())
    # each sample is the eval-mode network with the dropout masks applied: with rate → 0 it is the plain one
    for module in network.layers:
        if isinstance(module, (torch.nn.Dropout, torch.nn.AlphaDropout)):
            module.p = 0.0
    network.eval()
    with torch.inference_mode():
        plain = network.predict(X).numpy()
    assert not np.allclose(result.samples[0], plain)  # the masks did something
    np.testing.assert_array_equal(mc_predict(network, X, 3).mean, plain.astype(np.float64))


@pytest.mark.parametrize("make", [bn_dropout_network, lambda: compact(dropout={"rate": 0.2, "top_layers": 1}),
                                  lambda: compact(dropout={"rate": 0.2, "top_layers": 3})])
def test_prefix_and_chunks_equal_the_naive_loop_with_the_same_masks(make):
    """The same masks by construction (one generator per (seed, batch, sample)); the products differ only in
    their row count, so equal up to float rounding (in practice bit-identical on CPU)."""
    network = trained_bn(make(), X).eval()
    options = {"samples": 9, "seed": 5, "batch_size": 16, "return_samples": True}
    fast = mc_predict(network, X, max_batch_elements=1000, **options)
    naive = mc_predict(network, X, method="loop", **options)
    other_chunks = mc_predict(network, X, max_batch_elements=10**6, **options)
    for a in (naive, other_chunks):
        np.testing.assert_allclose(fast.samples, a.samples, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(fast.mean, a.mean, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(fast.mutual_information, a.mutual_information, atol=1e-6)
    again = mc_predict(network, X, max_batch_elements=1000, **options)  # the same call: bit-identical
    np.testing.assert_array_equal(again.samples, fast.samples)
    assert not np.array_equal(mc_predict(network, X, **{**options, "seed": 6}).samples, fast.samples)


def test_statistics_from_the_samples():
    network = bn_dropout_network().eval()
    result = mc_predict(network, X, samples=12, seed=2, return_samples=True)
    draws = result.samples.astype(np.float64)
    np.testing.assert_allclose(result.mean, draws.mean(0), rtol=1e-6)
    np.testing.assert_allclose(result.std, draws.std(0), atol=1e-6)

    def entropy(p):
        return -(p * np.log(p)).sum(-1)

    np.testing.assert_allclose(result.entropy, entropy(draws.mean(0)), rtol=1e-6)
    np.testing.assert_allclose(result.mutual_information, entropy(draws.mean(0)) - entropy(draws).mean(0),
                               atol=1e-5)
    assert (result.mutual_information >= 0).all() and result.mutual_information.max() > 0
    np.testing.assert_array_equal(result.pred, result.mean.argmax(1))


def test_masks_follow_torch_dropout_in_distribution():
    """Against torch's own train-mode dropout (the plain MC loop): same mean and spread within MC error."""
    network = explicit([{"dense": {"units": 32, "activation": "relu"}}, {"dropout": {"rate": 0.5}},
                        {"dense": {"units": 32, "activation": "selu"}}, {"alpha_dropout": {"rate": 0.3}}]).eval()
    x = X[:4]
    ours = mc_predict(network, x, samples=4000, seed=0)
    for module in network.layers:
        if isinstance(module, (torch.nn.Dropout, torch.nn.AlphaDropout)):
            module.train()
    torch.manual_seed(0)
    with torch.inference_mode():
        theirs = torch.stack([network.predict(x.repeat(1000, 1)).view(1000, 4, 3) for _ in range(4)]).view(4000, 4, 3)
    theirs = theirs.double().numpy()
    tolerance = 4 * theirs.std(0) / math.sqrt(4000) + 1e-6
    assert (np.abs(ours.mean - theirs.mean(0)) < tolerance).all()
    np.testing.assert_allclose(ours.std, theirs.std(0), rtol=0.1, atol=1e-3)


def test_binary_and_regression_heads():
    binary = compact(head="sigmoid", units=1, dropout={"rate": 0.2, "top_layers": 2}).eval()
    result = mc_predict(binary, X, samples=5, seed=0)
    assert result.mean.shape == (50, 2) and result.std.shape == (50, 2)
    np.testing.assert_allclose(result.mean.sum(1), 1.0, atol=1e-6)
    np.testing.assert_allclose(result.std[:, 0], result.std[:, 1], atol=1e-6)
    assert result.entropy.max() <= math.log(2) + 1e-9
    plain = plain_predict(binary, X)
    with torch.inference_mode():
        np.testing.assert_array_equal(plain.mean[:, 1], binary.predict(X)[:, 0].double().numpy())
    regression = compact(head="linear", units=1, dropout={"rate": 0.2, "top_layers": 2}).eval()
    result = mc_predict(regression, X, samples=5, seed=0)
    assert result.mean.shape == (50, 1) and result.entropy is None and result.mutual_information is None
    assert result.pred.shape == (50,) and (result.std > 0).any()


def test_bad_sample_counts():
    with pytest.raises(BadInput, match="--mc-samples"):
        mc_predict(compact(), X, samples=0)


# --- the mc_dropout layer and mc_model ---


def test_mc_dropout_layer_stays_on_in_eval():
    assert "mc_dropout" in LAYERS.names()
    network = explicit([{"dense": {"units": 64}}, {"mc_dropout": {"rate": 0.5}}]).eval()
    layer = network.layers.mc_dropout_1
    assert isinstance(layer, MCDropout)
    ones = torch.ones(200, 100)
    out = layer(ones)
    assert set(out.unique().tolist()) == {0.0, 2.0} and 0.4 < (out == 0).float().mean() < 0.6
    with torch.inference_mode():
        assert not torch.equal(network.predict(X), network.predict(X))
    # plain prediction: dropout off, mc_dropout too; MC prediction samples it
    assert mc_predict(network, X, 10).std.max() > 0
    np.testing.assert_array_equal(plain_predict(network, X).mean, plain_predict(network, X).mean)


def test_mc_model_converts_dropout_and_leaves_the_original_untouched():
    original = trained_bn(bn_dropout_network(), X).eval()
    before = {k: v.clone() for k, v in original.state_dict().items()}
    mc = mc_model(original)
    kinds = {name: type(module) for name, module in mc.layers.named_children()}
    assert kinds["dropout_1"] is MCDropout and kinds["alpha_dropout_1"] is MCAlphaDropout
    assert type(original.layers.dropout_1) is torch.nn.Dropout
    assert mc.layers.dropout_1.p == 0.3 and mc.layers.alpha_dropout_1.p == 0.2
    # weights copied, no state shared
    assert all(torch.equal(before[k], v) for k, v in mc.state_dict().items())
    original_storage = {p.data_ptr() for p in original.state_dict().values()}
    assert not original_storage & {p.data_ptr() for p in mc.state_dict().values()}
    with torch.no_grad():
        mc.layers.dense_1.weight.add_(1.0)
    mc.train()
    with torch.no_grad():
        mc(X)  # would update batch norm's moving statistics of a shared module
    assert all(torch.equal(before[k], v) for k, v in original.state_dict().items())
    assert not original.training
    # the MC model samples in eval mode; its MC prediction equals the original's (same masks)
    fresh = mc_model(original).eval()
    with torch.inference_mode():
        assert not torch.equal(fresh.predict(X), fresh.predict(X))
    np.testing.assert_allclose(mc_predict(fresh, X, 6, seed=1).mean, mc_predict(original, X, 6, seed=1).mean,
                               rtol=1e-6)


def test_mc_model_keeps_penalties_on_its_own_weights():
    network = compact(kernel_regularizer={"l2": 0.01}, dropout={"rate": 0.2, "top_layers": 1})
    mc = mc_model(network)
    assert len(mc.penalties) == len(network.penalties) > 0
    own = {id(p) for p in mc.parameters()}
    assert all(id(penalty.weight) in own for penalty in mc.penalties)


# --- calibration ---


def test_calibration_metrics_by_hand():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.5, 0.3, 0.2], [0.05, 0.05, 0.9]])
    y = np.array([0, 2, 1, 2])
    metrics = calibration_metrics(probs, y)
    assert metrics["accuracy"] == pytest.approx(0.5)
    assert metrics["nll"] == pytest.approx(-(math.log(0.7) + math.log(0.1) + math.log(0.3) + math.log(0.9)) / 4)
    brier = ((0.3**2 + 0.2**2 + 0.1**2) + (0.1**2 + 0.8**2 + 0.9**2) + (0.5**2 + 0.7**2 + 0.2**2)
             + (0.05**2 + 0.05**2 + 0.1**2)) / 4
    assert metrics["brier"] == pytest.approx(brier)
    # top-label confidences 0.7, 0.8, 0.5, 0.9 fall in bins (0.667, 0.733], (0.733, 0.8], (0.467, 0.533],
    # (0.867, 0.933]: one example each, correct 1, 0, 0, 1
    ece = (abs(1 - 0.7) + abs(0 - 0.8) + abs(0 - 0.5) + abs(1 - 0.9)) / 4
    assert metrics["ece"] == pytest.approx(ece)
    table = reliability_bins(probs, y)
    assert table["count"].sum() == 4 and table["count"][10] == 1 and table["count"][11] == 1
    # two examples sharing a bin: the ECE takes |mean accuracy − mean confidence| of the bin
    shared = calibration_metrics(np.array([[0.88, 0.12], [0.92, 0.08]]), np.array([0, 1]))  # both in bin 13
    assert shared["ece"] == pytest.approx(abs(0.5 - 0.9))
    assert calibration_metrics(np.array([[1.0, 0.0]]), np.array([1]))["nll"] == pytest.approx(-math.log(1e-7))


def test_calibration_rejects_mismatched_input():
    with pytest.raises(BadInput):
        calibration_metrics(np.ones((3, 2)) / 2, np.array([0, 1]))
    with pytest.raises(BadInput):
        calibration_metrics(np.ones((2, 2)) / 2, np.array([0, 2]))


def test_benchmark_quick_runs():
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "mc_dropout_speed.py"), "--quick",
                             "--threads", "1"], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "top_layers: 1" in result.stdout and "top_layers: 3" in result.stdout and "x" in result.stdout
