"""The memory check: the estimate's arithmetic, the key it names, and that nothing is allocated first."""

import resource

import pytest

from dnnconf import limits
from dnnconf.config import config_from_dict
from dnnconf.errors import BadInput
from dnnconf.limits import check_fits, check_network_fits, memory_available, shorten, training_bytes
from dnnconf.nn.build import model_layers

GIB = 2**30


def test_memory_available_is_a_positive_byte_count_below_the_address_space_limit():
    available = memory_available()
    assert available is not None and available > 0
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        assert available <= soft


def test_check_fits_names_the_key_the_estimate_and_what_is_available():
    check_fits("data.x", 10, available=100)
    with pytest.raises(BadInput) as caught:
        check_fits("data.x", 3 * GIB, "3 copies", available=GIB)
    assert str(caught.value) == ("data.x: needs about 3.0 GiB (3 copies), more than the 1.0 GiB of memory "
                                 "available; make it smaller")


def test_training_bytes_counts_weight_gradient_and_optimizer_slots():
    # 1000 parameters, sgd (momentum: 1 slot): 1000 × 4 × 3; activations 10 per example at batch 8: 10 × 8 × 4 × 2
    assert training_bytes(1000, 10, 8, "sgd")[0] == 12_000 + 640
    assert training_bytes(1000, 10, 8, "adam")[0] == 16_000 + 640
    assert training_bytes(1000, 10, 8, "adam", copies=3)[0] == 3 * (16_000 + 640)
    assert training_bytes(1000, 0, 8, "someone_elses")[0] == 16_000  # unknown: Adam's two slots


def resolved(**training):
    raw = {"model": {"hidden": [50_000_000], "input_shape": [64], "output": {"units": 10, "activation": "softmax"}},
           "training": training}
    return config_from_dict(raw)


def check(config, available):
    layers = model_layers(config.model, config.model.output.units, config.model.output.activation)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(limits, "memory_available", lambda: available)
        check_network_fits(config, layers)


def test_a_huge_layer_is_refused_naming_model_hidden_before_allocating():
    # 64·5e7 + 5e7 + 5e7·10 + 10 parameters: ~24 GiB for the weights alone, never allocated (built on meta)
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(BadInput) as caught:
        check(resolved(), 8 * GIB)
    message = str(caught.value)
    assert message.startswith("model.hidden: [50000000]: needs about ") and "3,750,000,010 parameters" in message
    assert "8.0 GiB of memory available" in message
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before < 1_000_000  # KiB: < 1 GiB more


def test_parallel_seeds_are_named_when_one_copy_would_fit():
    config = config_from_dict({"model": {"hidden": [1000], "input_shape": [64],
                                         "output": {"units": 10, "activation": "softmax"}},
                               "training": {"parallel_seeds": 1000}, "schedule": "constant"})
    with pytest.raises(BadInput, match=r"^training\.parallel_seeds: 1000: needs about .* × 1000 parallel seeds"):
        check(config, 100 * 2**20)
    check(config, 10 * GIB)


def test_a_huge_batch_is_named_when_activations_outweigh_the_weights():
    config = config_from_dict({"model": {"hidden": [100], "input_shape": [64],
                                         "output": {"units": 10, "activation": "softmax"}},
                               "training": {"batch_size": 10**9}})
    with pytest.raises(BadInput, match=r"^training\.batch_size: 1000000000: needs about"):
        check(config, 8 * GIB)


def test_a_network_that_fits_passes():
    config = config_from_dict({"model": {"hidden": [300, 100], "input_shape": [28, 28],
                                         "output": {"units": 10, "activation": "softmax"}}})
    check(config, 1 * GIB)


def test_shorten_cuts_long_values_and_big_containers():
    assert shorten("abc") == "'abc'"
    assert shorten("x" * 1000).endswith("… (1,002 characters)") and len(shorten("x" * 1000)) < 120
    assert shorten(list(range(10**6))).endswith("(list of 1,000,000 items)")
