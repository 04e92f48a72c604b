"""The memory check: the estimate's arithmetic, the key it names, and that nothing is allocated first."""

import resource

import pytest

from dnnconf import limits
from dnnconf.config import config_from_dict
from dnnconf.config.layers import model_layers
from dnnconf.errors import BadInput
from dnnconf.limits import check_fits, memory_available, shorten
from dnnconf.nn.memory import TrainingEstimate, check_network_fits, weight_copies

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


def test_the_estimate_counts_every_copy_of_the_weights_and_the_larger_activations():
    # weight, gradient, momentum, best weights; checkpoint: weight + momentum copies, serialized weights
    copies = weight_copies("sgd", best_weights=True)
    assert sum(copies.values()) == 4 + 3
    assert sum(weight_copies("adam", best_weights=False).values()) == 4 + 4
    assert weight_copies("someone_elses", best_weights=False)["someone_elses state"] == 2  # Adam's two slots
    estimate = TrainingEstimate(1000, copies, train_activations=640, eval_activations=900, copies=3)
    assert estimate.weights == 1000 * 4 * 7 and estimate.total == 3 * (28_000 + 900)
    assert "1,000 parameters × 4 bytes × 7" in estimate.describe() and "× 3 parallel seeds" in estimate.describe()


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
    # 64·5e7 + 5e7 + 5e7·10 + 10 parameters: ~14 GiB a copy of the weights, never allocated (built on meta)
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
    check(config, 64 * GIB)


def test_a_huge_batch_is_named_when_activations_outweigh_the_weights():
    config = config_from_dict({"model": {"hidden": [100], "input_shape": [64],
                                         "output": {"units": 10, "activation": "softmax"}},
                               "training": {"batch_size": 10**9}})
    with pytest.raises(BadInput, match=r"^training\.batch_size: 1000000000: needs about"):
        check(config, 8 * GIB)


def test_a_huge_evaluation_batch_is_named_when_its_activations_dominate():
    config = config_from_dict({"model": {"hidden": [100_000], "input_shape": [64],
                                         "output": {"units": 10, "activation": "softmax"}},
                               "training": {"eval_batch_size": 10**6}})
    with pytest.raises(BadInput, match=r"^training\.eval_batch_size: 1000000: needs about"):
        check(config, 8 * GIB)


def test_a_network_that_fits_passes():
    config = config_from_dict({"model": {"hidden": [300, 100], "input_shape": [28, 28],
                                         "output": {"units": 10, "activation": "softmax"}}})
    check(config, 1 * GIB)


def test_shorten_cuts_long_values_and_big_containers():
    assert shorten("abc") == "'abc'"
    assert shorten("x" * 1000).endswith("… (1,002 characters)") and len(shorten("x" * 1000)) < 120
    assert shorten(list(range(10**6))).endswith("(list of 1,000,000 items)")


def test_explicit_layers_name_the_module_with_the_most_parameters():
    config = config_from_dict({"model": {"layers": [{"dense": {"units": 8}}, {"dense": {"units": 10**8}}],
                                         "input_shape": [64], "output": {"units": 10, "activation": "softmax"}}})
    with pytest.raises(BadInput, match=r"^model\.layers \(dense_3: 1,000,000,010 parameters\): needs about"):
        check(config, GIB)


def test_train_refuses_a_network_that_cannot_fit_before_making_the_run_folder(tmp_path, capsys):
    from dnnconf.cli import main

    config = tmp_path / "huge.yaml"
    config.write_text("name: huge\ndata: {dataset: digits, valid_size: 0.15}\nmodel: {hidden: [50000000]}\n")
    assert main(["train", str(config), "--out", str(tmp_path / "run"), "--quiet"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "model.hidden" in lines[0]
    assert not (tmp_path / "run").exists()
