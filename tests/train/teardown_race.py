"""Run by test_distributed_teardown.py under `torchrun --nproc-per-node 2`: a gloo worker thread that is stalled
while it releases a tensor's Python object when its process exits (what a busy machine can do to it).

Rank 1 hands the last reference to a tensor to a gloo all-reduce and lets go of it; when the worker thread
releases the finished work, the tensor's Python object dies on that thread, which takes the GIL and calls
`stall_on_worker`: it tells the main thread and sleeps (GIL released, like a descheduled thread). The main
thread then leaves `dnnconf.train.distributed.session` and exits. If the teardown left the group's threads
running, the worker wakes up in a finalizing interpreter, CPython ends the thread (pthread_exit) inside
torch's noexcept release and libstdc++ aborts the process: "terminate called without an active exception",
exit -6. No timing decides the outcome: the handshakes are a file and an event.
"""

import os
import sys
import threading
import time
import weakref
from pathlib import Path

import torch
import torch.distributed

from dnnconf.train import distributed as dist

STALL_SECONDS = 3.0  # longer than the main thread needs from the session's end to interpreter shutdown
GLOO_THREADS = ("pt_gloo_runloop", "gloo_tcp_loop")
released = threading.Event()
watchers: list[weakref.ref] = []


def thread_names() -> list[str]:
    """The names of this process's native threads (Linux)."""
    names = []
    for task in os.listdir("/proc/self/task"):
        try:
            names.append(Path(f"/proc/self/task/{task}/comm").read_text().strip())
        except OSError:  # the thread ended meanwhile
            pass
    return sorted(names)


def stall_on_worker(_reference: weakref.ref) -> None:
    name = Path(f"/proc/self/task/{threading.get_native_id()}/comm").read_text().strip()
    print(f"rank 1: the tensor was released on thread {name}", flush=True)
    released.set()
    if threading.current_thread() is not threading.main_thread():
        time.sleep(STALL_SECONDS)


def main(handshake: Path) -> None:
    with dist.session(torch.device("cpu")) as (shared, _device):
        # what every run does after joining the group: the first optimizer imports torch._dynamo, and with it
        # torch.distributed.nn, whose functions' default `group=group.WORLD` would hold the group object
        torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        if shared.rank == 1:
            tensor = torch.ones(4)
            watchers.append(weakref.ref(tensor, stall_on_worker))
            work = torch.distributed.all_reduce(tensor, async_op=True)
            del tensor, work  # the gloo work holds the only reference now
            handshake.touch()
            released.wait()  # the worker thread is inside the release, stalled
        else:
            while not handshake.exists():  # rank 0 joins the all-reduce only once rank 1 has let go
                time.sleep(0.01)
            torch.distributed.all_reduce(torch.ones(4))
    alive = [name for name in thread_names() if name in GLOO_THREADS]
    print(f"rank {shared.rank}: gloo threads alive after the session: {alive}", flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
