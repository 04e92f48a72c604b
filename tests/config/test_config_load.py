import pytest

from dnnconf.config import Config, apply_override, config_from_dict, dump_config, load_config
from dnnconf.errors import ConfigError


def test_defaults_are_the_notes_default_configuration():
    config = config_from_dict({})
    assert config.model.kernel_initializer["name"] == "he_normal"
    assert config.model.activation == {"name": "relu"}
    assert config.model.batch_norm.position == "none"
    assert config.training.early_stopping is not None
    optimizer = config.optimizer.model_dump()
    assert optimizer["name"] == "sgd" and optimizer["nesterov"] is True and optimizer["momentum"] == 0.9
    assert config.schedule["name"] == "performance"


@pytest.mark.parametrize(
    "raw, fragments",
    [
        ({"modle": {}}, ["modle", "unknown key", "did you mean 'model'", "accepted"]),
        ({"model": {"hiden": [10]}}, ["model.hiden", "did you mean 'hidden'"]),
        ({"model": {"hidden": "big"}}, ["model.hidden", "'big'"]),
        ({"model": {"hidden": [300, 0]}}, ["model.hidden", "at least 1 unit"]),
        ({"model": {"dropout": {"rate": 1.5}}}, ["model.dropout.rate", "1.5", "less than 1"]),
        ({"training": {"batch_size": 0}}, ["training.batch_size", "greater than or equal to 1"]),
        ({"model": {"activation": "rleu"}}, ["model.activation", "'rleu'", "did you mean 'relu'", "known"]),
        ({"model": {"kernel_initializer": "he_nromal"}}, ["did you mean 'he_normal'"]),
        ({"optimizer": {"name": "adma"}}, ["optimizer", "did you mean 'adam'"]),
        ({"optimizer": {"name": "sgd", "learning_rate": -1}}, ["optimizer.learning_rate", "-1"]),
        ({"optimizer": {"name": "sgd", "momentom": 0.9}}, ["optimizer.momentom", "did you mean 'momentum'"]),
        ({"schedule": {"name": "expo"}}, ["schedule", "did you mean 'exponential'"]),
        ({"model": {"batch_norm": "middle"}}, ["model.batch_norm.position", "'middle'"]),
        ({"data": {"dataset": "mnist"}}, ["data.dataset", "'mnist'", "fashion_mnist"]),
        ({"model": {"layers": [{"dense": {"units": 10}}], "hidden": [5]}}, ["either the explicit 'layers'"]),
        ({"model": {"layers": [{"dens": {"units": 10}}]}}, ["model.layers.0", "did you mean 'dense'"]),
        ({"model": {"layers": [{"dense": {"unit": 10}}]}}, ["model.layers.0.dense", "unit"]),
        ([1, 2], ["expected a mapping"]),
    ],
)
def test_errors_name_the_key_the_value_and_what_is_accepted(raw, fragments):
    with pytest.raises(ConfigError) as caught:
        config_from_dict(raw)
    message = str(caught.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_overrides_are_yaml_typed_and_reach_any_key(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model: {hidden: [10]}\noptimizer: {name: adam}\n")
    config = load_config(path, ["model.hidden=[300, 100]", "optimizer.learning_rate=0.01",
                                "model.activation.name=elu", "training.early_stopping=null",
                                "model.hidden.1=50"])
    assert config.model.hidden == [300, 50]
    assert config.optimizer.model_dump()["learning_rate"] == 0.01
    assert config.model.activation["name"] == "elu"
    assert config.training.early_stopping is None


def test_a_section_without_a_name_tunes_the_default_optimizer():
    config = config_from_dict({"optimizer": {"learning_rate": 0.05}})
    optimizer = config.optimizer.model_dump()
    assert optimizer["name"] == "sgd" and optimizer["nesterov"] and optimizer["learning_rate"] == 0.05


@pytest.mark.parametrize("assignment", ["novalue", "a..b=1", "model.hidden.7=3"])
def test_bad_overrides(assignment):
    with pytest.raises(ConfigError):
        raw = {"model": {"hidden": [1, 2]}}
        apply_override(raw, assignment)


def test_malformed_yaml_names_file_and_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("model:\n  hidden: [300, 100\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: malformed YAML at line"):
        load_config(path)


def test_missing_file():
    with pytest.raises(ConfigError, match="no such config file"):
        load_config("/nonexistent/config.yaml")


def test_resolved_config_replays_to_the_same_config(tmp_path):
    import yaml

    config = config_from_dict({"model": {"activation": {"name": "leaky_relu"}, "dropout": {"rate": 0.3}},
                               "optimizer": {"name": "adam"}})
    text = dump_config(config)
    again = config_from_dict(yaml.safe_load(text))
    assert again == config
    assert again.model.activation["alpha"] == 0.2  # Keras's default filled in and saved
    assert isinstance(again, Config)


def test_explicit_layers_resolve_and_replay():
    import yaml

    layers = [{"flatten": {}}, {"dense": {"units": 30, "use_bias": False}}, {"batch_norm": {}},
              {"activation": "relu"}, {"dropout": {"rate": 0.2}}]
    config = config_from_dict({"model": {"layers": layers}})
    assert config.model.layers[1]["dense"]["kernel_initializer"]["name"] == "glorot_uniform"
    assert config.model.layers[3] == {"activation": {"name": "relu"}}
    assert config_from_dict(yaml.safe_load(dump_config(config))) == config


def test_yaml_loader_is_safe(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("name: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="malformed YAML"):
        load_config(path)


@pytest.mark.parametrize("text", ["\x85", "a\u2028b", "\u2029", "two\nlines"])
def test_strings_with_yaml_line_breaks_survive_the_dump(text):
    import yaml

    config = config_from_dict({"training": {"early_stopping": {"monitor": text}}})
    assert config_from_dict(yaml.safe_load(dump_config(config))) == config
