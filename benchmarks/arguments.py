"""The benchmarks' command lines: dnnconf's one-line parser errors (exit 2) and its count type."""

from __future__ import annotations

from dnnconf.arguments import Parser, whole_number

positive_int = whole_number(1)  # repeats, epochs, seeds, images, threads, batch sizes
non_negative_int = whole_number(0)  # counts that may be zero (epoch_speed's --busy)

__all__ = ["Parser", "non_negative_int", "positive_int"]
