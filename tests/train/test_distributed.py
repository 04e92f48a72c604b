"""`dnnconf train` under `torchrun --nproc-per-node 2` (gloo, CPU): the same weights as one process with the
same global batch, one run folder written by rank 0, exact resume, and the other commands refuse at once."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from dnnconf.config import config_from_dict
from dnnconf.run import train
from dnnconf.train.history import read_history

PLAIN = {
    "name": "ddp", "seed": 5, "data": {"dataset": "digits", "valid_size": 0.15},
    "model": {"hidden": [32, 16]},
    "optimizer": {"name": "sgd", "learning_rate": 0.05, "momentum": 0.9},
    "schedule": {"name": "constant"},
    "training": {"epochs": 2, "batch_size": 32, "threads": 1, "early_stopping": None},
}
# batch norm over the global batch; 1222 training examples in batches of 35 (shares of 18 and 17, a last
# batch of 32), an l2 penalty and global clipping, which must see the summed gradient; reused layers
# unfrozen after the first epoch (the optimizer rebuilt) and performance scheduling deciding on rank 0
SYNCED = {
    **PLAIN, "name": "ddp-bn",
    "model": {"hidden": [32, 16], "batch_norm": {"position": "before_activation"},
              "kernel_regularizer": {"l2": 0.001}},
    "optimizer": {"name": "adam", "learning_rate": 0.003, "global_clipnorm": 0.5},
    "schedule": {"name": "performance", "factor": 0.5, "patience": 1, "monitor": "loss"},
    "training": {**PLAIN["training"], "epochs": 3, "batch_size": 35, "sync_batch_norm": True},
}
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
TIMEOUT = 240  # seconds: a hang fails the test instead of blocking the suite


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def torchrun(*args) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
            "--master-port", str(free_port()), "-m", "dnnconf", *map(str, args)]


def write_config(folder: Path, raw: dict) -> Path:
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def one_process(raw: dict, folder: Path) -> dict[str, torch.Tensor]:
    train(config_from_dict(raw), folder, quiet=True)
    return load_file(str(folder / "model.safetensors"))


def files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def assert_close(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], atol: float) -> None:
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=atol, rtol=1e-4, msg=key)


def test_two_processes_train_the_weights_of_one_and_write_one_folder(tmp_path):
    config = write_config(tmp_path, PLAIN)
    done = subprocess.run(torchrun("train", config, "--quiet"), cwd=tmp_path, env=ENV, capture_output=True,
                          text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr[-3000:]
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1  # rank 0 named the timestamped folder; rank 1 used the same one
    assert done.stdout.count("epoch 2/2") == 1 and done.stdout.count("run folder:") == 1  # rank 0 alone prints
    reference = tmp_path / "one"
    expected = one_process(PLAIN, reference)
    assert_close(load_file(str(runs[0] / "model.safetensors")), expected, atol=1e-5)
    assert files(runs[0]) == files(reference)  # the same files, nothing extra from rank 1
    for ours, theirs in zip(read_history(runs[0] / "history.csv"), read_history(reference / "history.csv"),
                            strict=True):
        for key in ("loss", "accuracy", "val_loss", "val_accuracy", "grad_norm"):
            assert ours[key] == pytest.approx(theirs[key], rel=1e-4), key


def test_synced_batch_norm_and_unfreezing_match_one_process(tmp_path):
    source = tmp_path / "source"
    one_process({**SYNCED, "training": {**SYNCED["training"], "epochs": 1}}, source)
    raw = {**SYNCED, "transfer": {"from": str(source), "freeze_epochs": 1, "unfreeze_lr_factor": 0.5}}
    config = write_config(tmp_path, raw)
    done = subprocess.run(torchrun("train", config, "--out", tmp_path / "two", "--quiet"), env=ENV,
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr[-3000:]
    expected = one_process(raw, tmp_path / "one")
    assert any("running_var" in key for key in expected)  # the moving averages are compared too
    assert_close(load_file(str(tmp_path / "two" / "model.safetensors")), expected, atol=1e-5)
    ours, theirs = read_history(tmp_path / "two" / "history.csv"), read_history(tmp_path / "one" / "history.csv")
    assert [row["trainable"] for row in ours] == [row["trainable"] for row in theirs]
    assert ours[0]["trainable"] < ours[-1]["trainable"]  # unfrozen after the first epoch
    assert [row["lr"] for row in ours] == [row["lr"] for row in theirs]


def _wait_for_torchrun(process: subprocess.Popen) -> None:
    """Wait for torchrun (after SIGTERM it stops its workers, which run in sessions of their own)."""
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        raise


def test_a_killed_distributed_run_resumes_to_the_uninterrupted_weights(tmp_path):
    # dropout: each rank has its own mask stream, which the checkpoint keeps per rank
    raw = {**PLAIN, "model": {"hidden": [32, 16], "dropout": {"rate": 0.2, "top_layers": 2}},
           "training": {**PLAIN["training"], "epochs": 4, "checkpoint_every": 7}}
    config = write_config(tmp_path, raw)
    done = subprocess.run(torchrun("train", config, "--out", tmp_path / "whole", "--quiet"), env=ENV,
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr[-3000:]
    run = tmp_path / "killed"
    process = subprocess.Popen(torchrun("train", config, "--out", run, "--quiet"), env=ENV,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    target, deadline = 60, time.monotonic() + TIMEOUT  # of 4 × 39 = 156 steps: mid-epoch 2
    latest = run / "checkpoint" / "LATEST"
    while process.poll() is None and time.monotonic() < deadline:
        if latest.is_file() and int(latest.read_text().split("-")[1]) >= target:
            break
        time.sleep(0.005)
    process.send_signal(signal.SIGTERM)
    _wait_for_torchrun(process)
    assert not (run / "model.safetensors").exists()  # it really was interrupted
    resumed = subprocess.run(torchrun("train", config, "--resume", run, "--quiet"), env=ENV, capture_output=True,
                             text=True, timeout=TIMEOUT)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "epoch 1/4" not in resumed.stdout  # it went on from the checkpoint
    expected = load_file(str(tmp_path / "whole" / "model.safetensors"))
    ours = load_file(str(run / "model.safetensors"))
    assert all(torch.equal(ours[key], expected[key]) for key in expected)
    whole, again = read_history(tmp_path / "whole" / "history.csv"), read_history(run / "history.csv")
    assert [{k: v for k, v in row.items() if k != "time"} for row in again] == \
        [{k: v for k, v in row.items() if k != "time"} for row in whole]


@pytest.mark.parametrize("command", ["lr-find", "diagnose"])
def test_single_process_commands_refuse_under_torchrun(tmp_path, command):
    config = write_config(tmp_path, PLAIN)
    done = subprocess.run([sys.executable, "-m", "dnnconf", command, config], cwd=tmp_path, capture_output=True,
                          text=True, timeout=TIMEOUT, env={**ENV, "WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1"})
    assert done.returncode == 2
    assert done.stderr == ""  # rank 1 is silent: rank 0 says it
    done = subprocess.run([sys.executable, "-m", "dnnconf", command, config], cwd=tmp_path, capture_output=True,
                          text=True, timeout=TIMEOUT, env={**ENV, "WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0"})
    assert done.returncode == 2
    assert done.stderr.strip() == (f"dnnconf {command}: runs in one process, but torchrun started 2 (WORLD_SIZE=2); "
                                   f"run `dnnconf {command}` without torchrun (only `dnnconf train` is distributed)")
    assert not (tmp_path / "runs").exists()


def test_lr_find_under_torchrun_stops_without_hanging(tmp_path):
    config = write_config(tmp_path, PLAIN)
    done = subprocess.run(torchrun("lr-find", config), cwd=tmp_path, env=ENV, capture_output=True, text=True,
                          timeout=TIMEOUT)
    assert done.returncode != 0  # torchrun reports its workers' exit code 2 as its own failure
    assert done.stderr.count("dnnconf lr-find: runs in one process") == 1
    assert not (tmp_path / "runs").exists()


def test_a_batch_too_small_to_share_stops_every_rank_before_any_folder(tmp_path):
    config = write_config(tmp_path, PLAIN)
    done = subprocess.run(torchrun("train", config, "--set", "training.batch_size=1"), cwd=tmp_path, env=ENV,
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode != 0
    assert done.stderr.count("dnnconf train: training.batch_size: 1 leaves a batch of 1 examples for 2") == 1
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(("section", "line"), [
    ({"pretrain": {"epochs": 1}}, "pretrain: under torchrun, pretrain with one process first"),
    ({"training": {**PLAIN["training"], "parallel_seeds": 2}}, "training.parallel_seeds: 2 runs in one process"),
])
def test_one_process_features_under_torchrun_stop_before_any_folder(tmp_path, section, line):
    config = write_config(tmp_path, {**PLAIN, **section})
    done = subprocess.run(torchrun("train", config), cwd=tmp_path, env=ENV, capture_output=True, text=True,
                          timeout=TIMEOUT)
    assert done.returncode != 0
    assert done.stderr.count(line) == 1
    assert not (tmp_path / "runs").exists()


def test_world_size_without_torchrun_is_one_clear_line(tmp_path):
    config = write_config(tmp_path, PLAIN)
    env = {k: v for k, v in ENV.items() if k not in ("RANK", "MASTER_ADDR", "MASTER_PORT")}
    done = subprocess.run([sys.executable, "-m", "dnnconf", "train", config], cwd=tmp_path, capture_output=True,
                          text=True, timeout=TIMEOUT, env={**env, "WORLD_SIZE": "2"})
    assert done.returncode == 2
    assert done.stderr.strip().startswith("dnnconf train: WORLD_SIZE=2 but RANK, MASTER_ADDR, MASTER_PORT not set")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(("size", "batch", "first", "world"), [(1222, 32, 0, 2), (1222, 35, 70, 3), (19, 5, 0, 4),
                                                               (7, 7, 0, 2)])
def test_the_shares_split_every_global_batch_once(size, batch, first, world):
    from dnnconf.train.distributed import shares

    plans = [shares(size, batch, first, rank, world) for rank in range(world)]
    covered = torch.sort(torch.cat([positions for positions, _ in plans])).values
    assert torch.equal(covered, torch.arange(first, size))  # every example once, none before `first`
    for step in range(len(plans[0][1])):
        sizes = [steps[step][1] for _, steps in plans]
        assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)
        assert sum(sizes) == plans[0][1][step][2]  # the global batch
        for rank, (positions, steps) in enumerate(plans):
            offset, count, _ = steps[step]
            chunk = positions[offset:offset + count]
            assert torch.equal(chunk, torch.arange(int(chunk[0]), int(chunk[0]) + count))  # contiguous
            if rank:
                previous_positions, previous_steps = plans[rank - 1]
                before = previous_positions[previous_steps[step][0] + previous_steps[step][1] - 1]
                assert int(chunk[0]) == int(before) + 1  # rank r's share follows rank r-1's
