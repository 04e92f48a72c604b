"""Pictures of a diagnosis (matplotlib, Agg backend): heatmaps of layers × probe steps and the profile.

- `grad_norm_heatmap.png`: log10 ‖∂J/∂W‖ of each layer (rows, the input at the bottom) at each probe
  step (columns). Vanishing gradients show as a dark band at the bottom, exploding ones as a bright one.
- `act_std_heatmap.png`: log10 of each layer's activation std, same layout.
- `profile.png`: activation std and gradient norms (weights and outputs) against the layer index at
  the first probe step (initialization), log scale: the note's "variance should stay the same from
  layer to layer" made visible.
Cells that are zero or not finite are grey.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from dnnconf.plots import draw_heatmap, log10_masked, save_figure  # noqa: E402

if TYPE_CHECKING:
    from dnnconf.diagnosis.diagnostics import DiagnosisReport

def _names(report: DiagnosisReport) -> list[str]:
    return [f"{row.index} {row.name}" for row in report.layers]


def _draw_grad(ax: Any, report: DiagnosisReport, title: str = "", limits: tuple[float, float] | None = None) -> None:
    draw_heatmap(ax, log10_masked(report.matrix("weight_grad_norm")), columns=report.steps, rows=_names(report),
                 title=title or f"{report.name}: log10 ‖∂J/∂W‖", colorbar="log10 ‖∂J/∂W‖", xlabel="probe step",
                 limits=limits)


def _draw_std(ax: Any, report: DiagnosisReport, title: str = "", limits: tuple[float, float] | None = None) -> None:
    draw_heatmap(ax, log10_masked(report.matrix("act_std")), columns=report.steps, rows=_names(report),
                 title=title or f"{report.name}: log10 activation std", colorbar="log10 activation std",
                 xlabel="probe step", limits=limits)


def _shared_limits(reports: Sequence[DiagnosisReport], metric: str) -> tuple[float, float] | None:
    cells = np.concatenate([log10_masked(r.matrix(metric)).compressed() for r in reports])
    return (float(cells.min()), float(cells.max())) if cells.size else None


def _width(report: DiagnosisReport) -> float:
    return min(4.0 + 0.35 * len(report.steps), 10.0)


def _height(report: DiagnosisReport) -> float:
    return min(3.0 + 0.08 * len(report.layers), 8.0)


def grad_norm_heatmap(report: DiagnosisReport, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(_width(report), _height(report)))
    _draw_grad(ax, report)
    return save_figure(fig, path)


def act_std_heatmap(report: DiagnosisReport, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(_width(report), _height(report)))
    _draw_std(ax, report)
    return save_figure(fig, path)


def profile(report: DiagnosisReport, path: Path) -> Path:
    """Activation std and gradient norms against the layer index at the first probe step, log scale."""
    index = [row.index for row in report.layers]

    def positive(values: list[float]) -> list[float]:
        return [v if v is not None and np.isfinite(v) and v > 0 else np.nan for v in values]

    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    ax.plot(index, positive([r.act_std for r in report.layers]), "o-", ms=3, label="activation std")
    ax.plot(index, positive([r.weight_grad_norm for r in report.layers]), "s-", ms=3, label="‖∂J/∂W‖")
    ax.plot(index, positive([r.output_grad_norm for r in report.layers]), "^-", ms=3, alpha=0.7,
            label="‖∂J/∂a‖ (layer output)")
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("layer index (1 = nearest the input; the last is the output layer)")
    ax.set_title(f"{report.name}: per-layer profile at step {report.steps[0]}", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def write_plots(report: DiagnosisReport, folder: Path) -> list[Path]:
    """The three pictures of `report` in `folder`; their paths."""
    return [grad_norm_heatmap(report, folder / "grad_norm_heatmap.png"),
            act_std_heatmap(report, folder / "act_std_heatmap.png"),
            profile(report, folder / "profile.png")]


def compare(reports: Sequence[DiagnosisReport], labels: Sequence[str], path: Path) -> Path:
    """Both heatmaps of each report side by side, one report a row (the README's failing vs healthy);
    each column shares one colour scale, so the rows compare directly."""
    fig, axes = plt.subplots(len(reports), 2, figsize=(12, 4.6 * len(reports)), squeeze=False)
    grad_limits, std_limits = _shared_limits(reports, "weight_grad_norm"), _shared_limits(reports, "act_std")
    for (ax_grad, ax_std), report, label in zip(axes, reports, labels, strict=True):
        verdicts = ", ".join(v.id for v in report.verdicts)
        _draw_grad(ax_grad, report, f"{label}: log10 ‖∂J/∂W‖\n[{verdicts}]", grad_limits)
        _draw_std(ax_std, report, f"{label}: log10 activation std", std_limits)
    return save_figure(fig, path)
