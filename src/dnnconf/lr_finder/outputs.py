"""What the range test leaves behind: the plot (loss against learning rate, each suggestion a line),
lr_find.csv and lr_find.json, and the config that uses the chosen rate (`lr-find --apply`)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from dnnconf.config import config_from_dict, dump_config
from dnnconf.lr_finder.curve import CENTERED_SMOOTHING, RULES
from dnnconf.plots import plt, save_figure
from dnnconf.safe_write import write_atomic

if TYPE_CHECKING:
    from dnnconf.lr_finder.finder import LRFindResult

COLORS = {"valley": "tab:green", "steepest": "tab:orange", "min/10": "tab:purple", "note": "tab:red"}


def plot_lr_find(result: LRFindResult, path: str | Path, title: str = "") -> Path:
    """Loss against learning rate (log axis), raw and smoothed, each suggestion a vertical line, its band
    shaded when there are repeats; y from 0 (or the lowest loss, if negative) to loss₀ + min loss, as the
    note's `plot_lr_vs_loss`."""
    path = Path(path)
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    repeats = len(result.lrs)
    top, bottom = -math.inf, math.inf
    for k, (lrs, losses, smoothed) in enumerate(zip(result.lrs, result.losses, result.smoothed, strict=True)):
        finite = [v for v in losses if math.isfinite(v)]
        if not finite:
            continue
        top, bottom = max(top, finite[0] + min(finite)), min(bottom, min(finite))
        ax.plot(lrs, losses, color="tab:blue", alpha=0.25, lw=0.8, label="batch loss" if k == 0 else None)
        label = f"smoothed (β = {CENTERED_SMOOTHING}, centered)" if k == 0 else None
        ax.plot(lrs, smoothed, color="tab:blue", lw=1.6, label=label)
    for name in RULES:
        value, (low, high) = result.suggestions[name], result.band[name]
        star = " (recommended)" if name == result.recommended else ""
        spread = f" [{low:.2g}–{high:.2g}]" if repeats > 1 else ""
        ax.axvline(value, color=COLORS[name], ls="-" if star else "--", lw=1.8 if star else 1.2,
                   label=f"{name}: {value:.2g}{spread}{star}")
        if repeats > 1 and high > low:
            ax.axvspan(low, high, color=COLORS[name], alpha=0.12)
    ax.set_xscale("log")
    lrs_all = [lr for lrs in result.lrs for lr in lrs]
    if lrs_all:
        ax.set_xlim(min(lrs_all), max(lrs_all))
    if math.isfinite(top) and top > min(0.0, bottom):
        ax.set_ylim(min(0.0, bottom), top)
    ax.set_xlabel("learning rate")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="lower left")
    runs = f", {repeats} batch orders" if repeats > 1 else ""
    ax.set_title(f"{title + ': ' if title else ''}learning-rate range test{runs}")
    return save_figure(fig, path)


def write_outputs(result: LRFindResult, folder: str | Path, title: str = "") -> list[Path]:
    """lr_find.png, lr_find.csv (repeat, step, lr, loss, smoothed) and lr_find.json in `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    csv_path, json_path = folder / "lr_find.csv", folder / "lr_find.json"
    write_atomic(csv_path, result.to_csv())
    write_atomic(json_path, json.dumps(result.to_json(), indent=1))
    return [plot_lr_find(result, folder / "lr_find.png", title), csv_path, json_path]


def applied_config(config: Any, lr: float) -> Any:
    """A copy of the resolved config using `lr`: as schedule.max_lr (start_lr = max_lr / 10, the note's
    1cycle) when the schedule is one_cycle, otherwise as optimizer.learning_rate."""
    raw = yaml.safe_load(dump_config(config))  # the dumped form: only one of the model's two forms
    lr = float(f"{lr:.3g}")
    schedule = raw.get("schedule")
    name = schedule if isinstance(schedule, str) else (schedule or {}).get("name")
    if name == "one_cycle":
        raw["schedule"] = {**(schedule if isinstance(schedule, dict) else {"name": name}),
                           "max_lr": lr, "start_lr": float(f"{lr / 10:.3g}")}
    else:
        raw["optimizer"]["learning_rate"] = lr
    return config_from_dict(raw, "lr-find --apply")
