import pytest
import torch

from dnnconf.config import config_from_dict
from dnnconf.config.layers import model_layers
from dnnconf.errors import ConfigError
from dnnconf.nn.build import build_network


def network_of(model, units=10, head="softmax", shape=(28, 28)):
    config = config_from_dict({"model": model})
    layers = model_layers(config.model, units, head)
    return build_network(layers, shape, torch.Generator().manual_seed(0))


def kinds(network):
    return [type(m).__name__ for m in network.layers]


def test_compact_default_is_the_notes_mlp():
    net = network_of({"hidden": [300, 100]})
    assert kinds(net) == ["Flatten", "Linear", "ReLU", "Linear", "ReLU", "Linear"]
    assert net(torch.zeros(4, 28, 28)).shape == (4, 10)
    assert sum(p.numel() for p in net.parameters()) == 784 * 300 + 300 + 300 * 100 + 100 + 100 * 10 + 10


def test_batch_norm_before_activation_drops_the_bias():
    net = network_of({"hidden": [300, 100], "batch_norm": "before_activation"})
    assert kinds(net) == ["Flatten", "Linear", "BatchNorm", "ReLU", "Linear", "BatchNorm", "ReLU", "Linear"]
    dense = [m for m in net.layers if isinstance(m, torch.nn.Linear)]
    assert dense[0].bias is None and dense[1].bias is None and dense[2].bias is not None


def test_batch_norm_after_activation_matches_the_note():
    net = network_of({"hidden": [300, 100], "batch_norm": "after_activation"})
    assert kinds(net) == ["Flatten", "BatchNorm", "Linear", "ReLU", "BatchNorm", "Linear", "ReLU", "BatchNorm",
                          "Linear"]
    bn = net.layers[1]
    assert bn.momentum == pytest.approx(0.99) and bn.epsilon == pytest.approx(1e-3)  # Keras's meaning


def test_explicit_dense_followed_by_batch_norm_loses_its_bias():
    net = network_of({"layers": [{"flatten": {}}, {"dense": {"units": 20}}, {"batch_norm": {}},
                                 {"activation": "relu"}]})
    assert net.layers[1].bias is None
    assert net(torch.zeros(3, 28, 28)).shape == (3, 10)


def test_dropout_on_top_layers_and_inputs():
    net = network_of({"hidden": [50, 40, 30], "dropout": {"rate": 0.2, "top_layers": 2}})
    assert kinds(net) == ["Flatten", "Linear", "ReLU", "Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout",
                          "Linear"]
    net = network_of({"hidden": [100, 100], "dropout": {"rate": 0.2, "top_layers": 3}})
    assert kinds(net)[:2] == ["Flatten", "Dropout"]


def test_heads_and_predict():
    net = network_of({"hidden": [8]}, units=1, head="sigmoid")
    assert net.head == "sigmoid"
    p = net.predict(torch.randn(5, 28, 28))
    assert p.shape == (5, 1) and ((p > 0) & (p < 1)).all()
    net = network_of({"hidden": [8]}, units=10, head="softmax")
    assert torch.allclose(net.predict(torch.randn(5, 28, 28)).sum(1), torch.ones(5))


def test_regularizer_and_constraint_are_collected():
    net = network_of({"hidden": [20, 20], "kernel_regularizer": {"l2": 0.01}, "kernel_constraint": {"max_norm": 1.0}})
    assert len(net.penalties) == 3  # every dense, output included (the note's RegularizedDense)
    assert len(net.constraints) == 2  # hidden only (the note's MaxNormDense)


def test_dense_without_flatten_is_a_clear_error():
    with pytest.raises(ConfigError, match="flatten"):
        network_of({"layers": [{"dense": {"units": 20}}]})


def test_layer_names_are_stable():
    net = network_of({"hidden": [20, 10]})
    assert list(dict(net.layers.named_children())) == ["flatten_1", "dense_1", "relu_1", "dense_2", "relu_2",
                                                       "dense_3"]


def test_a_dense_layer_with_its_own_activation_keeps_its_bias_before_batch_norm():
    net = network_of({"hidden": [300, 100], "batch_norm": "after_activation"})
    dense = [m for m in net.layers if isinstance(m, torch.nn.Linear)]
    assert all(layer.bias is not None for layer in dense)  # Keras's Dense(300, activation="relu") has a bias
