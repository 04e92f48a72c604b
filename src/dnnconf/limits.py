"""Limits on input: how much memory there is, and whether something about to be allocated fits.

Every size a user can type (a layer width, a batch size, a count of seeds) or a file can carry is
checked here before the memory is taken, so a tiny input cannot take the machine down:

- `memory_available()`: bytes this process can still allocate — the least of the kernel's
  `MemAvailable` (/proc/meminfo; `os.sysconf` pages elsewhere), the cgroup's `memory.max` less its
  `memory.current` (a container's share), and `RLIMIT_AS` less the address space already mapped.
- (`dnnconf.nn.memory.check_network_fits` applies `check_fits` to training a network.)
- `check_fits(key, needed)`: raises `BadInput` (one line, exit 2) naming `key`, the estimate and the
  memory available when `needed` bytes do not fit.
- `shorten(value)`: the `repr` of a value cut to a bounded length, for echoing received values.

The constants below are the fixed limits docs/reliability.md ("Limits on input") lists.
"""

from __future__ import annotations

import os
import resource
from pathlib import Path
from typing import Any

from dnnconf.errors import BadInput

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
SEED_MAX = INT64_MAX  # torch.manual_seed takes [-2**63, 2**64); numpy's default_rng only >= 0
MAX_TEXT_BYTES = 1024 * 1024  # a config or search-space file: real ones are a few KiB (PyYAML: ~10 s a MiB)
MAX_NESTING = 64  # mappings/lists inside each other in a config (the schema's deepest is 6)
MAX_NODES = 20_000  # values (scalars, lists, mappings) in one config: PyYAML parses ~7,000-10,000 a second
MAX_LAYERS = 1000  # hidden layers (`model.hidden`) or explicit `model.layers` entries
MAX_THREADS = 256  # training.threads, --threads
MAX_PARALLEL_SEEDS = 1024  # training.parallel_seeds
MAX_JOBS = 256  # worker processes (dnnconf sweep --jobs, dnnconf study --jobs)
MAX_MC_SAMPLES = 10_000  # --mc-samples: MC dropout predictions averaged
MAX_STUDY_SEEDS = 10_000  # dnnconf study --seeds: runs per variant
MAX_ECHO = 80  # characters of a received value an error message quotes


def shorten(value: Any, limit: int = MAX_ECHO) -> str:
    """`repr(value)` cut to `limit` characters (`…` and the full length mark a cut).

    Containers are cut before `repr` walks them, so echoing a value of a million items costs little."""
    if isinstance(value, list | tuple | dict | set) and len(value) > limit:
        kind = type(value).__name__
        items = list(value.items() if isinstance(value, dict) else value)[:limit]
        head = repr(dict(items) if isinstance(value, dict) else items)
        return f"{head[:limit]}… ({kind} of {len(value):,} items)"
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text):,} characters)"


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:  # not Linux: the free physical pages
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _cgroup_available() -> int | None:
    """A cgroup v2 limit less its current use (a container's share of the machine); None if unlimited."""
    try:
        own = Path("/proc/self/cgroup").read_text().strip().splitlines()
        relative = next(line.partition("::")[2] for line in own if line.startswith("0::"))
        folder = Path("/sys/fs/cgroup") / relative.lstrip("/")
        limit = (folder / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return int(limit) - int((folder / "memory.current").read_text())
    except (OSError, ValueError, StopIteration):
        return None


def _address_space_available() -> int | None:
    """RLIMIT_AS less the address space mapped now (VmSize); None if unlimited."""
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return soft - int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return soft


def memory_available() -> int | None:
    """Bytes this process can still allocate (the least of the three sources above); None if unknown."""
    known = [b for b in (_meminfo_available(), _cgroup_available(), _address_space_available()) if b is not None]
    return max(0, min(known)) if known else None


def human_bytes(count: float) -> str:
    """`1.5 GiB`, `300 MiB`, `12 KiB`, `80 B` (binary units)."""
    for unit, power in (("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if count >= 2**power:
            return f"{count / 2**power:.1f} {unit}"
    return f"{int(count)} B"


def check_fits(key: str, needed: int, what: str = "", available: int | None = None) -> None:
    """Raise `BadInput` naming `key` when `needed` bytes exceed the memory available.

    `what` says what was estimated (e.g. "4.0M parameters × 4 bytes × 4 copies"); `available`
    defaults to `memory_available()`. Unknown memory (no source readable) passes."""
    available = memory_available() if available is None else available
    if available is None or needed <= available:
        return
    detail = f" ({what})" if what else ""
    raise BadInput(f"{key}: needs about {human_bytes(needed)}{detail}, more than the "
                   f"{human_bytes(available)} of memory available; make it smaller")
