"""Calibration of predicted probabilities (the note's §5.4 MC dropout evaluation), and its plots.

Calibration (`calibration_metrics`): accuracy; NLL = mean −log p_y with p clipped at 1e-7 as Keras's
cross-entropy on probabilities does; Brier = mean Σ_k (p_k − 1[k = y])² over all classes (for a binary
run's two columns that is twice the one-column (p − y)²); ECE = Σ_bins n_b/n · |accuracy_b −
confidence_b| over 15 equal-width bins (lower, upper] of the top-label confidence.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dnnconf.errors import BadInput
from dnnconf.plots import plt, save_figure

ECE_BINS = 15
NLL_EPSILON = 1e-7  # Keras's backend epsilon: the clip of cross-entropy on probabilities


def _checked(probs: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    probs, y = np.asarray(probs, dtype=np.float64), np.asarray(y).astype(np.int64).reshape(-1)
    if probs.ndim != 2 or len(probs) != len(y) or not len(y):
        raise BadInput(f"calibration: needs probabilities (n, k) and n labels; received {probs.shape} and {y.shape}")
    if y.min() < 0 or y.max() >= probs.shape[1]:
        raise BadInput(f"calibration: labels must be 0..{probs.shape[1] - 1}")
    return probs, y


def reliability_bins(probs: Any, y: Any, bins: int = ECE_BINS) -> dict[str, np.ndarray]:
    """Top-label reliability: per equal-width bin (lower, upper] of the confidence max_k p_k (the first bin
    also takes 0), the mean confidence, the accuracy and the count (empty bins: NaN, NaN, 0)."""
    probs, y = _checked(probs, y)
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y
    index = np.clip(np.ceil(confidence * bins).astype(np.int64) - 1, 0, bins - 1)
    count = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        conf = np.bincount(index, confidence, minlength=bins) / count
        acc = np.bincount(index, correct.astype(np.float64), minlength=bins) / count
    return {"edges": np.linspace(0, 1, bins + 1), "confidence": conf, "accuracy": acc, "count": count}


def calibration_metrics(probs: Any, y: Any, bins: int = ECE_BINS) -> dict[str, float]:
    """accuracy, nll, brier and ece (top-label, `bins` equal-width bins) of probabilities (n, k) for labels y."""
    probs, y = _checked(probs, y)
    n = len(y)
    picked = probs[np.arange(n), y]
    onehot = np.zeros_like(probs)
    onehot[np.arange(n), y] = 1.0
    table = reliability_bins(probs, y, bins)
    filled = table["count"] > 0
    ece = float(np.sum(table["count"][filled] / n
                       * np.abs(table["accuracy"][filled] - table["confidence"][filled])))
    return {
        "accuracy": float(np.mean(probs.argmax(axis=1) == y)),
        "nll": float(np.mean(-np.log(np.clip(picked, NLL_EPSILON, 1.0)))),
        "brier": float(np.mean(np.sum((probs - onehot) ** 2, axis=1))),
        "ece": ece,
    }


def regression_metrics(mean: np.ndarray, y: Any) -> dict[str, float]:
    error = np.asarray(mean, dtype=np.float64).reshape(len(mean), -1)[:, 0] - np.asarray(y, dtype=np.float64)
    return {"mse": float(np.mean(error ** 2)), "mae": float(np.mean(np.abs(error)))}


def plot_reliability(curves: dict[str, dict[str, np.ndarray]], path: Path, title: str = "") -> Path:
    """Accuracy against confidence per bin, one curve per entry of `curves` (label → reliability_bins)."""
    fig, (ax, counts) = plt.subplots(2, 1, figsize=(5.5, 6.2), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    ax.plot([0, 1], [0, 1], "--", color="0.6", lw=1, label="perfectly calibrated")
    edges = next(iter(curves.values()))["edges"]
    width = (edges[1] - edges[0]) / (len(curves) + 1)
    for index, (label, table) in enumerate(curves.items()):
        filled = table["count"] > 0
        ax.plot(table["confidence"][filled], table["accuracy"][filled], "o-", ms=4, label=label)
        counts.bar(edges[:-1] + width * (index + 0.5), table["count"], width=width, label=label)
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(title or "reliability diagram (top label)")
    counts.set_yscale("log")
    counts.set_xlabel("confidence (max probability)")
    counts.set_ylabel("examples")
    counts.grid(alpha=0.3)
    return save_figure(fig, path)


def plot_uncertainty(entropy: np.ndarray, correct: np.ndarray, path: Path, title: str = "") -> Path:
    """Histograms of the predictive entropy of correct and of wrong predictions (densities)."""
    fig, ax = plt.subplots(figsize=(6, 3.8))
    edges = np.linspace(0, max(float(entropy.max()) if len(entropy) else 1.0, 1e-6), 41)
    for mask, label in ((correct, "correct"), (~correct, "wrong")):
        if mask.any():
            ax.hist(entropy[mask], bins=edges, density=True, alpha=0.55,
                    label=f"{label} ({int(mask.sum())}, mean {entropy[mask].mean():.3f})")
    ax.set_xlabel("predictive entropy H[E p] (nats)")
    ax.set_ylabel("density")
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(title or "uncertainty of correct and wrong predictions")
    return save_figure(fig, path)
