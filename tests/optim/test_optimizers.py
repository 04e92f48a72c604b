"""The optimizers follow Keras 3's names, defaults and update rules; their state survives a checkpoint.

The comparisons run Keras 3's own optimizers (torch backend) on keras.Variables with the same initial
weights and the same sequence of gradients, and are generated from the registry: a new optimizer needs
its Keras class in KERAS_CLASSES.
"""

import inspect
import io
import math

import pytest
import torch

from dnnconf.errors import ConfigError
from dnnconf.optim.optimizers import OPTIMIZERS, KerasOptimizer, momentum_key

# Keras's torch Nadam converts a tensor with np.array (numpy 2 deprecation, Keras's own code)
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy:DeprecationWarning")

KERAS_CLASSES = {"sgd": "SGD", "adagrad": "Adagrad", "rmsprop": "RMSprop", "adam": "Adam", "adamax": "Adamax",
                 "nadam": "Nadam", "adamw": "AdamW"}
SHAPES = [(7, 5), (5,), (3, 4, 2), (1,)]
STEPS = 50
RTOL, ATOL = 1e-5, 1e-6

# the note's settings, besides every optimizer's defaults
NOTE_SETTINGS = [
    {"name": "sgd", "momentum": 0.9},
    {"name": "sgd", "momentum": 0.9, "nesterov": True},
    {"name": "rmsprop", "rho": 0.9},
    {"name": "rmsprop", "rho": 0.9, "momentum": 0.9, "centered": True},
    {"name": "adam", "beta_1": 0.9, "beta_2": 0.999},
    {"name": "adam", "amsgrad": True},
    {"name": "adamax", "beta_1": 0.9, "beta_2": 0.999},
    {"name": "nadam", "beta_1": 0.9, "beta_2": 0.999},
    {"name": "adamw", "weight_decay": 1e-5},
    {"name": "adamw", "weight_decay": 0.1, "amsgrad": True},
    {"name": "sgd", "momentum": 0.5, "weight_decay": 0.01},
    {"name": "adam", "weight_decay": 0.05},
    {"name": "adagrad", "learning_rate": 0.05, "initial_accumulator_value": 0.0},
]
CASES = [{"name": name} for name in OPTIMIZERS.names()] + NOTE_SETTINGS


def case_id(spec):
    params = ",".join(f"{k}={v}" for k, v in spec.items() if k != "name")
    return f"{spec['name']}[{params}]" if params else spec["name"]


def initial_weights():
    generator = torch.Generator().manual_seed(0)
    return [torch.randn(shape, generator=generator) * 0.5 for shape in SHAPES]


def gradients(steps=STEPS, seed=1):
    """Random gradients of varied scale, one list per step (the last tensor sometimes exactly 0)."""
    generator = torch.Generator().manual_seed(seed)
    out = []
    for t in range(steps):
        scale = 10.0 ** (t % 5 - 4)
        grads = [torch.randn(shape, generator=generator) * scale for shape in SHAPES]
        if t % 7 == 3:
            grads[-1].zero_()
        out.append(grads)
    return out


def hyperparameters(spec, t):
    """A schedule that changes the learning rate, and the momentum (β₁) where there is one, every step."""
    lr = OPTIMIZERS.resolve(spec)["learning_rate"] * (0.3 + 1.7 * abs(math.sin(0.37 * t)))
    return lr, 0.85 + 0.1 * abs(math.cos(0.23 * t))


def build(spec, params, fused=True):
    """The registry's optimizer; fused=False forces the foreach path where a fused kernel would run."""
    if fused:
        return OPTIMIZERS.build(spec, "optimizer", params=params)
    resolved = OPTIMIZERS.resolve(spec, "optimizer")
    return OPTIMIZERS.get(resolved.pop("name")).factory(params, **resolved, fused=False)


def run_ours(spec, steps=STEPS, schedule=False, weights=None, grads=None, fused=True):
    params = [torch.nn.Parameter(w.clone()) for w in (weights or initial_weights())]
    optimizer = build(spec, params, fused)
    key = momentum_key(optimizer)
    for t, step_grads in enumerate((grads or gradients())[:steps]):
        if schedule:
            lr, momentum = hyperparameters(spec, t)
            for group in optimizer.param_groups:
                group["lr"] = lr
                if key == "betas":
                    group["betas"] = (momentum, group["betas"][1])
                elif key == "momentum":
                    group["momentum"] = momentum
        for p, g in zip(params, step_grads, strict=True):
            p.grad = g.clone()
        optimizer.step()
    return [p.detach() for p in params], optimizer


KERAS_RESULTS = {}


def run_keras(spec, steps=STEPS, schedule=False):
    key = (repr(sorted(spec.items())), steps, schedule)
    if key not in KERAS_RESULTS:
        KERAS_RESULTS[key] = _run_keras(spec, steps, schedule)
    return KERAS_RESULTS[key]


def _run_keras(spec, steps, schedule):
    keras = pytest.importorskip("keras")
    resolved = OPTIMIZERS.resolve(spec)
    name = resolved.pop("name")
    optimizer = getattr(keras.optimizers, KERAS_CLASSES[name])(**resolved)
    variables = [keras.Variable(w.numpy()) for w in initial_weights()]
    attribute = {"sgd": "momentum", "rmsprop": "momentum"}.get(name, "beta_1")
    for t, step_grads in enumerate(gradients()[:steps]):
        if schedule:
            lr, momentum = hyperparameters(spec, t)
            optimizer.learning_rate = lr
            if attribute == "beta_1" or resolved.get("momentum"):
                setattr(optimizer, attribute, momentum)
        optimizer.apply_gradients(zip([g.clone() for g in step_grads], variables, strict=True))
    return [v.value.detach().clone() for v in variables]


def assert_close_to_keras(ours, theirs):
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=RTOL, atol=ATOL)


OWN_CLASSES = [entry.name for entry in OPTIMIZERS if entry.expands_to is None]  # not the note's presets


def test_every_optimizer_has_a_keras_twin_and_a_description():
    assert sorted(KERAS_CLASSES) == OWN_CLASSES
    for entry in OPTIMIZERS:
        assert entry.description and "\n" not in entry.description and "|" not in entry.description


@pytest.mark.parametrize("preset, meaning", [
    ("momentum", {"name": "sgd", "momentum": 0.9}),
    ("nesterov", {"name": "sgd", "momentum": 0.9, "nesterov": True}),
    ({"name": "nesterov", "learning_rate": 0.001, "momentum": 0.95},
     {"name": "sgd", "learning_rate": 0.001, "momentum": 0.95, "nesterov": True}),
])
def test_the_notes_optimizer_names_resolve_to_sgd_with_its_momentum(preset, meaning):
    """"Momentum optimization" and "Nesterov accelerated gradient" (the note's §3) are sgd with momentum 0.9."""
    assert OPTIMIZERS.resolve(preset) == OPTIMIZERS.resolve(meaning)
    assert isinstance(OPTIMIZERS.build(preset, params=[torch.nn.Parameter(torch.zeros(2))]),
                      type(OPTIMIZERS.build("sgd", params=[torch.nn.Parameter(torch.zeros(2))])))


@pytest.mark.parametrize("spec, message", [
    ({"name": "nesterov", "nesterov": False}, "optimizer.nesterov: unknown key; accepted: learning_rate, momentum"),
    ({"name": "momentum", "momentum": 0.0}, "optimizer.momentum: Input should be greater than 0"),
])
def test_a_preset_cannot_be_contradicted(spec, message):
    with pytest.raises(ConfigError, match=message):
        OPTIMIZERS.resolve(spec, "optimizer")


def test_a_resolved_config_shows_what_the_preset_means():
    from dnnconf.config import config_from_dict, dump_config

    text = dump_config(config_from_dict({"optimizer": {"name": "momentum"}}))
    assert "name: sgd" in text and "momentum: 0.9" in text and "nesterov: false" in text


@pytest.mark.parametrize("name", OWN_CLASSES)
def test_names_and_defaults_are_keras(name):
    keras = pytest.importorskip("keras")
    signature = inspect.signature(getattr(keras.optimizers, KERAS_CLASSES[name]).__init__)
    resolved = OPTIMIZERS.resolve(name)
    resolved.pop("name")
    for key, value in resolved.items():
        assert key in signature.parameters, key
        assert signature.parameters[key].default == value, key


@pytest.mark.parametrize("fused", [True, False], ids=["default", "foreach"])
@pytest.mark.parametrize("spec", CASES, ids=case_id)
def test_fifty_steps_match_keras(spec, fused):
    ours, _ = run_ours(spec, fused=fused)
    assert_close_to_keras(ours, run_keras(spec))


@pytest.mark.parametrize("spec", [{"name": "sgd", "momentum": 0.9}, {"name": "sgd", "momentum": 0.9, "nesterov": True},
                                  {"name": "rmsprop", "momentum": 0.9, "centered": True}, {"name": "adam"},
                                  {"name": "adamw", "amsgrad": True}, {"name": "nadam"}, {"name": "adamax"},
                                  {"name": "adagrad"}], ids=case_id)
@pytest.mark.parametrize("fused", [True, False], ids=["default", "foreach"])
def test_schedules_that_change_lr_and_momentum_every_step_match_keras(spec, fused):
    ours, _ = run_ours(spec, schedule=True, fused=fused)
    assert_close_to_keras(ours, run_keras(spec, schedule=True))


def keras_form(state):
    """An SGD state whose velocity the fused Nesterov path keeps as torch's b = −m/η, as Keras's m."""
    state = dict(state)
    if "velocity_lr" in state:
        state["momentum"] = state["momentum"] * -state.pop("velocity_lr")
    return state


@pytest.mark.parametrize("spec", [{"name": "sgd", "momentum": 0.9}, {"name": "sgd", "momentum": 0.9, "nesterov": True},
                                  {"name": "adam", "amsgrad": True}, {"name": "adamw"}, {"name": "adagrad"}],
                         ids=case_id)
def test_the_fused_kernels_run_on_cpu_and_keep_the_same_state(spec):
    """The fused path is taken for float32 CPU tensors, and its state continues on the foreach path."""
    fused, optimizer = run_ours(spec, steps=10)
    assert optimizer._fusable([p for group in optimizer.param_groups for p in group["params"]])
    foreach, reference = run_ours(spec, steps=10, fused=False)
    for p, q in zip(optimizer.param_groups[0]["params"], reference.param_groups[0]["params"], strict=True):
        state = keras_form(optimizer.state[p])
        assert state.keys() == reference.state[q].keys()
        for key in state:
            torch.testing.assert_close(state[key], reference.state[q][key], rtol=RTOL, atol=ATOL)
    params = [torch.nn.Parameter(w.clone()) for w in fused]
    resumed = build(spec, params, fused=False)
    resumed.load_state_dict(optimizer.state_dict())
    for step_grads in gradients()[10:]:
        for p, g in zip(params, step_grads, strict=True):
            p.grad = g.clone()
        resumed.step()
    assert_close_to_keras([p.detach() for p in params], run_keras(spec))


def test_sgd_momentum_with_a_changing_learning_rate_is_keras_not_torch():
    """Keras's velocity holds −ηg, torch.optim's holds g: the rules part when η changes."""
    spec = {"name": "sgd", "momentum": 0.9}
    ours, _ = run_ours(spec, schedule=True)
    keras = run_keras(spec, schedule=True)
    assert_close_to_keras(ours, keras)
    params = [torch.nn.Parameter(w.clone()) for w in initial_weights()]
    reference = torch.optim.SGD(params, lr=0.01, momentum=0.9)
    for t, step_grads in enumerate(gradients()):
        lr, momentum = hyperparameters(spec, t)
        reference.param_groups[0].update(lr=lr, momentum=momentum)
        for p, g in zip(params, step_grads, strict=True):
            p.grad = g.clone()
        reference.step()
    assert any(not torch.allclose(p.detach(), k, rtol=RTOL, atol=ATOL) for p, k in zip(params, keras, strict=True))


@pytest.mark.parametrize("fused", [True, False], ids=["default", "foreach"])
@pytest.mark.parametrize("spec", CASES, ids=case_id)
def test_state_dict_round_trip_continues_bit_for_bit(spec, fused):
    grads = gradients(20)
    straight, _ = run_ours(spec, steps=20, schedule=True, grads=grads, fused=fused)

    half, optimizer = run_ours(spec, steps=10, schedule=True, grads=grads, fused=fused)
    buffer = io.BytesIO()
    torch.save(optimizer.state_dict(), buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)

    params = [torch.nn.Parameter(w.clone()) for w in half]
    fresh = build(spec, params, fused)
    fresh.load_state_dict(saved)
    key = momentum_key(fresh)
    for t in range(10, 20):
        lr, momentum = hyperparameters(spec, t)
        for group in fresh.param_groups:
            group["lr"] = lr
            if key == "betas":
                group["betas"] = (momentum, group["betas"][1])
            elif key == "momentum":
                group["momentum"] = momentum
        for p, g in zip(params, grads[t], strict=True):
            p.grad = g.clone()
        fresh.step()
    for a, b in zip(params, straight, strict=True):
        assert torch.equal(a.detach(), b)


def test_parameters_without_gradients_are_left_alone():
    weights = initial_weights()
    params = [torch.nn.Parameter(w.clone()) for w in weights]
    optimizer = OPTIMIZERS.build({"name": "adamw", "weight_decay": 0.5}, params=params)
    params[0].grad = torch.ones_like(params[0])
    optimizer.step()
    assert not torch.equal(params[0].detach(), weights[0])
    assert all(torch.equal(p.detach(), w) for p, w in zip(params[1:], weights[1:], strict=True))
    assert optimizer.param_groups[0]["step"] == 1 and len(optimizer.state) == 1


def test_param_groups_may_set_their_own_learning_rate():
    weights = initial_weights()
    params = [torch.nn.Parameter(w.clone()) for w in weights]
    optimizer = OPTIMIZERS.build("sgd", params=[{"params": params[:2]}, {"params": params[2:], "lr": 0.0}])
    for p in params:
        p.grad = torch.ones_like(p)
    optimizer.step()
    assert torch.allclose(params[0].detach(), weights[0] - 0.01)
    assert torch.equal(params[2].detach(), weights[2])


@pytest.mark.parametrize("spec, key", [
    ({"name": "sgd", "momentum": 0.9}, "momentum"),
    ({"name": "sgd"}, None),
    ({"name": "rmsprop", "momentum": 0.5}, "momentum"),
    ({"name": "rmsprop"}, None),
    ({"name": "adagrad"}, None),
    ({"name": "adam"}, "betas"),
    ({"name": "adamw"}, "betas"),
    ({"name": "adamax"}, "betas"),
    ({"name": "nadam"}, "betas"),
])
def test_momentum_key(spec, key):
    optimizer = OPTIMIZERS.build(spec, params=[torch.nn.Parameter(torch.zeros(2))])
    assert isinstance(optimizer, KerasOptimizer) and momentum_key(optimizer) == key


@pytest.mark.parametrize("spec, words", [
    ({"name": "sgd", "learning_rate": 0}, ["optimizer.learning_rate", "0"]),
    ({"name": "adam", "learning_rate": -1e-3}, ["optimizer.learning_rate"]),
    ({"name": "adam", "learning_rate": float("inf")}, ["optimizer.learning_rate"]),
    ({"name": "sgd", "momentum": 1.0}, ["optimizer.momentum"]),
    ({"name": "sgd", "nesterov": True}, ["nesterov", "momentum > 0"]),
    ({"name": "rmsprop", "rho": 1.0}, ["optimizer.rho"]),
    ({"name": "rmsprop", "momentum": -0.1}, ["optimizer.momentum"]),
    ({"name": "adam", "beta_1": 1.0}, ["optimizer.beta_1"]),
    ({"name": "nadam", "beta_2": -0.5}, ["optimizer.beta_2"]),
    ({"name": "adamax", "epsilon": 0}, ["optimizer.epsilon"]),
    ({"name": "adagrad", "initial_accumulator_value": -1}, ["optimizer.initial_accumulator_value"]),
    ({"name": "adamw", "weight_decay": None}, ["optimizer.weight_decay"]),
    ({"name": "sgd", "weight_decay": -0.1}, ["optimizer.weight_decay"]),
    ({"name": "adam", "beta1": 0.9}, ["optimizer.beta1", "did you mean 'beta_1'"]),
    ({"name": "adam", "amsgrad": "sometimes"}, ["optimizer.amsgrad"]),
])
def test_bad_parameters_name_the_key(spec, words):
    with pytest.raises(ConfigError) as error:
        OPTIMIZERS.resolve(spec, "optimizer")
    for word in words:
        assert word in str(error.value)
