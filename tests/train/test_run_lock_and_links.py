"""One writer per run folder; writes never follow planted links; SIGTERM leaves a resumable run, exit 130."""

import os
import signal
import subprocess
import sys
import time

import pytest

from dnnconf.cli import main
from dnnconf.errors import RunFolderError
from dnnconf.run import train
from dnnconf.train.checkpoint import latest_checkpoint, load_checkpoint
from dnnconf.train.run_folder import lock as run_lock

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def small(digits_config, epochs=2):
    return digits_config(training={"epochs": epochs, "batch_size": 128}, model={"hidden": [8]})


def test_a_second_writer_is_refused_in_one_line_naming_the_folder(tmp_path, digits_config, capsys):
    run = tmp_path / "run"
    train(small(digits_config), run, quiet=True)
    config = tmp_path / "config.yaml"
    config.write_text((run / "config.yaml").read_text())
    before = (run / "model.safetensors").read_bytes()
    with run_lock.holding(run):  # another process's run, as the kernel sees it (a second open file)
        for argv in (["train", str(config), "--out", str(run), "--force", "--quiet"],
                     ["train", str(config), "--resume", str(run), "--quiet"]):
            assert main(argv) == 2
            lines = capsys.readouterr().err.strip().splitlines()
            assert len(lines) == 1 and str(run) in lines[0] and "another dnnconf process" in lines[0], lines
        assert main(["export", str(run)]) == 2  # export appends to the run's report.md and writes run/export/
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and "another dnnconf process" in lines[0], lines
    assert (run / "model.safetensors").read_bytes() == before
    assert not (run / "export" / "model.safetensors").exists()
    assert main(["train", str(config), "--out", str(run), "--force", "--quiet"]) == 0  # released: free again


def test_a_killed_run_leaves_no_stale_lock(tmp_path, digits_config):
    run = tmp_path / "run"
    run.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from pathlib import Path; "
                               "from dnnconf.train.run_folder import lock as run_lock; "
                               "lock = run_lock.acquire(Path(sys.argv[1])); "
                               "print('held', flush=True); time.sleep(600)", str(run)],
                              env=ENV, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(run_lock.FolderBusy):
        run_lock.acquire(run)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    run_lock.acquire(run).release()  # the kernel dropped the dead process's lock


LINKED = ["metrics.json.tmp", "history.csv.tmp", "config.yaml.tmp", "checkpoint/LATEST.tmp",
          "plots/learning_curves.png", "report.md"]


def test_writes_never_follow_planted_links(tmp_path, digits_config):
    run = tmp_path / "run"
    (run / "checkpoint").mkdir(parents=True)
    (run / "plots").mkdir()
    victims = {}
    for name in LINKED:
        victim = tmp_path / f"victim-{name.replace('/', '-')}"
        victim.write_text("precious\n")
        (run / name).symlink_to(victim)
        victims[name] = victim
    train(small(digits_config), run, force=True, quiet=True)
    for name, victim in victims.items():
        assert victim.read_text() == "precious\n", name  # nothing was written through the link
    assert not (run / "plots" / "learning_curves.png").is_symlink()  # replaced by the real plot
    assert (run / "plots" / "learning_curves.png").read_bytes()[:4] == b"\x89PNG"
    assert not (run / "report.md").is_symlink()


def test_sigterm_exits_130_in_one_line_and_the_run_resumes(tmp_path, digits_config):
    config = tmp_path / "config.yaml"
    config.write_text("""
name: long
data: {dataset: digits, valid_size: 0.15}
model: {hidden: [16]}
schedule: {name: constant}
training: {epochs: 400, batch_size: 16, early_stopping: null}
""")
    run = tmp_path / "run"
    process = subprocess.Popen([sys.executable, "-m", "dnnconf", "train", str(config), "--out", str(run), "--quiet"],
                               env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not (run / "history.csv").exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 130, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "interrupted" in lines[0], lines
    state = load_checkpoint(latest_checkpoint(run / "checkpoint"))[3]  # a complete checkpoint to resume from
    assert state["epoch"] >= 1
    with pytest.raises(RunFolderError, match="already holds files.*--resume"):
        train(small(digits_config), run, quiet=True)
