"""Every whole number in a config has a range, every echoed value is short, `--set` never crashes."""

import pytest

from dnnconf.config import apply_override, config_from_dict, load_config
from dnnconf.errors import ConfigError
from dnnconf.limits import MAX_ECHO, MAX_LAYERS, MAX_PARALLEL_SEEDS, MAX_THREADS

HUGE = 10**30


def message_of(raw):
    with pytest.raises(ConfigError) as caught:
        config_from_dict(raw)
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("raw, key", [
    ({"seed": -1}, "seed"),
    ({"seed": 2**63}, "seed"),
    ({"data": {"split_seed": -1}}, "data.split_seed"),
    ({"data": {"split_seed": 2**64}}, "data.split_seed"),
    ({"data": {"classes": [0, -3]}}, "data.classes"),
    ({"data": {"positive_class": -1}}, "data.positive_class"),
    ({"training": {"threads": MAX_THREADS + 1}}, "training.threads"),
    ({"training": {"threads": 0}}, "training.threads"),
    ({"training": {"parallel_seeds": MAX_PARALLEL_SEEDS + 1}}, "training.parallel_seeds"),
    ({"model": {"hidden": [8] * (MAX_LAYERS + 1)}}, "model.hidden"),
    ({"model": {"layers": [{"dense": {"units": 8}}] * (MAX_LAYERS + 1)}}, "model.layers"),
    ({"model": {"input_shape": [0]}}, "model.input_shape"),
    ({"model": {"input_shape": [1, 2, 3, 4]}}, "model.input_shape"),
])
def test_bounded_whole_numbers_name_the_key(raw, key):
    assert message_of(raw).startswith(f"{key}: ")


@pytest.mark.parametrize("raw, key", [
    ({"training": {"epochs": HUGE}}, "training.epochs"),
    ({"training": {"batch_size": HUGE}}, "training.batch_size"),
    ({"training": {"early_stopping": {"patience": HUGE}}}, "training.early_stopping.patience"),
    ({"data": {"valid_size": HUGE}}, "data.valid_size"),
    ({"data": {"train_limit": HUGE}}, "data.train_limit"),
    ({"data": {"label_column": -HUGE}}, "data.label_column"),
    ({"model": {"hidden": [8, HUGE]}}, "model.hidden"),
    ({"model": {"output": {"units": HUGE}}}, "model.output.units"),
    ({"model": {"layers": [{"dense": {"units": HUGE}}]}}, "model.layers.0.dense.units"),
    ({"model": {"layers": [{"conv2d": {"filters": 4, "kernel_size": [3, HUGE]}}]}},
     "model.layers.0.conv2d.kernel_size"),
    ({"schedule": {"name": "exponential", "decay_steps": HUGE}}, "schedule.decay_steps"),
])
def test_whole_numbers_beyond_64_bits_are_refused_everywhere(raw, key):
    message = message_of(raw)
    assert message.startswith(f"{key}: ") and "64-bit range" in message, message


def test_member_seeds_stay_in_range():
    message = message_of({"seed": 2**63 - 1, "training": {"parallel_seeds": 2}})
    assert message.startswith("seed: ") and "parallel_seeds" in message


@pytest.mark.parametrize("raw", [
    {"optimizer": {"name": "adam", "learning_rate": [1] * 100_000}},
    {"model": {"activation": "x" * 1_000_000}},
    {"model": {"hidden": "y" * 1_000_000}},
    {"schedule": ["z" * 1000] * 1000},
    ["w" * 1_000_000],
])
def test_echoed_values_are_shortened(raw):
    assert len(message_of(raw)) < MAX_ECHO + 400


@pytest.mark.parametrize("assignment, fragment", [
    ("training.epochs.x=1", "training.epochs is a single value (3)"),
    ("training.epochs.x.y=1", "training.epochs is a single value"),
    ("model.hidden.0.units=1", "model.hidden.0 is a single value (8)"),
    ("a" + ".a" * 100 + "=1", "more than the 64 accepted"),
    ("seed=&x 3", "anchors and aliases"),
    ("seed=" + "[" * 100 + "]" * 100, "nested more than"),
])
def test_set_through_a_single_value_is_one_line(tmp_path, assignment, fragment):
    path = tmp_path / "c.yaml"
    path.write_text("name: c\nmodel: {hidden: [8]}\ntraining: {epochs: 3}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, [assignment])
    message = str(caught.value)
    assert "\n" not in message and fragment in message and len(message) < 400, message


def test_set_still_grows_a_shorthand_into_a_mapping():
    raw = {"model": {"activation": "relu"}}
    apply_override(raw, "model.activation.alpha=0.2")
    assert raw["model"]["activation"] == {"name": "relu", "alpha": 0.2}


def deep(levels):
    node = 1
    for _ in range(levels):
        node = {"a": node}
    return node


@pytest.mark.parametrize("raw", [
    {"extra": deep(5000)},
    {"model": {"layers": [{"dense": deep(5000)}]}},
    {"optimizer": {"name": "adam", "beta_1": deep(5000)}},
    {"model": {"hidden": list(range(1, 30_000))}},
])
def test_plain_data_given_directly_has_the_readers_limits_too(raw):
    message = message_of(raw)  # not a RecursionError from validating or echoing it
    assert "nested more than 64 levels" in message or "more than 20,000 values" in message


@pytest.mark.parametrize("raw, accepted", [
    ({"training": {"threads": 1000}}, "accepted: 1..256"),
    ({"seed": -1}, "accepted: 0..9223372036854775807"),
    ({"training": {"batch_size": 0}}, "accepted: >= 1"),
    ({"data": {"test_size": 1.5}}, "accepted: more than 0 and less than 1"),
])
def test_a_number_out_of_bounds_states_the_whole_range(raw, accepted):
    assert message_of(raw).endswith(f"; {accepted})")
