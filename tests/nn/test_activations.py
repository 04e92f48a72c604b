"""Activations: every registry entry builds and runs; outputs match Keras 3 (torch backend)."""

from __future__ import annotations

import os

import pytest
import torch
from torch import nn

from dnnconf.errors import ConfigError
from dnnconf.nn.activations import ACTIVATIONS, RECOMMENDED_INIT, is_relu_family, is_saturating

UNITS = 80
GRID = torch.linspace(-8.0, 8.0, 20 * UNITS).reshape(20, UNITS)  # a fixed grid, 0 excluded


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


def run(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return module(x)


# spec -> the Keras computation it must equal (Keras parameter names, set explicitly)
KERAS_CASES = [
    ("relu", lambda k, x: k.activations.relu(x)),
    ("leaky_relu", lambda k, x: k.activations.leaky_relu(x, negative_slope=0.2)),
    ({"name": "leaky_relu", "alpha": 0.3}, lambda k, x: k.layers.LeakyReLU(negative_slope=0.3)(x)),
    ("prelu", lambda k, x: k.layers.PReLU()(x)),
    ({"name": "prelu", "alpha_init": 0.25},
     lambda k, x: k.layers.PReLU(alpha_initializer=k.initializers.Constant(0.25))(x)),
    ("elu", lambda k, x: k.activations.elu(x, alpha=1.0)),
    ({"name": "elu", "alpha": 0.5}, lambda k, x: k.activations.elu(x, alpha=0.5)),
    ("selu", lambda k, x: k.activations.selu(x)),
    ("gelu", lambda k, x: k.activations.gelu(x, approximate=False)),
    ({"name": "gelu", "approximate": True}, lambda k, x: k.activations.gelu(x, approximate=True)),
    ("swish", lambda k, x: k.activations.swish(x)),
    ("silu", lambda k, x: k.activations.silu(x)),
    ("mish", lambda k, x: k.activations.mish(x)),
    ("tanh", lambda k, x: k.activations.tanh(x)),
    ("sigmoid", lambda k, x: k.activations.sigmoid(x)),
    ("softplus", lambda k, x: k.activations.softplus(x)),
    ("softmax", lambda k, x: k.activations.softmax(x, axis=-1)),
    ("linear", lambda k, x: k.activations.linear(x)),
]


def case_id(case):
    spec = case[0]
    return spec if isinstance(spec, str) else "-".join(str(v) for v in spec.values())


# --- registry-generated ---


@pytest.mark.parametrize("name", ACTIVATIONS.names())
def test_every_entry_builds_runs_and_is_described(name):
    assert ACTIVATIONS.get(name).description
    module = ACTIVATIONS.build(name, units=UNITS)  # the builder passes units to every activation
    assert isinstance(module, nn.Module)
    y = module(GRID)
    assert y.shape == GRID.shape and torch.isfinite(y).all()
    assert isinstance(ACTIVATIONS.build(name), nn.Module)  # units is optional


def test_every_entry_has_a_keras_case_and_an_init_family():
    names = {ACTIVATIONS.get(spec if isinstance(spec, str) else spec["name"]).name for spec, _ in KERAS_CASES}
    assert names == set(ACTIVATIONS.names())
    assert set(RECOMMENDED_INIT) == set(ACTIVATIONS.names()) | {"silu"}
    assert set(RECOMMENDED_INIT.values()) == {"glorot", "he", "lecun"}


# --- parity with Keras 3 ---


@pytest.mark.parametrize("case", KERAS_CASES, ids=case_id)
def test_matches_keras(keras, case):
    spec, reference = case
    ours = run(ACTIVATIONS.build(spec, units=UNITS), GRID)
    theirs = torch.as_tensor(reference(keras, GRID.clone())).detach()
    torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=1e-6)


def test_swish_beta_is_the_formula():
    z = GRID.double()
    module = ACTIVATIONS.build({"name": "swish", "beta": 1.7})
    torch.testing.assert_close(run(module, z), z * torch.sigmoid(1.7 * z))


def test_trainable_swish_beta_gets_a_gradient():
    module = ACTIVATIONS.build({"name": "swish", "beta": 1.5, "trainable": True})
    (beta,) = module.parameters()
    z = GRID.double()
    module.double()(z).sum().backward()
    s = torch.sigmoid(1.5 * z)
    torch.testing.assert_close(beta.grad, (z * z * s * (1 - s)).sum())  # d/dβ Σ z·σ(βz)


def test_fixed_unit_swish_is_the_fused_silu():
    assert isinstance(ACTIVATIONS.build("silu"), nn.SiLU)
    assert list(ACTIVATIONS.build({"name": "swish", "beta": 2.0}).parameters()) == []
    assert ACTIVATIONS.resolve("silu") == {"name": "swish", "beta": 1.0, "trainable": False}


def test_prelu_learns_one_slope_per_unit():
    module = ACTIVATIONS.build({"name": "prelu", "alpha_init": 0.1}, units=UNITS)
    (alpha,) = module.parameters()
    assert alpha.shape == (UNITS,) and torch.all(alpha == 0.1)
    module(GRID).sum().backward()
    torch.testing.assert_close(alpha.grad, GRID.clamp(max=0).sum(0))
    assert next(ACTIVATIONS.build("prelu").parameters()).shape == (1,)  # no units: one shared slope


def test_defaults_are_keras_3():
    assert ACTIVATIONS.resolve("leaky_relu") == {"name": "leaky_relu", "alpha": 0.2}
    assert ACTIVATIONS.resolve("elu") == {"name": "elu", "alpha": 1.0}
    assert ACTIVATIONS.resolve("gelu") == {"name": "gelu", "approximate": False}
    assert ACTIVATIONS.resolve("prelu") == {"name": "prelu", "alpha_init": 0.0}


def test_families_and_helpers():
    assert RECOMMENDED_INIT["selu"] == "lecun"
    assert RECOMMENDED_INIT["relu"] == RECOMMENDED_INIT["gelu"] == RECOMMENDED_INIT["silu"] == "he"
    assert RECOMMENDED_INIT["linear"] == RECOMMENDED_INIT["tanh"] == "glorot"
    assert is_relu_family("relu") and is_relu_family("silu") and not is_relu_family("tanh")
    assert is_saturating("sigmoid") and is_saturating("softmax") and not is_saturating("relu")
    for name in ACTIVATIONS.names():
        assert not (is_relu_family(name) and is_saturating(name))
        if is_saturating(name):
            assert RECOMMENDED_INIT[name] == "glorot"


# --- errors ---


def test_unknown_name_lists_names_and_nearest():
    pattern = r"model.activation: 'rellu' is not one of the known activations \(did you mean 'relu'\?\); known: .*leaky"
    with pytest.raises(ConfigError, match=pattern):
        ACTIVATIONS.build("rellu", "model.activation")


@pytest.mark.parametrize(
    ("spec", "pattern"),
    [
        ({"name": "leaky_relu", "negative_slope": 0.1}, r"negative_slope: unknown key; accepted: alpha"),
        ({"name": "leaky_relu", "alpha": -0.1}, r"alpha: .*greater than or equal to 0.*-0.1"),
        ({"name": "gelu", "approximate": "tanh"}, r"approximate: .*'tanh'"),
        ({"name": "relu", "alpha": 0.1}, r"alpha: unknown key"),
        ({"name": "swish", "beta": "big"}, r"beta: "),
    ],
)
def test_bad_params_name_the_key(spec, pattern):
    with pytest.raises(ConfigError, match=pattern):
        ACTIVATIONS.resolve(spec)
