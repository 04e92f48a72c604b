"""The CPU thread policy: threads from the free cores, re-chosen as other work comes and goes; the user's
count (training.threads, OMP_NUM_THREADS) wins. No timing is asserted: the machine's load is simulated."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dnnconf.train import threads

ROOT = Path(__file__).resolve().parents[2]
DIGITS = ROOT / "examples" / "digits_default.yaml"


@pytest.fixture(autouse=True)
def keep_torch_threads():
    before, policy = torch.get_num_threads(), threads.Policy(**vars(threads.POLICY))
    yield
    torch.set_num_threads(before)
    for key, value in vars(policy).items():
        setattr(threads.POLICY, key, value)


@pytest.mark.parametrize(("usable", "others", "share", "expected"), [
    (2, 0.0, 1, 2),    # a quiet machine keeps every core
    (2, 0.2, 1, 2),    # light background work too
    (2, 0.7, 1, 1),    # one core's worth of other work: one thread
    (2, 1.8, 1, 1),    # never fewer than one
    (2, 5.0, 1, 1),
    (8, 0.0, 2, 4),    # two jobs or local ranks share the free cores
    (8, 4.0, 2, 2),
    (4, None, 1, 4),   # no /proc/stat: the usable cores, as torch would
    (4, None, 3, 1),
])
def test_threads_for_follows_the_free_cores(usable, others, share, expected):
    assert threads.threads_for(usable, others, share) == expected


def test_others_busy_subtracts_this_process_and_its_kin():
    start = threads.Sample(wall=10.0, busy=100.0, own=5.0)
    end = threads.Sample(wall=12.0, busy=104.0, own=7.0)  # 2 cores busy for 2 s, 1 core of it ours
    assert threads.others_busy(start, end) == pytest.approx(1.0)
    assert threads.others_busy(start, end, share=2) == pytest.approx(0.0)  # the other job uses as much as we do
    assert threads.others_busy(threads.Sample(10.0, None, 0.0), end) is None


def test_torchrun_ranks_share_the_free_cores_of_their_node(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    threads.at_process_start()
    assert threads.POLICY.share == 2
    monkeypatch.setattr(threads, "usable_cores", lambda: 8)
    monkeypatch.setattr(threads, "others_busy", lambda *args: 0.0)
    count, source = threads.choose(None)
    assert count == 4 and "shared by 2 processes" in source
    monkeypatch.delenv("LOCAL_WORLD_SIZE")
    threads.at_process_start()
    assert threads.POLICY.share == 1


def test_torchruns_default_of_one_thread_per_rank_is_told_from_the_users(monkeypatch):
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert threads.torchrun_default_threads(b"PATH=/usr/bin\0HOME=/root\0")  # torchrun added it
    assert not threads.torchrun_default_threads(b"PATH=/usr/bin\0OMP_NUM_THREADS=1\0")  # the user's own
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert not threads.torchrun_default_threads(b"PATH=/usr/bin\0")  # torchrun only ever sets 1
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert not threads.torchrun_default_threads(b"PATH=/usr/bin\0")  # one rank: torchrun sets nothing


def test_the_user_count_wins_over_the_free_cores(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert threads.choose(2) == (2, "training.threads")
    assert threads.choose(None) == (1, "OMP_NUM_THREADS")
    monkeypatch.delenv("OMP_NUM_THREADS")
    monkeypatch.setattr(threads, "others_busy", lambda *args: 1.5)
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    count, source = threads.choose(None)
    assert count == 1 and source.startswith("the free cores of 2 (1.5 busy")


def test_the_watch_drops_threads_at_once_and_raises_them_after_quiet_windows(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    load = {"others": 0.0}
    monkeypatch.setattr(threads, "others_busy", lambda *args: load["others"])
    threads.apply(None)
    assert torch.get_num_threads() == 2 and not threads.POLICY.fixed
    watch = threads.ThreadWatch()
    load["others"] = 2.0  # two busy processes arrive
    watch.check(step=10)
    assert torch.get_num_threads() == 1
    load["others"] = 0.0  # they leave: more threads only after RISE_AFTER windows in a row
    for step in range(11, 10 + threads.RISE_AFTER):
        watch.check(step)
        assert torch.get_num_threads() == 1
    watch.check(10 + threads.RISE_AFTER)
    assert torch.get_num_threads() == 2
    assert watch.changes == [(10, 1), (10 + threads.RISE_AFTER, 2)]


def test_the_watch_leaves_the_user_count_alone(monkeypatch):
    monkeypatch.setattr(threads, "others_busy", lambda *args: 2.0)
    threads.apply(2)
    assert threads.POLICY.fixed
    watch = threads.ThreadWatch()
    watch.last = threads.Sample(0.0, 0.0, 0.0)  # long ago: due for a check

    class FakeLoop:
        class state:  # noqa: N801 - the loop's attribute
            step = 5

    watch.on_batch_end(FakeLoop())
    assert torch.get_num_threads() == 2 and watch.changes == []


def train_lines(tmp_path: Path, *sets: str, env: dict[str, str] | None = None) -> list[str]:
    """A fresh `dnnconf train` process on digits (one epoch); its output lines."""
    environment = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
    environment.update(env or {})
    environment["PYTHONPATH"] = str(ROOT / "src")
    command = [sys.executable, "-m", "dnnconf", "train", str(DIGITS), "--out", str(tmp_path / "run"),
               "--set", "training.epochs=1", *(x for s in sets for x in ("--set", s))]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=environment, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    return (result.stdout + result.stderr).splitlines()


def threads_line(lines: list[str]) -> str:
    return next(line for line in lines if line.startswith("threads: "))


def test_a_fresh_train_process_runs_with_the_free_cores_and_the_default_wait_policy(tmp_path):
    line = threads_line(train_lines(tmp_path))
    count = int(line.split()[1].rstrip(","))
    assert 1 <= count <= threads.usable_cores()
    assert "the free cores of" in line and line.endswith("OpenMP wait policy default")


def test_training_threads_wins_in_a_fresh_process(tmp_path):
    line = threads_line(train_lines(tmp_path, "training.threads=1"))
    assert line == "threads: 1, training.threads; OpenMP wait policy default"


def test_the_users_environment_wins_in_a_fresh_process(tmp_path):
    line = threads_line(train_lines(tmp_path, env={"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}))
    assert line == "threads: 1, OMP_NUM_THREADS; OpenMP wait policy PASSIVE"
