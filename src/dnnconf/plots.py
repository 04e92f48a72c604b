"""Plots written into a run folder (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def save_figure(fig: Any, path: Path, dpi: int = 110) -> Path:
    """Lay the figure out, write it to `path` (making its folder) and close it; returns the path."""
    from dnnconf.train.safe_write import write_figure

    try:
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        write_figure(fig, path, dpi)  # never through a link planted at `path`; a full disk is one line
    finally:
        plt.close(fig)
    return path


def learning_curves(history: list[dict[str, float]], path: Path, title: str = "") -> Path:
    """Loss and each metric per epoch, train against validation; the learning rate on its own axis."""
    epochs = [row["epoch"] for row in history]
    skip = ("epoch", "time", "lr", "grad_norm", "momentum")
    metrics = [k for k in history[0] if not k.startswith("val_") and k not in skip and "/" not in k]
    fig, axes = plt.subplots(1, len(metrics) + 1, figsize=(5 * (len(metrics) + 1), 3.8))
    for ax, metric in zip(axes, metrics, strict=False):
        ax.plot(epochs, [row[metric] for row in history], "o-", ms=3, label=f"train {metric}")
        if f"val_{metric}" in history[0]:
            ax.plot(epochs, [row[f"val_{metric}"] for row in history], "s-", ms=3, label=f"valid {metric}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    ax = axes[-1]
    ax.plot(epochs, [row["lr"] for row in history], "o-", ms=3, color="tab:green")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("learning rate")
    ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def learning_rate_per_step(lrs: list[float], path: Path, steps_per_epoch: int, title: str = "") -> Path:
    """The learning rate at every optimizer step, with epoch boundaries marked."""
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot(range(len(lrs)), lrs, color="tab:green", lw=1.2)
    for boundary in range(steps_per_epoch, len(lrs), steps_per_epoch):
        ax.axvline(boundary, color="0.85", lw=0.6, zorder=0)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("learning rate")
    if lrs and min(lrs) > 0 and max(lrs) / min(lrs) > 20:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.set_title(title or "learning rate per step")
    return save_figure(fig, path)
