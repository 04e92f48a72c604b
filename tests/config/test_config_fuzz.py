"""Random and mutated configs: every outcome is a valid config or one ConfigError line, never a crash."""

import copy

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dnnconf.config import config_from_dict, dump_config
from dnnconf.errors import ConfigError

BASE = yaml.safe_load(open("examples/fashion_mnist_default.yaml"))
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=12), st.sampled_from(["relu", "he_normal", "sgd", "adam", "performance", ""]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                      st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                      max_leaves=10)


def paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from paths(value, (*prefix, index))


ALL_PATHS = [p for p in paths(BASE) if p]


def outcome(raw):
    try:
        config = config_from_dict(raw)
    except ConfigError as error:
        message = str(error)
        assert message and "\n" not in message
        return
    assert config_from_dict(yaml.safe_load(dump_config(config))) == config


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(ALL_PATHS), values)
def test_mutated_configs(path, value):
    raw = copy.deepcopy(BASE)
    node = raw
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    outcome(raw)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from(["name", "seed", "data", "model", "optimizer", "schedule", "training",
                                        "loss", "extra"]), values, max_size=5))
def test_random_configs(raw):
    outcome(raw)
