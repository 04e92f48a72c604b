"""Kill a training process with SIGKILL at random moments (mid-epoch, while writing a checkpoint, inside
a 1cycle schedule), resume it, and compare the final weights with a run never interrupted: bit for bit."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

CONFIG = """
name: killed
seed: 3
data: {dataset: digits, valid_size: 0.15}
model: {hidden: [32, 16], dropout: {rate: 0.2, top_layers: 2}}
optimizer: {name: sgd, learning_rate: 0.01, momentum: 0.9}
schedule: {name: one_cycle, max_lr: 0.05}
training: {epochs: 12, batch_size: 8, checkpoint_every: 5, early_stopping: {patience: 100}}
"""
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def dnnconf(*args):
    return [sys.executable, "-m", "dnnconf", *map(str, args)]


def kill_resume_and_compare(process: subprocess.Popen, run: Path, config: Path, expected: dict) -> None:
    """SIGKILL the training `process`, resume `run` with `dnnconf train --resume`, and check that it ends with
    the uninterrupted run's weights, bit for bit."""
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (run / "model.safetensors").exists(), "the run finished before it could be killed"
    resumed = subprocess.run(dnnconf("train", config, "--resume", run, "--quiet"), env=ENV, capture_output=True,
                             text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    weights = load_file(str(run / "model.safetensors"))
    assert weights.keys() == expected.keys()
    assert all(torch.equal(weights[k], expected[k]) for k in expected)


def latest_step(run: Path) -> int:
    try:
        return int((run / "checkpoint" / "LATEST").read_text().strip().split("-")[1])  # step-<steps>-<serial>
    except (OSError, IndexError, ValueError):
        return -1


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reference")
    config = folder / "config.yaml"
    config.write_text(CONFIG)
    subprocess.run(dnnconf("train", config, "--out", folder / "run", "--quiet"), check=True, env=ENV,
                   capture_output=True, timeout=600)
    return config, load_file(str(folder / "run" / "model.safetensors"))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_killed_and_resumed_run_ends_with_the_same_weights(reference, tmp_path, seed):
    config, expected = reference
    rng = random.Random(seed)
    run = tmp_path / "run"
    process = subprocess.Popen(dnnconf("train", config, "--out", run, "--quiet"), env=ENV,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    target = rng.randrange(20, 900)  # steps: the run has ~1,700 in all
    deadline = time.monotonic() + 120
    while latest_step(run) < target and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(rng.uniform(0, 0.05))  # land anywhere: inside a step, an epoch end, a checkpoint write
    kill_resume_and_compare(process, run, config, expected)
    history = (run / "history.csv").read_text().splitlines()
    assert len(history) == 1 + 12


TASK_A = """
name: task-a
seed: 5
data: {dataset: digits, valid_size: 0.15, classes: [0, 1, 2, 3, 5, 6, 7, 8]}
model: {hidden: [32, 16], batch_norm: before_activation}
schedule: {name: constant}
training: {epochs: 2}
"""
TASK_B = """
name: task-b
seed: 5
data: {{dataset: digits, valid_size: 0.15, classes: [4, 9], positive_class: 9}}
model: {{hidden: [32, 16], batch_norm: before_activation}}
schedule: {{name: constant}}
transfer: {{from: {source}, freeze_epochs: 3, unfreeze: all, unfreeze_lr_factor: 0.1}}
training: {{epochs: 40, batch_size: 4, checkpoint_every: 3, early_stopping: null}}
"""


def test_a_transfer_run_killed_after_unfreezing_resumes_to_the_same_weights(tmp_path):
    (tmp_path / "a.yaml").write_text(TASK_A)
    subprocess.run(dnnconf("train", tmp_path / "a.yaml", "--out", tmp_path / "a", "--quiet"), check=True, env=ENV,
                   capture_output=True, timeout=600)
    config = tmp_path / "b.yaml"
    config.write_text(TASK_B.format(source=tmp_path / "a"))
    subprocess.run(dnnconf("train", config, "--out", tmp_path / "full", "--quiet"), check=True, env=ENV,
                   capture_output=True, timeout=600)
    expected = load_file(str(tmp_path / "full" / "model.safetensors"))
    run = tmp_path / "killed"
    process = subprocess.Popen(dnnconf("train", config, "--out", run, "--quiet"), env=ENV,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while (run / "history.csv").is_file() is False or len((run / "history.csv").read_text().splitlines()) < 6:
        if process.poll() is not None or time.monotonic() > deadline:
            break
        time.sleep(0.005)  # epoch 5 is done: the reused layers were unfrozen after epoch 3
    time.sleep(0.03)
    kill_resume_and_compare(process, run, config, expected)
