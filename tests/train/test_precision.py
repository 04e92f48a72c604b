"""training.precision: bf16 autocast trains, resumes exactly and keeps float32 weights; what it cannot do is
refused with one line."""

import pytest
import torch
from safetensors.torch import load_file

from dnnconf.errors import ConfigError
from dnnconf.run import train


def weights(folder):
    return load_file(str(folder / "model.safetensors"))


def test_bf16_trains_with_float32_weights_and_differs_from_float32(tmp_path, digits_config):
    lowered = train(digits_config(training={"epochs": 2, "precision": "bf16"}), tmp_path / "bf16", quiet=True)
    full = train(digits_config(training={"epochs": 2}), tmp_path / "f32", quiet=True)
    assert all(p.dtype == torch.float32 for p in lowered.network.parameters())
    assert all(w.dtype == torch.float32 for w in weights(lowered.folder).values())
    wa, wb = weights(lowered.folder), weights(full.folder)
    assert not all(torch.equal(wa[k], wb[k]) for k in wa)  # the forward pass really ran in bfloat16
    assert lowered.test["accuracy"] > 0.8  # and it still learns (float32: ~0.95 after 2 epochs)


def test_bf16_resume_continues_to_the_same_weights(tmp_path, digits_config):
    config = {"epochs": 3, "precision": "bf16"}
    full = train(digits_config(training=config), tmp_path / "full", quiet=True)
    train(digits_config(training={**config, "epochs": 1}), tmp_path / "part", quiet=True)
    resumed = train(digits_config(training=config), resume=tmp_path / "part", force=True, quiet=True)
    assert resumed.state.epoch == 3
    wa, wb = weights(full.folder), weights(tmp_path / "part")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_bf16_with_parallel_seeds_is_refused_before_any_folder(tmp_path, digits_config):
    config = digits_config(training={"precision": "bf16", "parallel_seeds": 2, "threads": 1})
    with pytest.raises(ConfigError, match=r"training.precision: bf16 is not available with training.parallel_seeds"):
        train(config, tmp_path / "run", quiet=True)
    assert not (tmp_path / "run").exists()


def test_float16_is_refused_naming_the_key(digits_config):
    with pytest.raises(ConfigError, match=r"training.precision"):
        digits_config(training={"precision": "float16"})
