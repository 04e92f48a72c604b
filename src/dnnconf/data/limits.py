"""The bounds that data files are checked against before anything is allocated.

`memory_available()` is `dnnconf.limits.memory_available`: the least of the kernel's estimate of memory
available without swapping (`MemAvailable`), the room left under the process's address-space limit and
the room left in its cgroup. `MAX_CLASSES` caps the number of classes a label file
may imply (labels 0..K-1), since each class costs an output unit, a name and a column of every report.
"""

from __future__ import annotations

from dnnconf import limits
from dnnconf.errors import DataError

MAX_CLASSES = 100_000  # labels must lie in 0..MAX_CLASSES-1; ImageNet-21k, the largest common set, has 21,841


def memory_available() -> int:
    """Bytes this process can still allocate (`dnnconf.limits.memory_available`: the least of the system's,
    the address-space limit's and the cgroup's room); unbounded where none of them can be read."""
    available = limits.memory_available()
    return 2**63 - 1 if available is None else available


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
