"""CPU threads that do not collapse on a busy machine.

torch's default is one OpenMP thread per core, and libgomp's threads spin between parallel regions. On a
quiet machine that is the fastest; beside other work it collapses: a spinning team waits at each barrier
for the member the kernel descheduled. Measured on a 2-core machine (the note's MLP, batch 128, the
hand-written loop; docs/performance.md): with two other processes on the cores, 2 spinning threads took
12.2–15.9 s an epoch, 2 passive threads 0.85–1.7 s, 1 thread 0.34–0.65 s.

The policy (`apply`), unless the user chose (`training.threads`, or `OMP_NUM_THREADS` in the
environment, which torch reads itself):
- threads = the cores free for this process: the usable cores (CPU affinity, cgroup quota) minus what
  other processes used over a sampling window (system busy time from /proc/stat minus this process's
  own CPU time), rounded down after adding `SLACK`, at least 1; shared out among `share` processes
  (sweep or study jobs, torchrun's local ranks), counting the others of the group as this one's kin;
- re-chosen during training (`ThreadWatch`, a listener): every `WATCH_SECONDS` the window is sampled
  again; fewer threads at once when the other work grows, more only after `RISE_AFTER` windows in a row
  that say so (a burst of other work should not make the count swing);
- the OpenMP wait policy stays libgomp's default (spin briefly, then sleep): spinning is what makes a
  quiet machine fast, and with no more threads than free cores no spinning thread waits on a busy core.
  A user's `OMP_WAIT_POLICY` is kept (it must be set before torch starts; `at_process_start` never
  overrides it).
Where /proc/stat is missing (not Linux) the usable cores are used, as torch would.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dnnconf.train.callbacks import Listener

SLACK = 0.3  # a core counts as free when ≥ 70% of it is idle: light background work keeps all threads
WINDOW_SECONDS = 0.1  # the shortest sampling window (/proc/stat counts in 10 ms ticks)
WATCH_SECONDS = 1.0  # how often a running training samples the machine again
RISE_AFTER = 3  # windows in a row that must call for more threads before the count goes up
PROC_STAT = Path("/proc/stat")


@dataclass(frozen=True)
class Sample:
    """A point to measure the other processes' CPU use from: wall clock, the machine's busy seconds
    (all cores, None without /proc/stat) and this process's own CPU seconds."""
    wall: float
    busy: float | None
    own: float

    @staticmethod
    def now() -> Sample:
        return Sample(time.monotonic(), machine_busy_seconds(), time.process_time())


def machine_busy_seconds() -> float | None:
    """Seconds all cores have spent busy since boot (user, nice, system, irq, softirq, steal), or None."""
    try:
        with PROC_STAT.open() as stat:
            fields = stat.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu" or len(fields) < 8:
        return None
    user, nice, system, _idle, _iowait, irq, softirq = (int(x) for x in fields[1:8])
    steal = int(fields[8]) if len(fields) > 8 else 0  # time the hypervisor gave our cores to others
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity, capped by a cgroup (v2) CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, math.floor(int(quota) / int(period))))
    except (OSError, ValueError):
        pass  # no cgroup v2 quota
    return max(1, cores)


def others_busy(start: Sample, end: Sample, share: int = 1) -> float | None:
    """Cores the processes outside this group kept busy between two samples (None without /proc/stat).

    The machine's busy time minus this process's own, and minus `share - 1` kin processes assumed to use
    as much as this one (a sweep's other jobs, the other local ranks)."""
    if start.busy is None or end.busy is None:
        return None
    wall = end.wall - start.wall
    if wall <= 0:
        return None
    own = (end.own - start.own) / wall
    return max(0.0, (end.busy - start.busy) / wall - own * share)


def threads_for(usable: int, others: float | None, share: int = 1) -> int:
    """The threads for one of `share` processes when other work keeps `others` cores busy."""
    if others is None:
        return max(1, usable // share)
    free = max(0.0, usable - others)
    return max(1, min(usable // share or 1, math.floor(free / share + SLACK)))


def user_threads() -> int | None:
    """OMP_NUM_THREADS when the user set it to a whole number ≥ 1 (torch reads it at start-up)."""
    text = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    return int(text) if text.isdigit() and int(text) >= 1 else None


def local_ranks() -> int:
    """torchrun's processes on this machine (LOCAL_WORLD_SIZE), 1 outside torchrun."""
    text = os.environ.get("LOCAL_WORLD_SIZE", "")
    return int(text) if text.isdigit() and int(text) >= 1 else 1


@dataclass
class Policy:
    """The process's thread policy: where its count came from, the group it shares the machine with."""
    started: Sample = field(default_factory=Sample.now)  # the first window starts when this module loads
    share: int = field(default_factory=lambda: local_ranks())
    threads: int | None = None
    source: str = ""
    fixed: bool = False  # the user's count (training.threads, OMP_NUM_THREADS): never re-chosen


POLICY = Policy()


def at_process_start() -> None:
    """Called by the CLI before torch is imported: the first sampling window starts here, and the share
    of a torchrun rank is its node's ranks. torchrun's own default of OMP_NUM_THREADS=1 per rank (set when
    it runs several local ranks and the user did not set it) is dropped here, before torch reads it, so a
    rank takes the free cores / its node's ranks; a user's OMP_NUM_THREADS stays."""
    POLICY.started = Sample.now()
    POLICY.share = local_ranks()
    if torchrun_default_threads():
        del os.environ["OMP_NUM_THREADS"]


def torchrun_default_threads(parent_environment: bytes | None = None) -> bool:
    """Whether OMP_NUM_THREADS=1 in this torchrun rank is torchrun's default rather than the user's.

    torchrun sets it in its own environment when it starts several local ranks and the variable is
    unset, and its ranks inherit it; its process's environment as it was started (`/proc/<parent>/environ`,
    which later changes do not show) then lacks the variable. False whenever that cannot be read."""
    if local_ranks() < 2 or os.environ.get("OMP_NUM_THREADS") != "1":
        return False
    if parent_environment is None:
        try:
            parent_environment = Path(f"/proc/{os.getppid()}/environ").read_bytes()
        except OSError:
            return False
    return not any(entry.startswith(b"OMP_NUM_THREADS=") for entry in parent_environment.split(b"\0"))



def set_share(processes: int) -> None:
    """This process is one of `processes` that share the machine (sweep or study jobs)."""
    POLICY.share = max(1, processes)


def choose(requested: int | None = None) -> tuple[int, str]:
    """The thread count for this process and why: `requested` (training.threads), else OMP_NUM_THREADS,
    else the cores free since the process started (a window of at least WINDOW_SECONDS)."""
    if requested:
        return requested, "training.threads"
    if user_threads() is not None:
        return user_threads() or 1, "OMP_NUM_THREADS"
    started = POLICY.started
    waited = time.monotonic() - started.wall
    if waited < WINDOW_SECONDS:
        time.sleep(WINDOW_SECONDS - waited)
    usable, now = usable_cores(), Sample.now()
    others = others_busy(started, now, POLICY.share)
    POLICY.started = now  # the next choice (a sweep's next trial) measures from here
    count = threads_for(usable, others, POLICY.share)
    where = f"the free cores of {usable}" + (f" ({others:.1f} busy with other work" if others is not None
                                               else " (no /proc/stat to measure other work")
    if POLICY.share > 1:
        where += f", shared by {POLICY.share} processes"
    return count, where + "; re-chosen as that changes)"


def apply(requested: int | None = None) -> int:
    """Choose the thread count (see `choose`) and set it in torch; returns it."""
    import torch  # lazy: the CLI imports this module before torch starts (at_process_start)

    count, source = choose(requested)
    POLICY.threads, POLICY.source = count, source
    POLICY.fixed = not source.startswith("the free cores")
    if torch.get_num_threads() != count:
        torch.set_num_threads(count)
    return count


def describe() -> str:
    """One line for the run's log: the threads in force, why, and the OpenMP wait policy."""
    import torch  # lazy: the CLI imports this module before torch starts (at_process_start)

    policy = os.environ.get("OMP_WAIT_POLICY") or "default"
    return f"threads: {torch.get_num_threads()}, {POLICY.source or 'torch default'}; OpenMP wait policy {policy}"


class ThreadWatch(Listener):
    """A training listener that re-chooses the thread count as other work comes and goes.

    Every WATCH_SECONDS of training (checked at each batch's end: one clock read) it samples the machine
    again; the count falls at once and rises after RISE_AFTER windows in a row. `changes` records
    (optimizer step, threads). It does nothing when the user fixed the count."""

    def __init__(self) -> None:
        self.last = Sample.now()
        self.rises = 0
        self.changes: list[tuple[int, int]] = []

    def on_train_begin(self, loop: Any) -> None:
        self.last = Sample.now()

    def on_batch_end(self, loop: Any) -> None:
        if POLICY.fixed or time.monotonic() - self.last.wall < WATCH_SECONDS:
            return
        self.check(loop.state.step)

    def check(self, step: int) -> None:
        import torch  # lazy: the CLI imports this module before torch starts (at_process_start)

        now = Sample.now()
        others = others_busy(self.last, now, POLICY.share)
        self.last = now
        wanted = threads_for(usable_cores(), others, POLICY.share)
        current = torch.get_num_threads()
        if wanted > current:
            self.rises += 1
            if self.rises < RISE_AFTER:
                return
        self.rises = 0
        if wanted != current:
            torch.set_num_threads(wanted)  # the calling (training) thread's OpenMP team size
            POLICY.threads = wanted
            self.changes.append((step, wanted))
