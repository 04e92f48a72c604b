"""A full disk at every write of a run: one line naming the file, the last good checkpoint loads, and
`--resume` once there is room again ends with the weights of a run that never met a full disk."""

import errno

import pytest
import torch
from safetensors.torch import load_file

from dnnconf import safe_write
from dnnconf.errors import RunFolderError
from dnnconf.run import train
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


@pytest.mark.parametrize("size_kib", [64, 160, 320])
def test_a_real_full_disk_is_one_line_and_keeps_the_last_good_checkpoint(tmp_path, size_kib):
    """A run on a tmpfs too small for it (mounting one needs root: skipped elsewhere)."""
    import subprocess
    import sys

    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({mounted.stderr.strip() or 'mount failed'})")
    try:
        config = tmp_path / "c.yaml"
        config.write_text("name: full\ndata: {dataset: digits, valid_size: 0.15}\nmodel: {hidden: [64, 32]}\n"
                          "optimizer: {name: adam}\ntraining: {epochs: 3, batch_size: 128}\n")
        done = subprocess.run([sys.executable, "-m", "dnnconf", "train", str(config), "--out", str(disk / "run"),
                               "--quiet"], capture_output=True, text=True, timeout=600,
                              env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1, done.stderr[-2000:]
        assert "disk is full" in lines[0] and str(disk / "run") in lines[0], lines[0]
        if (disk / "run" / "checkpoint" / "LATEST").exists():
            load_checkpoint(latest_checkpoint(disk / "run" / "checkpoint"))
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)
