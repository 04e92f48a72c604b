"""Initializers: every registry entry builds and fills; statistics match Keras 3 (torch backend)."""

from __future__ import annotations

import math
import os

import pytest
import torch

from dnnconf.errors import ConfigError
from dnnconf.nn.initializers import FAMILY, INITIALIZERS, fans

# PyTorch layout: a 784->300 dense layer, a 10->3 dense layer, a 3x3 conv from 16 to 32 channels.
SHAPES = {"dense": (300, 784), "small": (3, 10), "conv": (32, 16, 3, 3)}
SAMPLES = 60_000  # per comparison: relative SE of a variance ≈ sqrt(2/n) ≈ 0.6%

# The variance-scaling family as the spec states it: name -> (distribution, scale, mode).
VS = {
    "variance_scaling": ("truncated_normal", 1.0, "fan_in"),
    "glorot_normal": ("truncated_normal", 1.0, "fan_avg"),
    "glorot_uniform": ("uniform", 1.0, "fan_avg"),
    "he_normal": ("truncated_normal", 2.0, "fan_in"),
    "he_uniform": ("uniform", 2.0, "fan_in"),
    "lecun_normal": ("truncated_normal", 1.0, "fan_in"),
    "lecun_uniform": ("uniform", 1.0, "fan_in"),
}


def expected(spec, shape) -> tuple[str, float | None, float | None]:
    """(distribution, variance, bound) the spec should give on `shape`, from Keras's definitions:
    bound is 2σ (σ before the cut) for truncated normals, the limit for uniforms, else None."""
    name = spec["name"]
    if name == "truncated_normal":
        return "truncated_normal", None, 2 * spec.get("stddev", 0.05)
    if name == "random_uniform":
        return "uniform", None, max(abs(spec.get("minval", -0.05)), abs(spec.get("maxval", 0.05)))
    if name not in VS:
        return name, None, None
    distribution, scale, mode = (spec.get(key, default) for key, default in
                                 zip(("distribution", "scale", "mode"), VS[name], strict=True))
    distribution = "truncated_normal" if distribution == "normal" else distribution
    fan_in, fan_out = fans(shape)
    variance = scale / {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
    bound = {"truncated_normal": 2 * math.sqrt(variance) / 0.87962566103423978,
             "uniform": math.sqrt(3 * variance)}.get(distribution)
    return distribution, variance, bound


# Defaults of every entry, plus non-default parameters (same names as Keras's).
SPECS = [{"name": name} for name in INITIALIZERS.names()] + [
    {"name": "variance_scaling", "scale": 0.5, "mode": "fan_out", "distribution": "uniform"},
    {"name": "variance_scaling", "scale": 3.0, "mode": "fan_avg", "distribution": "untruncated_normal"},
    {"name": "variance_scaling", "scale": 2.0, "distribution": "normal"},
    {"name": "random_normal", "mean": 1.0, "stddev": 0.2},
    {"name": "truncated_normal", "mean": -0.5, "stddev": 0.1},
    {"name": "random_uniform", "minval": 0.0, "maxval": 1.0},
    {"name": "orthogonal", "gain": 2.0},
]


def keras_shape(shape):
    """PyTorch (out, in, *k) -> Keras (*k, in, out)."""
    return (*shape[2:], shape[1], shape[0])


def from_keras(x: torch.Tensor) -> torch.Tensor:
    """A batch of Keras-layout tensors (n, *k, in, out) -> PyTorch layout (n, out, in, *k)."""
    d = x.dim() - 1
    return x.permute(0, d, d - 1, *range(1, d - 1))


def draws(spec, shape) -> int:
    n = math.ceil(SAMPLES / math.prod(shape))
    # Keras's orthogonal takes ~6 ms a call: fewer draws (the quantile tolerance widens to match).
    return min(n, 200) if spec["name"] == "orthogonal" else n


def sample_ours(spec, shape) -> torch.Tensor:
    init = INITIALIZERS.build(spec)
    generator = torch.Generator().manual_seed(0)
    out = torch.empty(draws(spec, shape), *shape)
    for w in out:
        init(w, generator)
    return out


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """These tensors are small: on a busy machine, once a large QR has woken MKL's OpenMP threads,
    each small QR can wait ~0.4 s for them (seen on 2 shared cores), so run this module on one."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


def sample_keras(keras, spec, shape) -> torch.Tensor:
    params = {k: v for k, v in spec.items() if k != "name"}
    cls = type(keras.initializers.get(spec["name"]))
    config = cls().get_config()
    if "seed" in config:
        params["seed"] = keras.random.SeedGenerator(0)  # a fresh draw at each call
    n, kshape = draws(spec, shape), keras_shape(shape)
    # Draw all n weights in one call where the fans cannot see the leading draw axis (Keras's
    # per-call overhead is ~0.5 ms): shape-free initializers, and VarianceScaling told the weight's
    # own axes (test_fans_match_keras checks its default path). Orthogonal needs one QR per weight.
    batched = spec["name"] not in {*VS, "orthogonal"} or "input_axes" in config
    if spec["name"] in VS and batched:
        d = len(kshape)
        params |= {"input_axes": list(range(1, d)), "output_axes": [*range(1, d - 1), d]}
    init = cls(**params)
    if batched:
        return from_keras(torch.as_tensor(init((n, *kshape))))
    return from_keras(torch.stack([torch.as_tensor(init(kshape)) for _ in range(n)]))


def spec_id(spec):
    return "-".join(f"{v}" for v in spec.values())


# --- registry-generated: every entry builds with defaults, fills, is reproducible ---


@pytest.mark.parametrize("name", INITIALIZERS.names())
def test_every_entry_builds_fills_and_is_described(name):
    assert INITIALIZERS.get(name).description
    init = INITIALIZERS.build(name)
    w = torch.full(SHAPES["conv"], float("nan"))
    init(w, torch.Generator().manual_seed(1))
    again = torch.empty_like(w)
    init(again, torch.Generator().manual_seed(1))
    assert torch.isfinite(w).all() and torch.equal(w, again)
    # fills a leaf parameter in place without recording autograd history
    p = torch.nn.Parameter(torch.empty(SHAPES["small"]))
    init(p)
    assert p.grad_fn is None and torch.isfinite(p).all()


def test_fans_follow_keras():
    assert fans((300, 784)) == (784, 300)
    assert fans(torch.Size([32, 16, 3, 3])) == (144, 288)
    assert fans((8, 4, 5)) == (20, 40)
    assert fans((7,)) == (7, 7) and fans(()) == (1, 1)


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("spec", [s for s in SPECS if s["name"] in VS], ids=spec_id)
def test_variance_scaling_formula(spec, shape):
    """Variance is scale/fan; truncated draws use ±2σ; uniform draws ±sqrt(3·scale/fan)."""
    distribution, variance, bound = expected(spec, shape)
    x = sample_ours(spec, shape)
    assert x.var().item() == pytest.approx(variance, rel=0.05)
    if bound is not None:
        assert bound * 0.97 <= x.abs().max().item() <= bound * (1 + 1e-6)


def test_family_names_the_presets():
    assert FAMILY == {name: name.split("_")[0] for name in VS if name != "variance_scaling"}
    assert set(FAMILY) <= set(INITIALIZERS.names())


def test_orthogonal_on_the_keras_reshape():
    gain = 1.5
    init = INITIALIZERS.build({"name": "orthogonal", "gain": gain})
    for shape in [(300, 784), (784, 300), (3, 10), (32, 16, 3, 3), (64, 2, 2, 2)]:
        w = torch.empty(shape, dtype=torch.float64)
        init(w, torch.Generator().manual_seed(0))
        k = w.permute(*range(2, w.dim()), 1, 0).reshape(-1, shape[0])  # Keras 2-D: (prod(k)·in, out)
        gram = k.T @ k if k.shape[0] >= k.shape[1] else k @ k.T
        torch.testing.assert_close(gram, gain**2 * torch.eye(min(k.shape), dtype=torch.float64))
    with pytest.raises(ConfigError, match="2-D"):
        init(torch.empty(5))


# --- parity with Keras 3 ---


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_statistics_match_keras(keras, spec, shape):
    ours, theirs = sample_ours(spec, shape), sample_keras(keras, spec, shape)
    assert ours.shape == theirs.shape
    std = max(ours.std().item(), theirs.std().item())
    assert ours.mean().item() == pytest.approx(theirs.mean().item(), abs=0.05 * std + 1e-12)
    assert ours.var().item() == pytest.approx(theirs.var().item(), rel=0.05, abs=1e-12)
    # the shape of the distribution (normal, truncated normal or uniform), not only its scale
    q = torch.tensor([0.01, 0.1, 0.5, 0.9, 0.99], dtype=torch.float64)
    atol = 0.1 * std * math.sqrt(SAMPLES / ours.numel()) + 1e-12
    torch.testing.assert_close(ours.double().flatten().quantile(q), theirs.double().flatten().quantile(q),
                               atol=atol, rtol=0)
    distribution, _, bound = expected(spec, shape)
    if distribution == "uniform":
        assert ours.min().item() == pytest.approx(theirs.min().item(), abs=0.01 * bound)
        assert ours.max().item() == pytest.approx(theirs.max().item(), abs=0.01 * bound)
    if distribution == "truncated_normal":
        mean = spec.get("mean", 0.0)
        assert bound * 0.97 <= (ours - mean).abs().max().item() <= bound * (1 + 1e-6)
        # Keras's torch backend keeps the first of 4 normal draws inside ±2σ, or the first draw when
        # none is: ~4e-6 of its values escape the bound, so only its bulk is held to it.
        assert ((theirs - mean).abs() > bound * (1 + 1e-6)).float().mean().item() < 1e-4


def test_fans_match_keras(keras):
    from keras.src.initializers.random_initializers import compute_fans

    for shape in [*SHAPES.values(), (5, 4, 3), (2, 3, 4, 5, 6)]:
        assert fans(shape) == compute_fans(keras_shape(shape))


# --- errors ---


def test_unknown_name_lists_names_and_nearest():
    with pytest.raises(ConfigError, match=r"did you mean 'he_normal'\?.*known: .*glorot_uniform"):
        INITIALIZERS.build("he_normall")


@pytest.mark.parametrize(
    ("spec", "pattern"),
    [
        ({"name": "variance_scaling", "scale": -1}, r"scale: .*greater than 0.*-1"),
        ({"name": "variance_scaling", "mode": "fan_mid"}, r"mode: .*fan_mid"),
        ({"name": "variance_scaling", "distribution": "cauchy"}, r"distribution: .*cauchy"),
        ({"name": "variance_scaling", "scal": 2}, r"scal: unknown key \(did you mean 'scale'\?\)"),
        ({"name": "he_normal", "scale": 2}, r"scale: unknown key"),
        ({"name": "random_normal", "stddev": 0}, r"stddev: .*greater than 0"),
        ({"name": "random_uniform", "minval": 0.1, "maxval": -0.1},
         r"minval \(0.1\) must be < maxval \(-0.1\)"),
    ],
)
def test_bad_params_name_the_key(spec, pattern):
    with pytest.raises(ConfigError, match=pattern):
        INITIALIZERS.resolve(spec, "model.kernel_initializer")


def test_normal_means_truncated_normal_as_in_keras():
    resolved = INITIALIZERS.resolve({"name": "variance_scaling", "distribution": "Normal"})
    assert resolved == {"name": "variance_scaling", "scale": 1.0, "mode": "fan_in",
                        "distribution": "truncated_normal"}
