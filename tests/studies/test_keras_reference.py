"""The config → Keras translation of `--reference keras`: layer sizes, initializers, optimizer and schedule
hyperparameters read back from Keras's own attributes; what it cannot express is refused in one line."""

import os
import sys

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras", reason="the Keras reference needs Keras 3 (pip install keras)")

from dnnconf.config import config_from_dict  # noqa: E402
from dnnconf.errors import BadInput, ConfigError  # noqa: E402
from dnnconf.studies.keras_reference import import_keras, keras_model, keras_optimizer, keras_schedule  # noqa: E402


def resolved(raw):
    """A config resolved as for 8×8 inputs and 10 classes (what `resolve_with_data` gives on digits)."""
    config = config_from_dict({"data": {"dataset": "digits"}, **raw})
    model = config.model.model_copy(update={"input_shape": [8, 8], "output": config.model.output.model_copy(
        update={"units": 10, "activation": "softmax"})})
    return config.model_copy(update={"model": model, "loss": "sparse_categorical_crossentropy"})


def dense_layers(model):
    return [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]


@pytest.mark.parametrize("raw, units, initializer, activation", [
    ({"model": {"hidden": [30, 20], "activation": "relu", "kernel_initializer": "he_normal"}},
     [30, 20, 10], ("HeNormal", 2.0, "fan_in", "truncated_normal"), "relu"),
    ({"model": {"hidden": [16, 16, 16], "activation": "selu", "kernel_initializer": "lecun_normal"}},
     [16, 16, 16, 10], ("LecunNormal", 1.0, "fan_in", "truncated_normal"), "selu"),
    ({"model": {"hidden": [12], "activation": "tanh", "kernel_initializer": "glorot_uniform"}},
     [12, 10], ("GlorotUniform", 1.0, "fan_avg", "uniform"), "tanh"),
])
def test_layer_sizes_initializers_and_activations_are_keras_own(raw, units, initializer, activation):
    model = keras_model(resolved(raw))
    dense = dense_layers(model)
    assert [layer.units for layer in dense] == units
    name, scale, mode, distribution = initializer
    for layer in dense[:-1]:
        init = layer.kernel_initializer
        assert (type(init).__name__, init.scale, init.mode, init.distribution) == (name, scale, mode, distribution)
        assert layer.activation.__name__ == activation
    assert type(dense[-1].kernel_initializer).__name__ == "GlorotUniform"
    assert dense[-1].activation.__name__ == "softmax"
    assert model.count_params() == sum((a * b + b) for a, b in zip([64, *units[:-1]], units, strict=True))


def test_random_normal_batch_norm_dropout_and_penalties():
    config = resolved({"model": {"hidden": [20, 10], "activation": {"name": "leaky_relu", "alpha": 0.1},
                                 "kernel_initializer": {"name": "random_normal", "stddev": 1.0},
                                 "batch_norm": {"position": "before_activation", "momentum": 0.9},
                                 "dropout": {"rate": 0.3, "top_layers": 1},
                                 "kernel_regularizer": {"l2": 0.01}, "kernel_constraint": {"max_norm": 2.0}}})
    model = keras_model(config)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Flatten", "Dense", "BatchNormalization", "LeakyReLU", "Dense", "BatchNormalization",
                     "LeakyReLU", "Dropout", "Dense"]
    dense = dense_layers(model)
    assert dense[0].kernel_initializer.stddev == 1.0 and not dense[0].use_bias  # β does the bias's job
    assert model.layers[2].momentum == 0.9 and model.layers[2].epsilon == 1e-3
    assert model.layers[3].negative_slope == pytest.approx(0.1) and model.layers[7].rate == 0.3
    assert dense[0].kernel_regularizer.l2 == pytest.approx(0.01) and dense[0].kernel_constraint.max_value == 2.0
    assert dense[-1].kernel_constraint is None and dense[-1].use_bias


@pytest.mark.parametrize("section, cls, attributes", [
    ({"name": "sgd", "learning_rate": 1e-3}, "SGD", {"momentum": 0.0, "nesterov": False}),
    ({"name": "nesterov"}, "SGD", {"momentum": 0.9, "nesterov": True}),
    ({"name": "adam", "beta_2": 0.99}, "Adam", {"beta_1": 0.9, "beta_2": 0.99, "epsilon": 1e-7}),
    ({"name": "adamw", "weight_decay": 1e-5}, "AdamW", {"weight_decay": 1e-5, "beta_1": 0.9}),
    ({"name": "rmsprop", "rho": 0.8, "clipnorm": 1.0}, "RMSprop", {"rho": 0.8, "clipnorm": 1.0}),
])
def test_optimizer_hyperparameters_are_keras_own(section, cls, attributes):
    config = resolved({"optimizer": section, "schedule": {"name": "constant"}})
    rate, callbacks = keras_schedule(config, steps_per_epoch=10)
    optimizer = keras_optimizer(config, rate)
    assert type(optimizer).__name__ == cls and callbacks == []
    assert float(optimizer.learning_rate) == pytest.approx(config.optimizer.model_dump()["learning_rate"])
    for name, value in attributes.items():
        assert getattr(optimizer, name) == pytest.approx(value), name


def test_schedules_become_keras_schedules_in_steps():
    config = resolved({"optimizer": {"name": "sgd", "learning_rate": 0.1},
                       "schedule": {"name": "exponential", "decay_epochs": 2, "decay_rate": 0.5}})
    rate, _ = keras_schedule(config, steps_per_epoch=10)
    assert isinstance(rate, keras.optimizers.schedules.ExponentialDecay)
    assert (rate.initial_learning_rate, rate.decay_steps, rate.decay_rate) == (0.1, 20.0, 0.5)
    assert float(rate(20)) == pytest.approx(0.05)
    piecewise, _ = keras_schedule(resolved({"schedule": {"name": "piecewise_constant", "boundaries_epochs": [1, 3],
                                                          "values": [0.1, 0.01, 0.001]}}), steps_per_epoch=10)
    assert piecewise.boundaries == [10.0, 30.0] and piecewise.values == [0.1, 0.01, 0.001]
    _, callbacks = keras_schedule(resolved({"schedule": {"name": "performance", "factor": 0.5, "patience": 5}}), 10)
    assert isinstance(callbacks[0], keras.callbacks.ReduceLROnPlateau)
    assert (callbacks[0].factor, callbacks[0].patience) == (0.5, 5)


@pytest.mark.parametrize("raw, key", [
    ({"schedule": {"name": "one_cycle", "max_lr": 0.1}}, "schedule: 'one_cycle'"),
    ({"model": {"hidden": [10], "activation": {"name": "swish", "trainable": True}}}, "activation"),
])
def test_what_keras_cannot_express_is_refused_in_one_line(raw, key):
    config = resolved(raw)
    with pytest.raises(ConfigError) as error:
        keras_optimizer(config, keras_schedule(config, 10)[0])
        keras_model(config)
    assert key in str(error.value) and "\n" not in str(error.value)


def test_a_convolutional_model_is_refused_in_one_line():
    config = resolved({"model": {"layers": [{"conv2d": {"filters": 4, "kernel_size": 3}}, {"flatten": {}}]}})
    config = config.model_copy(update={"model": config.model.model_copy(update={"input_shape": [8, 8, 1]})})
    with pytest.raises(ConfigError, match=r"^model\.layers\[0\]\.conv2d: --reference keras translates") as error:
        keras_model(config)
    assert "\n" not in str(error.value)


def test_missing_keras_is_one_line_naming_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "keras", None)  # `import keras` now raises ImportError
    with pytest.raises(BadInput, match=r"^--reference keras: Keras 3 is not installed; pip install keras$"):
        import_keras()
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    with pytest.raises(BadInput, match="KERAS_BACKEND=jax"):
        import_keras()


def test_a_schedule_keras_lacks_is_refused_without_its_settings_and_one_it_has_with_them():
    def refusal(schedule: dict) -> str:
        with pytest.raises(ConfigError) as error:
            keras_schedule(resolved({"schedule": schedule}), 10)
        return str(error.value)

    assert refusal({"name": "one_cycle", "max_lr": 0.1}).startswith("schedule: 'one_cycle' has no Keras counterpart")
    assert "'staircase': True" in refusal({"name": "cosine", "decay_steps": 100, "staircase": True})
