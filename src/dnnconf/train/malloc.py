"""glibc's malloc thresholds for a training process (light: no torch, so commands import it at the top)."""

from __future__ import annotations

import ctypes


def tune_malloc() -> None:
    """Keep glibc from returning freed tensor memory to the OS every step (the design notes measured
    ~2.3M page faults an epoch without this, ~79k with it, and 3–15% faster epochs)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 32 * 1024 * 1024)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 4 * 1024 * 1024 * 1024 - 1)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass  # not glibc: nothing to tune
