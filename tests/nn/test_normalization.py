"""The input normalization layer: statistics per channel or per feature, the std floor, state dicts."""

import numpy as np
import pytest
import torch

from dnnconf.config import config_from_dict
from dnnconf.config.layers import model_layers
from dnnconf.errors import DataError
from dnnconf.nn.build import build_network
from dnnconf.nn.normalization import STD_FLOOR, InputNormalization, fit_statistics, resolve_axis


def test_auto_is_per_channel_for_images_and_per_feature_for_tables():
    assert resolve_axis("auto", (28, 28)) == "channel" and resolve_axis("auto", (8, 8, 3)) == "channel"
    assert resolve_axis("auto", (64,)) == "feature"
    with pytest.raises(DataError, match="normalize_axis"):
        resolve_axis("pixel", (28, 28))


def test_grey_images_get_one_mean_and_std():
    x = np.random.default_rng(0).integers(0, 256, (50, 6, 6)).astype(np.uint8)
    stats = fit_statistics(x, "standardize")
    assert stats["axis"] == "channel" and stats["shape"] == [1]
    np.testing.assert_allclose(stats["mean"], [x.mean()], rtol=1e-6)
    np.testing.assert_allclose(stats["std"], [x.std()], rtol=1e-5)
    layer = InputNormalization((6, 6), stats)
    y = layer(torch.from_numpy(x).float())
    assert abs(float(y.mean())) < 1e-4 and abs(float(y.std(unbiased=False)) - 1) < 1e-4


def test_colour_images_get_one_statistic_per_channel_and_minmax_is_one_over_255():
    rng = np.random.default_rng(1)
    x = np.stack([rng.normal(c * 10, c + 1, (20, 4, 4)) for c in range(3)], axis=-1)  # (N, H, W, C)
    stats = fit_statistics(x, "standardize")
    assert stats["shape"] == [3]
    np.testing.assert_allclose(stats["mean"], x.reshape(-1, 3).mean(0))
    pixels = np.zeros((10, 5, 5), np.uint8)
    pixels[0, 0, 0], pixels[1, 2, 2] = 255, 0
    minmax = fit_statistics(pixels, "minmax")
    assert minmax["min"] == [0.0] and minmax["max"] == [255.0]  # the book's 1/255


def test_per_feature_is_available_for_images_and_has_a_floor():
    x = np.zeros((100, 2, 2), np.float32)
    x[:, 0, 0] = np.random.default_rng(2).normal(0, 1, 100)
    x[:, 0, 1] = 1000 + np.random.default_rng(3).normal(0, 1e-6, 100)  # a near-constant feature
    x[:, 1, 1] = 5.0  # exactly constant
    stats = fit_statistics(x, "standardize", "feature")
    assert stats["shape"] == [2, 2]
    std = np.array(stats["std"]).reshape(2, 2)
    assert std[0, 1] == pytest.approx(STD_FLOOR * np.abs(x[:, 0, 1]).max(), rel=1e-6)  # raised to the floor
    assert std[1, 1] == 1.0 and stats["mean"][3] == 5.0  # a constant maps to 0
    layer = InputNormalization((2, 2), stats)
    shifted = torch.from_numpy(x[:3]).clone()
    shifted[:, 0, 1] += 1.0  # a new input one unit off the near-constant value
    assert float(layer(shifted).abs().max()) < 10  # without the floor: ~1e6


def test_old_per_feature_statistics_still_load():
    old = {"method": "standardize", "mean": [1.0, 2.0, 3.0, 4.0], "std": [1.0, 2.0, 4.0, 8.0]}
    layer = InputNormalization((2, 2), old)
    assert layer.shift.shape == (2, 2)
    np.testing.assert_allclose(layer(torch.full((1, 2, 2), 5.0)).numpy().ravel(), [4, 1.5, 0.5, 0.125])
    with pytest.raises(DataError, match="do not fit"):
        InputNormalization((3,), old)


def test_the_layer_travels_in_the_state_dict_in_its_own_shape():
    config = config_from_dict({"model": {"hidden": [4]}})
    layers = model_layers(config.model, 3, "softmax")
    x = np.random.default_rng(4).uniform(0, 16, (30, 8, 8))
    trained = build_network(layers, (8, 8), torch.Generator().manual_seed(0), fit_statistics(x, "standardize"))
    state = trained.state_dict()
    assert state["normalization.shift"].shape == (1,)
    fresh = build_network(layers, (8, 8), torch.Generator().manual_seed(1))
    fresh.load_state_dict(state)
    inputs = torch.from_numpy(x).float()
    torch.testing.assert_close(fresh(inputs), trained(inputs))
    assert not any(p is fresh.normalization.shift for p in fresh.parameters())  # buffers, never trained
