"""A full disk at every write of a run: one line naming the file, the last good checkpoint loads, and
`--resume` once there is room again ends with the weights of a run that never met a full disk."""

import errno

import pytest
import torch
from safetensors.torch import load_file

from dnnconf.errors import RunFolderError
from dnnconf.run import train
from dnnconf.train import safe_write
from dnnconf.train.checkpoint import latest_checkpoint, load_checkpoint

SECTIONS = {"training": {"epochs": 2, "batch_size": 128}, "model": {"hidden": [8]}}


def count_writes(monkeypatch, tmp_path, config):
    calls = []
    real = safe_write._os_write
    monkeypatch.setattr(safe_write, "_os_write", lambda fd, data: calls.append(1) or real(fd, data))
    train(config, tmp_path / "count", quiet=True)
    monkeypatch.setattr(safe_write, "_os_write", real)
    return len(calls)


def test_every_write_of_a_run_reports_a_full_disk_in_one_line_and_resumes(tmp_path, digits_config, monkeypatch):
    config = digits_config(**SECTIONS)
    writes = count_writes(monkeypatch, tmp_path, config)
    expected = load_file(str(tmp_path / "count" / "model.safetensors"))
    assert writes > 20  # config, normalization, 3 checkpoints of 6 files, history, weights, plots, report, metrics
    real = safe_write._os_write
    for failing in range(1, writes + 1):
        run = tmp_path / f"full-{failing}"
        calls = {"n": 0}

        def write(fd, data, failing=failing, calls=calls):
            calls["n"] += 1
            if calls["n"] == failing:
                raise OSError(errno.ENOSPC, "No space left on device")
            return real(fd, data)

        monkeypatch.setattr(safe_write, "_os_write", write)
        with pytest.raises(RunFolderError) as raised:
            train(config, run, quiet=True)
        monkeypatch.setattr(safe_write, "_os_write", real)
        message = str(raised.value)
        assert "\n" not in message and "disk is full" in message and str(run) in message, message
        assert not [p for p in run.rglob("*.tmp")], "a temporary was left behind"
        if (run / "checkpoint" / "LATEST").exists():
            load_checkpoint(latest_checkpoint(run / "checkpoint"))  # the last good checkpoint loads
        if (run / "config.yaml").exists():  # room again: the run continues (or starts over) to the end
            train(config, resume=run, quiet=True)
        else:  # the very first write failed: nothing of the run is there to resume
            train(config, run, force=True, quiet=True)
        weights = load_file(str(run / "model.safetensors"))
        assert all(torch.equal(weights[k], expected[k]) for k in expected), f"write {failing}"
