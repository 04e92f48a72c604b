"""A finished run is final: `--resume` trains nothing and rewrites nothing; a run SIGKILLed after its
stopping epoch's checkpoint but before its outputs gets them, bit for bit what the uninterrupted run wrote;
a run SIGKILLed before its first checkpoint starts over on `--resume`."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

CONFIG = """
name: stops-early
seed: 4
data: {dataset: digits, valid_size: 0.15}
model: {hidden: [16]}
optimizer: {name: sgd, learning_rate: 0.5, momentum: 0.9}
schedule: {name: constant}
training: {epochs: 30, batch_size: 64, early_stopping: {patience: 1, restore_best_weights: true}}
"""
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
OUTPUTS = ("model.safetensors", "metrics.json", "history.csv", "report.md", "plots/learning_curves.png")

# Runs the CLI in a child process that SIGKILLs itself at one chosen moment (a monkeypatched function),
# so the kill lands exactly there, every time.
KILLER = """
import os, signal, sys
import dnnconf.run as run
import dnnconf.train.checkpoint as checkpoint
import dnnconf.train.run_folder.writing as writing
moment = sys.argv[1]
def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)
if moment == "before-outputs":
    run.write_outputs = die
elif moment == "after-weights":
    real = writing.write_tensors
    def weights_then_die(path, tensors, durable=True):
        real(path, tensors, durable)
        die()
    writing.write_tensors = weights_then_die
elif moment == "before-first-checkpoint":
    checkpoint.Checkpointer.on_train_begin = die
from dnnconf.cli import main
sys.exit(main(sys.argv[2:]))
"""


def dnnconf(*args):
    return subprocess.run([sys.executable, "-m", "dnnconf", *map(str, args)], env=ENV, capture_output=True,
                          text=True, timeout=600)


def killed_at(moment, *args):
    return subprocess.run([sys.executable, "-c", KILLER, moment, *map(str, args)], env=ENV, capture_output=True,
                          text=True, timeout=600)


def without_time(path: Path) -> list[list[str]]:
    rows = [line.split(",") for line in path.read_text().splitlines()]
    column = rows[0].index("time")
    return [row[:column] + row[column + 1:] for row in rows]


def contents(run: Path) -> dict[str, bytes]:
    return {name: (run / name).read_bytes() for name in OUTPUTS if (run / name).exists()}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    folder = tmp_path_factory.mktemp("finished")
    config = folder / "config.yaml"
    config.write_text(CONFIG)
    result = dnnconf("train", config, "--out", folder / "run", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "early stopping" in (folder / "run" / "metrics.json").read_text()
    return config, folder / "run"


def test_resume_of_a_run_that_stopped_early_says_so_and_writes_nothing(reference):
    config, run = reference
    before = contents(run)
    stamps = {name: (run / name).stat().st_mtime_ns for name in before}
    result = dnnconf("train", config, "--resume", run, "--quiet")
    assert result.returncode == 0, result.stderr
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert len(lines) == 1 and "finished" in lines[0] and "early stopping" in lines[0], lines
    assert contents(run) == before
    assert {name: (run / name).stat().st_mtime_ns for name in before} == stamps


def test_even_with_force_and_more_epochs_early_stopping_stays_final(reference):
    config, run = reference
    before = contents(run)
    result = dnnconf("train", config, "--resume", run, "--force", "--set", "training.epochs=40", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "finished" in result.stdout
    assert contents(run) == before


@pytest.mark.parametrize("moment", ["before-outputs", "after-weights"])
def test_killed_after_the_stopping_epoch_resumes_to_the_same_outputs(reference, tmp_path, moment):
    config, expected = reference
    run = tmp_path / "run"
    killed = killed_at(moment, "train", config, "--out", run, "--quiet")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not (run / "metrics.json").exists()
    resumed = dnnconf("train", config, "--resume", run, "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    assert "finished" not in resumed.stdout  # its outputs were missing: written now, not skipped
    mine, theirs = contents(run), contents(expected)
    assert set(mine) == set(OUTPUTS)
    for name in ("model.safetensors", "metrics.json"):  # bit for bit
        assert mine[name] == theirs[name], name
    assert without_time(run / "history.csv") == without_time(expected / "history.csv")  # seconds differ
    again = dnnconf("train", config, "--resume", run, "--quiet")
    assert again.returncode == 0 and "finished" in again.stdout


def test_killed_before_its_first_checkpoint_resume_starts_it_over(reference, tmp_path):
    config, expected = reference
    run = tmp_path / "run"
    killed = killed_at("before-first-checkpoint", "train", config, "--out", run, "--quiet")
    assert killed.returncode == -signal.SIGKILL
    assert (run / "config.yaml").is_file() and not (run / "checkpoint" / "LATEST").exists()
    hint = dnnconf("evaluate", run)
    assert hint.returncode == 2 and f"dnnconf train {run / 'config.yaml'} --resume {run}" in hint.stderr
    again = dnnconf("train", config, "--out", run, "--quiet")  # without --force: pointed at --resume
    assert again.returncode == 2 and "--resume" in again.stderr
    resumed = dnnconf("train", run / "config.yaml", "--resume", run, "--quiet")  # the hint's command
    assert resumed.returncode == 0, resumed.stderr
    assert (run / "model.safetensors").read_bytes() == (expected / "model.safetensors").read_bytes()


def test_a_finished_parallel_seeds_run_is_final_and_a_missing_members_csv_is_rewritten(tmp_path, digits_config):
    from dnnconf.run import train

    config = digits_config(training={"epochs": 2, "batch_size": 128, "parallel_seeds": 2}, model={"hidden": [8]})
    first = train(config, tmp_path / "run", quiet=True, log=lambda *_: None)
    assert first.finished is None
    members_csv = (tmp_path / "run" / "members.csv").read_bytes()
    again = train(config, resume=tmp_path / "run", quiet=True, log=lambda *_: None)
    assert again.finished and "epochs ran" in again.finished
    (tmp_path / "run" / "members.csv").unlink()  # as if killed after the last checkpoint, before the last output
    rewritten = train(config, resume=tmp_path / "run", quiet=True, log=lambda *_: None)
    assert rewritten.finished is None and (tmp_path / "run" / "members.csv").read_bytes() == members_csv
