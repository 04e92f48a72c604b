"""One writer per run folder: a run holds `<folder>/.dnnconf.lock` for its whole life.

`train` (new, `--force` or `--resume`) and `export` take the lock before they write anything into the
folder and keep it until they return; a second process that wants to write there is refused at once with
one line (exit 2) instead of interleaving its files with the first one's (two `--force` runs into one
`--out` left one run's config beside the other's weights).

The lock is `filelock.FileLock` (already installed with torch, cross-platform, opens the lock file with
O_NOFOLLOW): on Linux and macOS an `flock` on the open file, which the kernel drops when the process ends
in any way, SIGKILL included, so a killed run never leaves a stale lock behind; `--resume` after a kill just
works. Readers (`evaluate`, `predict`) do not lock: every file is replaced atomically, so they read an old
or a new file whole. Under torchrun only rank 0, the one that writes, holds the lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from dnnconf.errors import RunFolderError

LOCK_NAME = ".dnnconf.lock"


class FolderBusy(RunFolderError):
    """Another process holds the run folder."""


def acquire(folder: Path) -> FileLock:
    """Take `folder`'s lock now or raise FolderBusy; the folder must exist. Release with `.release()`."""
    lock = FileLock(str(folder / LOCK_NAME), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise FolderBusy(f"{folder}: another dnnconf process is writing into this run folder (it holds "
                         f"{LOCK_NAME}); wait for it to end or choose another folder") from None
    except OSError as error:
        raise RunFolderError(f"{folder / LOCK_NAME}: cannot lock the run folder ({error.strerror or error})") from None
    return lock


@contextmanager
def holding(folder: Path) -> Iterator[None]:
    """Hold `folder`'s lock for the duration (see the module docstring)."""
    lock = acquire(folder)
    try:
        yield
    finally:
        lock.release()
