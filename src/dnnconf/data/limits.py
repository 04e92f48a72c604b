"""The bounds that data files are checked against before anything is allocated.

`memory_available()` is the least of: the kernel's estimate of memory available without swapping
(`MemAvailable` in /proc/meminfo, else free physical pages from `os.sysconf`), the room left under the
process's address-space limit (`RLIMIT_AS` minus the current virtual size), and the room left in its
cgroup (`memory.max` minus `memory.current`). `MAX_CLASSES` caps the number of classes a label file
may imply (labels 0..K-1), since each class costs an output unit, a name and a column of every report.
"""

from __future__ import annotations

import os
from pathlib import Path

from dnnconf.errors import DataError

MAX_CLASSES = 100_000  # labels must lie in 0..MAX_CLASSES-1; ImageNet-21k, the largest common set, has 21,841


def memory_available() -> int:
    """Bytes this process can still allocate: the least of the system's, its rlimit's and its cgroup's room."""
    candidates = [_system_available(), _rlimit_room(), _cgroup_room()]
    return min(value for value in candidates if value is not None)


def check_fits(where: str, nbytes: int, what: str) -> None:
    """Refuse `nbytes` (what `what` would take once decompressed or parsed) when it exceeds the memory
    available; `where` names the file (or the option and file) in the one-line message."""
    available = memory_available()
    if nbytes > available:
        raise DataError(
            f"{where}: {what} needs {format_bytes(nbytes)} in memory, more than the {format_bytes(available)} "
            "available; use a smaller file or a machine with more memory"
        )


def format_bytes(nbytes: int | float) -> str:
    """A size for people: 512 B, 3.4 MB, 7.5 GB, 1.2e+06 TB (decimal units, as file managers show)."""
    for unit in ("B", "kB", "MB", "GB"):
        if abs(nbytes) < 1000:
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1000
    return f"{nbytes:.1f} TB" if nbytes < 1e6 else f"{nbytes:.1e} TB"


def _system_available() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # not POSIX: no bound we can read
        return 2**63 - 1


def _rlimit_room() -> int | None:
    try:
        import resource
    except ImportError:  # Windows
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[0])
        used = pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        used = 0
    return max(0, soft - used)


def _cgroup_room() -> int | None:
    folder = Path("/sys/fs/cgroup")
    try:
        limit = (folder / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return max(0, int(limit) - int((folder / "memory.current").read_text().strip()))
    except (OSError, ValueError):
        return None
