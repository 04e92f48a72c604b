"""SIGTERM ends a training run as Ctrl-C does: a KeyboardInterrupt, which the CLI reports in one line
with exit code 130.

Either way the run stays resumable: every file is replaced atomically (`safe_write`), a checkpoint is
complete before LATEST names it, the background checkpoint write in flight finishes before the process
exits (Python joins the writer's thread at exit), and the run folder's lock is released
(`train/run_folder/lock.py`; the kernel would release it anyway). `dnnconf train CONFIG --resume RUN` continues from the
last complete checkpoint.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextmanager
def interrupted_by_sigterm() -> Iterator[None]:
    """For the duration, SIGTERM raises KeyboardInterrupt in the main thread (elsewhere: a no-op, since
    Python lets only the main thread install handlers). The previous handler is restored afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
