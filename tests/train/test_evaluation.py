"""One evaluation (`loop.split_metrics`) for one network and for the K members of a stacked one: member k's
loss (with its own l1/l2 penalty) and metric are those of its own network evaluated alone."""

import pytest
import torch

from dnnconf.config import config_from_dict
from dnnconf.nn.stacked import StackedNetwork
from dnnconf.train import setup
from dnnconf.train.loop import Split, evaluate, evaluate_members, split_metrics

HEADS = {"sparse_categorical_crossentropy": (10, "softmax"), "binary_crossentropy": (1, "sigmoid"),
         "mse": (1, None)}


def member_networks(loss, seeds=(1, 2, 3)):
    units, activation = HEADS[loss]
    networks = []
    for seed in seeds:
        config = config_from_dict({"name": "eval", "seed": seed, "data": {"dataset": "digits"}, "loss": loss,
                                   "model": {"input_shape": [64], "hidden": [16], "kernel_regularizer": {"l2": 0.01},
                                             "dropout": {"rate": 0.5},
                                             "output": {"units": units, "activation": activation}}})
        setup.seed_everything(seed)
        networks.append(setup.make_network(config))
    return networks


def split_for(loss):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(300, 64, generator=generator)
    if loss == "sparse_categorical_crossentropy":
        return Split(x, torch.randint(0, 10, (300,), generator=generator))
    if loss == "binary_crossentropy":
        return Split(x, (torch.rand(300, generator=generator) > 0.5).float())
    return Split(x, torch.randn(300, generator=generator))


@pytest.mark.parametrize("loss", HEADS)
def test_each_member_is_evaluated_as_its_own_network(loss):
    networks, split = member_networks(loss), split_for(loss)
    stacked = StackedNetwork(networks, [torch.Generator() for _ in networks])
    members = evaluate_members(stacked, split, loss, batch_size=128)  # batches of 128, 128, 44
    assert stacked.training  # evaluated in eval mode (no dropout), then left as found
    alone = [evaluate(network, split, loss, batch_size=128) for network in networks]
    assert len({round(result["loss"], 6) for result in alone}) == 3  # the members differ
    for k, result in enumerate(alone):
        for name, value in result.items():
            assert members[name][k] == pytest.approx(value, abs=1e-5), (name, k)


def test_one_network_gives_scalars_and_a_stacked_one_a_value_a_member():
    loss = "sparse_categorical_crossentropy"
    networks, split = member_networks(loss, seeds=(1, 2)), split_for(loss)
    assert {value.shape for value in split_metrics(networks[0], split, loss).values()} == {torch.Size([])}
    stacked = StackedNetwork(networks, [torch.Generator() for _ in networks])
    assert {value.shape for value in split_metrics(stacked, split, loss).values()} == {torch.Size([2])}
