"""Plots written into a run folder (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def learning_curves(history: list[dict[str, float]], path: Path, title: str = "") -> Path:
    """Loss and each metric per epoch, train against validation; the learning rate on its own axis."""
    epochs = [row["epoch"] for row in history]
    metrics = [k for k in history[0] if not k.startswith("val_") and k not in ("epoch", "time", "lr", "grad_norm")]
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
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
