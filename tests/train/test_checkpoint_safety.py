"""Checkpoints are verified before they are trusted, and never unpickle objects."""

import json
import os
import pickle
import subprocess
import sys

import pytest

from dnnconf import safe_write
from dnnconf.errors import RunFolderError
from dnnconf.run import train
from dnnconf.train import checkpoint
from dnnconf.train.checkpoint import latest_checkpoint, load_checkpoint


class RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def finished_run(tmp_path, digits_config):
    train(digits_config(training={"epochs": 1}), tmp_path / "run", quiet=True)
    return tmp_path / "run"


def _rewrite_manifest(path):
    manifest = {name: checkpoint._sha256(path / name) for name in checkpoint.FILES}
    (path / "manifest.json").write_text(json.dumps(manifest))


def test_a_pickle_payload_is_refused_and_does_not_run(finished_run, tmp_path):
    path = latest_checkpoint(finished_run / "checkpoint")
    marker = tmp_path / "pwned"
    for name in ("optimizer.safetensors", "optimizer.json"):
        (path / name).unlink()
    with open(path / "optimizer.pt", "wb") as handle:  # the format of older dnnconf versions: a pickle
        pickle.dump({"state": RunsCode(marker)}, handle)
    with pytest.raises(RunFolderError, match="older dnnconf.*never loaded"):
        load_checkpoint(path)
    assert not marker.exists()


def test_a_checkpoint_is_read_without_torch_load(finished_run, monkeypatch):
    import torch

    def refuse(*args, **kwargs):
        raise AssertionError("torch.load was called")

    monkeypatch.setattr(torch, "load", refuse)
    _, optimizer, _, _ = load_checkpoint(latest_checkpoint(finished_run / "checkpoint"))
    assert optimizer["state"] and optimizer["param_groups"][0]["params"]


def test_a_damaged_optimizer_json_is_one_line(finished_run):
    path = latest_checkpoint(finished_run / "checkpoint")
    (path / "optimizer.json").write_text('{"state": [], "param_groups": 3}')
    _rewrite_manifest(path)
    with pytest.raises(RunFolderError, match="optimizer.json: not an optimizer state"):
        load_checkpoint(path)


def test_a_truncated_or_altered_file_fails_its_checksum(finished_run):
    path = latest_checkpoint(finished_run / "checkpoint")
    data = (path / "model.safetensors").read_bytes()
    (path / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(RunFolderError, match="fails its checksum"):
        load_checkpoint(path)


def test_resume_from_a_corrupt_checkpoint_is_one_line_exit_2(finished_run):
    path = latest_checkpoint(finished_run / "checkpoint")
    (path / "state.json").write_text("{}")
    result = subprocess.run([sys.executable, "-m", "dnnconf", "train", str(finished_run / "config.yaml"),
                             "--resume", str(finished_run)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "checksum" in result.stderr


def test_a_full_disk_keeps_the_last_good_checkpoint(tmp_path, digits_config, monkeypatch):
    calls = {"n": 0}
    real_write = checkpoint.write_tensors

    def write_until_full(path, tensors, durable=True):
        calls["n"] += 1
        if calls["n"] > 6:  # the initial checkpoint and the first epoch's (3 safetensors files each) go through
            raise safe_write.cannot_write(path, OSError(28, "No space left on device"))
        real_write(path, tensors, durable)

    monkeypatch.setattr(checkpoint, "write_tensors", write_until_full)
    with pytest.raises(RunFolderError, match="cannot write a checkpoint.*disk is full.*is intact"):
        train(digits_config(training={"epochs": 3}), tmp_path / "run", quiet=True)
    good = latest_checkpoint(tmp_path / "run" / "checkpoint")
    _, _, _, state = load_checkpoint(good)
    assert state["epoch"] == 1
    assert not list((tmp_path / "run" / "checkpoint").glob("*.tmp"))
