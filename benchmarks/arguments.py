"""The benchmarks' command lines: dnnconf's one-line parser errors (exit 2) and a positive-count type."""

from __future__ import annotations

import argparse

from dnnconf.cli import Parser  # noqa: F401 - re-exported: one line and exit 2 on a bad argument


def positive_int(text: str) -> int:
    """A count ≥ 1 (repeats, epochs, seeds, images, threads, batch sizes)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value
