"""`--reference keras`: the same recipe trained by Keras 3 (torch backend), so a study's finding can be told
apart from a dnnconf artefact.

`keras_model`, `keras_optimizer` and `keras_schedule` translate a resolved dnnconf config into Keras objects
with Keras's own classes and defaults: the config's layers (`dnnconf.config.layers.model_layers`: dense with its
initializer, activation, l1/l2 and max-norm; batch normalization; dropout and alpha dropout), the optimizer
by name with its parameters (dnnconf's names and defaults are Keras 3's: `dnnconf.optim.optimizers`), the
schedules Keras has (`keras.optimizers.schedules`; `performance` is Keras's ReduceLROnPlateau callback).
What Keras cannot express here (1cycle, a trainable Swish β, convolutional or MC-dropout layers, torch-only
options) is refused in one line (ConfigError, exit 2), never approximated.

The data are dnnconf's: `reference_data` loads the config's splits with `dnnconf.data.load_data` (the same
train/validation/test examples) and scales them with the same statistics the dnnconf network's input layer
holds, so both implementations see identical arrays. Seeds: `keras.utils.set_random_seed(seed)` before each
model (Keras's own streams: the same seed does not give the same initial weights as dnnconf). Threads: one
torch thread, like dnnconf's study runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from dnnconf.errors import BadInput, ConfigError

INSTALL_HINT = "pip install keras"
LAYER_KINDS = ("flatten", "dense", "batch_norm", "activation", "dropout", "alpha_dropout")
OPTIMIZER_CLASSES = {"sgd": "SGD", "momentum": "SGD", "nesterov": "SGD", "adagrad": "Adagrad", "rmsprop": "RMSprop",
                     "adam": "Adam", "adamw": "AdamW", "adamax": "Adamax", "nadam": "Nadam"}
INITIALIZER_CLASSES = {"glorot_normal": "GlorotNormal", "glorot_uniform": "GlorotUniform", "he_normal": "HeNormal",
                       "he_uniform": "HeUniform", "lecun_normal": "LecunNormal", "lecun_uniform": "LecunUniform",
                       "ones": "Ones", "zeros": "Zeros", "orthogonal": "Orthogonal", "random_normal": "RandomNormal",
                       "random_uniform": "RandomUniform", "truncated_normal": "TruncatedNormal",
                       "variance_scaling": "VarianceScaling"}
PLAIN_ACTIVATIONS = ("relu", "selu", "tanh", "sigmoid", "softmax", "softplus", "mish", "linear")


def import_keras() -> Any:
    """Keras 3 on its torch backend, imported on first use (a dev extra); one line and exit 2 when missing."""
    backend = os.environ.setdefault("KERAS_BACKEND", "torch")
    if backend != "torch":
        raise BadInput(f"KERAS_BACKEND={backend}: --reference keras runs Keras on its torch backend; unset it or "
                       "set KERAS_BACKEND=torch")
    try:
        import keras
    except ImportError:
        raise BadInput(f"--reference keras: Keras 3 is not installed; {INSTALL_HINT}") from None
    if not keras.__version__.startswith("3"):
        raise BadInput(f"--reference keras: needs Keras 3, found {keras.__version__}; {INSTALL_HINT} --upgrade")
    return keras


def keras_initializer(spec: dict[str, Any], key: str) -> Any:
    keras = import_keras()
    params = {k: v for k, v in spec.items() if k != "name"}
    if spec["name"] not in INITIALIZER_CLASSES:
        raise ConfigError(f"{key}: {spec['name']!r} has no Keras initializer; --reference keras accepts "
                          f"{', '.join(INITIALIZER_CLASSES)}")
    return getattr(keras.initializers, INITIALIZER_CLASSES[spec["name"]])(**params)


def keras_activation(spec: dict[str, Any] | str | None, key: str) -> Any:
    """A Keras activation (a name, or a layer for the parametrized ones), Keras's formula for each."""
    keras = import_keras()
    if spec is None:
        return None
    spec = {"name": spec} if isinstance(spec, str) else spec
    name, params = spec["name"], {k: v for k, v in spec.items() if k not in ("name", "units")}
    if name in PLAIN_ACTIVATIONS and not params:
        return name
    if name == "leaky_relu":
        return keras.layers.LeakyReLU(negative_slope=params.get("alpha", 0.2))
    if name == "elu":
        return keras.layers.ELU(alpha=params.get("alpha", 1.0))
    if name == "prelu":
        return keras.layers.PReLU(alpha_initializer=keras.initializers.Constant(params.get("alpha_init", 0.0)))
    if name == "gelu":
        approximate = params.get("approximate", False)
        return keras.layers.Activation(lambda x: keras.activations.gelu(x, approximate=approximate))
    if name == "swish" and params.get("beta", 1.0) == 1.0 and not params.get("trainable", False):
        return "silu"
    raise ConfigError(f"{key}: {spec!r} has no Keras counterpart here (a fixed-β swish, leaky_relu, elu, prelu, gelu"
                      f" and {', '.join(PLAIN_ACTIVATIONS)} have)")


def _dense(params: dict[str, Any], key: str, model_layers: list[Any]) -> None:
    keras = import_keras()
    regularizer = params.get("kernel_regularizer")
    constraint = params.get("kernel_constraint")
    activation = keras_activation(params.get("activation"), f"{key}.activation")
    model_layers.append(keras.layers.Dense(
        params["units"], activation=activation if isinstance(activation, str) else None,
        use_bias=params.get("use_bias", True),
        kernel_initializer=keras_initializer(params.get("kernel_initializer") or {"name": "glorot_uniform"},
                                             f"{key}.kernel_initializer"),
        kernel_regularizer=keras.regularizers.L1L2(**regularizer) if regularizer else None,
        kernel_constraint=keras.constraints.MaxNorm(constraint["max_norm"]) if constraint else None))
    if activation is not None and not isinstance(activation, str):
        model_layers.append(activation)


def keras_model(config: Any) -> Any:
    """The Keras Sequential of a config resolved for its data (`dnnconf.train.setup.resolve_with_data`): the
    same layers, sizes, initializers and activations; inputs are expected already scaled."""
    from dnnconf.config.layers import model_layers

    keras = import_keras()
    output = config.model.output
    layers: list[Any] = [keras.Input(tuple(config.model.input_shape))]
    for index, entry in enumerate(model_layers(config.model, output.units, output.activation)):
        (kind, params), = entry.items()
        key = f"model.layers[{index}].{kind}"
        if kind not in LAYER_KINDS:
            raise ConfigError(f"{key}: --reference keras translates {', '.join(LAYER_KINDS)} layers, not {kind!r}")
        if kind == "flatten":
            layers.append(keras.layers.Flatten())
        elif kind == "dense":
            _dense(params, key, layers)
        elif kind == "batch_norm":
            layers.append(keras.layers.BatchNormalization(**params))
        elif kind == "activation":
            spec = params if "name" in params else params["activation"]  # the compact form's, or the explicit
            activation = keras_activation(spec, key)
            layers.append(keras.layers.Activation(activation) if isinstance(activation, str) else activation)
        else:
            layers.append((keras.layers.Dropout if kind == "dropout" else keras.layers.AlphaDropout)(params["rate"]))
    return keras.Sequential(layers)


def keras_schedule(config: Any, steps_per_epoch: int) -> tuple[Any, list[Any]]:
    """(learning_rate for the Keras optimizer, Keras callbacks): a float for `constant`, a
    `keras.optimizers.schedules` object for the decays, ReduceLROnPlateau for `performance`."""
    keras = import_keras()
    schedules = keras.optimizers.schedules
    spec = dict(config.schedule)
    name = spec.pop("name")
    rate = config.optimizer.model_dump()["learning_rate"]

    def steps(count: Any, epochs: Any) -> float:
        return float(count) if count is not None else max(1.0, epochs * steps_per_epoch)

    if name == "constant":
        return rate, []
    if name == "performance":
        return rate, [keras.callbacks.ReduceLROnPlateau(**spec)]
    if name == "power" and spec["power"] == 1.0:
        return schedules.InverseTimeDecay(rate, steps(spec["decay_steps"], spec["decay_epochs"]),
                                          spec["decay_rate"], spec["staircase"]), []
    if name == "exponential":
        return schedules.ExponentialDecay(rate, steps(spec["decay_steps"], spec["decay_epochs"]),
                                          spec["decay_rate"], spec["staircase"]), []
    if name == "piecewise_constant":
        bounds = spec["boundaries"] or [e * steps_per_epoch for e in spec["boundaries_epochs"]]
        return schedules.PiecewiseConstantDecay([float(b) for b in bounds], list(spec["values"])), []
    if name == "cosine" and not spec["staircase"]:
        warmup = spec["warmup_epochs"] * steps_per_epoch if spec["warmup_epochs"] is not None else spec["warmup_steps"]
        start = rate if spec["initial_learning_rate"] is None else spec["initial_learning_rate"]
        return schedules.CosineDecay(start, int(steps(spec["decay_steps"], spec["decay_epochs"])), spec["alpha"],
                                     warmup_target=spec["warmup_target"], warmup_steps=int(warmup)), []
    settings = f" with {spec}" if name in ("power", "cosine") else ""  # Keras has these, not with these settings
    raise ConfigError(f"schedule: {name!r}{settings} has no Keras counterpart (constant, performance, power with "
                      "power 1, exponential, piecewise_constant and cosine without staircase have)")


def keras_optimizer(config: Any, learning_rate: Any) -> Any:
    """The Keras optimizer of `config.optimizer`: the class by name, dnnconf's parameters (Keras's names)."""
    keras = import_keras()
    spec = config.optimizer.model_dump()
    name = spec.pop("name")
    if name not in OPTIMIZER_CLASSES:
        raise ConfigError(f"optimizer.name: {name!r} has no Keras counterpart; {', '.join(OPTIMIZER_CLASSES)} have")
    if name == "nesterov":
        spec["nesterov"] = True
    spec = {k: v for k, v in spec.items() if v is not None}
    spec["learning_rate"] = learning_rate
    return getattr(keras.optimizers, OPTIMIZER_CLASSES[name])(**spec)


def reference_data(config: Any, scaling: dict[str, Any] | None = None) -> tuple[Any, dict[str, np.ndarray]]:
    """(config resolved for its data, {x_train, y_train, x_valid, …} as numpy): dnnconf's splits, scaled with
    `scaling` (default: the training split's statistics, what dnnconf's input layer holds)."""
    from dnnconf.data.dataset import apply_normalization, load_data
    from dnnconf.train.setup import resolve_with_data

    dataset = load_data(config.data)
    resolved = resolve_with_data(config, dataset)
    statistics = scaling or dataset.normalization
    arrays = {}
    for split in ("train", "valid", "test"):
        arrays[f"x_{split}"] = apply_normalization(getattr(dataset, f"x_{split}").numpy(), statistics)
        labels = getattr(dataset, f"y_{split}").numpy()
        arrays[f"y_{split}"] = labels.astype(np.float32) if resolved.loss != "sparse_categorical_crossentropy" \
            else labels
    return resolved, {**arrays, "normalization": statistics}


def compile_for(model: Any, config: Any, steps_per_epoch: int, rate_factor: float = 1.0) -> list[Any]:
    """Compile `model` with the config's loss, optimizer and schedule; the callbacks its schedule needs."""
    keras = import_keras()
    rate, callbacks = keras_schedule(config, steps_per_epoch)
    if rate_factor != 1.0:
        if not isinstance(rate, float):
            raise ConfigError("transfer.unfreeze_lr_factor: only with a constant or performance schedule under "
                              "--reference keras")
        rate *= rate_factor
    model.compile(loss=config.loss, optimizer=keras_optimizer(config, rate), metrics=["accuracy"])
    callbacks.append(keras.callbacks.TerminateOnNaN())  # a diverged run stops, as dnnconf's does
    if config.training.early_stopping is not None:
        stop = config.training.early_stopping
        callbacks.append(keras.callbacks.EarlyStopping(monitor=stop.monitor, mode=stop.mode, min_delta=stop.min_delta,
                                                       patience=stop.patience,
                                                       restore_best_weights=stop.restore_best_weights))
    return callbacks


def fit(model: Any, config: Any, data: dict[str, np.ndarray], epochs: int, callbacks: list[Any]) -> dict[str, list]:
    """`model.fit` with the config's batch size, shuffled each epoch (Keras's default, like dnnconf's)."""
    history = model.fit(data["x_train"], data["y_train"], batch_size=config.training.batch_size, epochs=epochs,
                        validation_data=(data["x_valid"], data["y_valid"]), callbacks=callbacks, verbose=0)
    return history.history


def test_accuracy(model: Any, data: dict[str, np.ndarray]) -> float:
    """Accuracy on the test split (inference mode: Keras's `evaluate`)."""
    return float(model.evaluate(data["x_test"], data["y_test"], batch_size=4096, verbose=0, return_dict=True)
                 ["accuracy"])


def one_thread(function: Callable[[], Any]) -> Any:
    """Run `function` with one torch thread (as dnnconf's study runs), restoring the count after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return function()
    finally:
        torch.set_num_threads(before)


def train_run(config: Any, seed: int) -> dict[str, Any]:
    """Train `config` (a resolved-able dnnconf config, no transfer) in Keras from `seed`: its history and test
    accuracy; the model and data for a caller that reuses them."""
    keras = import_keras()
    resolved, data = reference_data(config)
    keras.utils.set_random_seed(seed)
    model = keras_model(resolved)
    steps = -(-len(data["x_train"]) // resolved.training.batch_size)
    callbacks = compile_for(model, resolved, steps)
    history = one_thread(lambda: fit(model, resolved, data, resolved.training.epochs, callbacks))
    return {"history": history, "test_accuracy": one_thread(lambda: test_accuracy(model, data)), "model": model,
            "data": data, "config": resolved}


def train_transfer(config: Any, source: Any, source_scaling: dict[str, Any], seed: int) -> dict[str, Any]:
    """Task B on A in Keras, as the book does it: `source`'s layers below its output copied into a model of
    `config` (its new output drawn from `seed`), frozen for `transfer.freeze_epochs` with one optimizer, then
    all unfrozen under a fresh optimizer at the rate × `unfreeze_lr_factor` for the remaining epochs."""
    keras = import_keras()
    transfer = config.transfer
    if transfer.reuse != "all_but_output" or transfer.drop_top or transfer.unfreeze != "all":
        raise ConfigError(f"transfer: --reference keras reproduces reuse all_but_output, drop_top 0, unfreeze all, "
                          f"not {transfer.model_dump(by_alias=True, exclude={'from_'})}")
    own = transfer.normalization == "own"
    resolved, data = reference_data(config, None if own else source_scaling)
    keras.utils.set_random_seed(seed)
    model = keras_model(resolved)
    if len(model.layers) != len(source.layers):
        raise ConfigError("transfer: the task B model's layers differ from the source's; --reference keras reuses "
                          "all but the output layer of an identical stack")
    for target, reused in zip(model.layers[:-1], source.layers[:-1], strict=True):
        target.set_weights(reused.get_weights())
    steps = -(-len(data["x_train"]) // resolved.training.batch_size)
    frozen = min(transfer.freeze_epochs, resolved.training.epochs)
    history: dict[str, list] = {}
    for layer in model.layers[:-1]:
        layer.trainable = False
    if frozen:
        callbacks = compile_for(model, resolved, steps)
        history = one_thread(lambda: fit(model, resolved, data, frozen, callbacks))
    for layer in model.layers:
        layer.trainable = True
    if resolved.training.epochs > frozen:
        callbacks = compile_for(model, resolved, steps, transfer.unfreeze_lr_factor)
        later = one_thread(lambda: fit(model, resolved, data, resolved.training.epochs - frozen, callbacks))
        history = {k: history.get(k, []) + v for k, v in later.items()}
    return {"history": history, "test_accuracy": one_thread(lambda: test_accuracy(model, data)), "model": model,
            "data": data, "config": resolved}
