"""Plots written into a run folder (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from dnnconf.safe_write import write_figure


def save_figure(fig: Any, path: Path, dpi: int = 110) -> Path:
    """Lay the figure out, write it to `path` (making its folder) and close it; returns the path."""
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


# heatmaps of layers × steps: dnnconf diagnose, and training.layer_stats
GREY = "#d0d0d0"


def log10_masked(matrix: np.ndarray) -> np.ma.MaskedArray:
    """log10 of the positive finite cells; zeros, negatives and NaN/inf are masked (drawn grey)."""
    matrix = np.asarray(matrix, dtype=float)
    good = np.isfinite(matrix) & (matrix > 0)
    out = np.full(matrix.shape, np.nan)
    out[good] = np.log10(matrix[good])
    return np.ma.masked_invalid(out)


def draw_heatmap(ax: Any, values: np.ma.MaskedArray, *, columns: Sequence[Any], rows: Sequence[str],
                 title: str, colorbar: str, xlabel: str, ylabel: str = "layer (input at the bottom)",
                 limits: tuple[float, float] | None = None) -> None:
    """values: rows × columns (row 0 drawn at the bottom); `limits` fixes the colour scale."""
    cmap = plt.get_cmap("viridis").with_extremes(bad=GREY)
    finite = values.compressed()
    vmin, vmax = limits or ((float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0))
    if vmin == vmax:
        vmin, vmax = vmin - 0.5, vmax + 0.5
    image = ax.imshow(values, aspect="auto", origin="lower", cmap=cmap, vmin=vmin, vmax=vmax,
                      interpolation="nearest")
    ax.figure.colorbar(image, ax=ax, label=colorbar)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    n_cols, n_rows = len(columns), len(rows)
    col_ticks = np.arange(0, n_cols, max(1, -(-n_cols // 8)))
    ax.set_xticks(col_ticks, [str(columns[i]) for i in col_ticks])
    row_ticks = np.unique(np.linspace(0, n_rows - 1, min(n_rows, 12)).round().astype(int))
    ax.set_yticks(row_ticks, [rows[i] for i in row_ticks], fontsize=7)
