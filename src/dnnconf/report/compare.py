"""`dnnconf compare RUN RUN… [--out DIR]`: runs side by side, the way the note chooses between
configurations (this initializer or that one, batch norm before or after, which optimizer).

Writes `compare.html` (one self-contained page: every group's curves overlaid on shared axes, the
configuration keys that differ and nothing else, final/best/test metrics side by side), `compare.md`
and `compare.csv` (the metrics table), and returns the markdown for the terminal. A group of several
runs (a study variant's seeds, a parallel-seeds run) is drawn as its mean with a band of ± one sample
standard deviation, and its table cells read `mean ± std`. Which folders are runs: `dnnconf.report.folders`.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dnnconf.config.differences import config_differences
from dnnconf.csv_text import csv_text
from dnnconf.errors import RunFolderError
from dnnconf.report.folders import Group, RunData, collect
from dnnconf.report.page import finite, positive_spread, render, write_page
from dnnconf.report.run_report import page_language
from dnnconf.report.strings import check_lang
from dnnconf.train.run_folder.naming import timestamped_folder

CURVES = (  # (chart id, title string, history column; {m} is the metric)
    ("val-loss", "val_loss_title", "val_loss"),
    ("val-metric", "val_{m}_title", "val_{m}"),
    ("loss", "train_loss", "loss"),
    ("metric", "{m}_train_title", "{m}"),
    ("lr", "learning_rate_epoch", "lr"),
    ("grad-norm", "grad_norm", "grad_norm"),
)


@dataclass
class Comparison:
    folder: Path  # where compare.html, compare.md and compare.csv are
    groups: list[Group]
    rows: list[dict[str, Any]]  # the metrics table, one row a group
    differences: list[dict[str, Any]]  # one row a differing config key: key, then a value per group
    markdown: str


def _mean_std(values: list[float]) -> tuple[float | None, float | None]:
    present = [v for v in values if v is not None and math.isfinite(v)]
    if not present:
        return None, None
    return statistics.fmean(present), (statistics.stdev(present) if len(present) > 1 else None)


def _best(values: list[float], metric: str) -> float | None:
    present = [v for v in values if math.isfinite(v)]
    return (min if metric == "mae" else max)(present) if present else None


def run_numbers(run: RunData, metric: str) -> dict[str, float | None]:
    history, test = run.history, run.metrics.get("test") or {}
    last = history[-1] if history else {}
    key = f"val_{metric}"
    return {"epochs": last.get("epoch"), "final_val_loss": last.get("val_loss"), f"final_{key}": last.get(key),
            f"best_{key}": _best([row.get(key, math.nan) for row in history], metric),
            "test_loss": test.get("loss"), f"test_{metric}": test.get(metric)}


def metrics_rows(groups: list[Group], metric: str) -> list[dict[str, Any]]:
    """A row a group: the mean of each number over its runs, `<number>_std` beside it for several runs."""
    rows = []
    for group in groups:
        numbers = [run_numbers(run, metric) for run in group.runs]
        row: dict[str, Any] = {"run": group.label, "runs": len(group.runs)}
        for key in numbers[0]:
            mean, std = _mean_std([n[key] for n in numbers])
            row[key] = mean
            if len(group.runs) > 1:
                row[f"{key}_std"] = std
        reasons = Counter(str(run.metrics.get("stop_reason") or "") for run in group.runs)
        reason, count = reasons.most_common(1)[0]
        if len(group.runs) > 1:  # the kind of stop ("early stopping"), how many of the runs stopped so
            reason = f"{reason.split(':')[0]} ({count}/{len(group.runs)})" if reason else ""
        row["stop_reason"] = reason
        rows.append(row)
    return rows


def _flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _shown(value: Any) -> str:
    """A config value in a table cell: a float to 6 significant digits, a list of one repeated value as
    `[v] × n` (20 hidden layers of 100 units: `[100] × 20`), anything longer than 120 characters cut."""
    if value is None:
        return "null"
    if isinstance(value, list) and len(value) > 3 and all(v == value[0] for v in value):
        return f"[{_shown(value[0])}] × {len(value)}"
    if isinstance(value, (list, dict)):
        text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
        return text if len(text) <= 120 else text[:119] + "…"
    if isinstance(value, float):
        return f"{value:.6g}"  # a sampled rate (0.006219847973135772) as history.csv writes numbers
    return str(value)


def differing_keys(groups: list[Group]) -> list[dict[str, Any]]:
    """The config keys whose values tell the groups apart, with each group's value(s). A key that differs
    only within groups, the same way in each (the seeds of a study's variants), is left out."""
    runs = [run for group in groups for run in group.runs]
    keys: set[str] = set()
    for run in runs[1:]:
        keys.update(config_differences(runs[0].config, run.config))
    flat = [[_flatten(run.config) for run in group.runs] for group in groups]
    rows = []
    for key in sorted(keys):
        row: dict[str, Any] = {"key": key}
        value_sets = []
        for group, configs in zip(groups, flat, strict=True):
            values = list(dict.fromkeys(_shown(config.get(key, _missing(key, config))) for config in configs))
            value_sets.append(values)
            row[group.label] = values[0] if len(values) == 1 else ", ".join(values[:4]) + (" …" if len(values) > 4
                                                                                           else "")
        if len(groups) > 1 and all(values == value_sets[0] for values in value_sets):
            continue
        rows.append(row)
    return rows


def _missing(key: str, flat: dict[str, Any]) -> Any:
    """A key absent from a flattened config: a section that is a whole dict in another run, or absent."""
    nested = {k[len(key) + 1:]: v for k, v in flat.items() if k.startswith(key + ".")}
    return nested or "—"


def _cell(row: dict[str, Any], key: str) -> str:
    value = row.get(key)
    if value is None:
        return ""
    digits = 1 if key == "epochs" else 4
    std = row.get(f"{key}_std")
    if key == "epochs" and float(value).is_integer() and not std:
        return f"{value:.0f}"
    text = f"{value:.{digits}f}" if isinstance(value, float) else str(value)
    return f"{text} ± {std:.{digits}f}" if std is not None else text


def number_columns(metric: str) -> list[str]:
    return ["epochs", "final_val_loss", f"final_val_{metric}", f"best_val_{metric}", "test_loss", f"test_{metric}"]


def markdown_summary(rows: list[dict[str, Any]], differences: list[dict[str, Any]], labels: list[str],
                     metric: str) -> str:
    columns = ["run", "runs", *number_columns(metric), "stop_reason"]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row, c).replace("|", "\\|") for c in columns) + " |" for row in rows]
    if differences:
        lines += ["", "| key | " + " | ".join(labels) + " |", "|" + "---|" * (len(labels) + 1)]
        lines += ["| " + " | ".join(str(row[c]).replace("|", "\\|") for c in ["key", *labels]) + " |"
                  for row in differences]
    else:
        lines += ["", "the configurations are identical"]
    return "\n".join(lines) + "\n"


def curve_charts(groups: list[Group], metric: str) -> list[dict[str, Any]]:
    """One chart a history column: each group's mean over its runs per epoch, a ± std band for several."""
    epochs = sorted({int(row["epoch"]) for group in groups for run in group.runs for row in run.history})
    charts = []
    for chart_id, title, column in CURVES:
        column, title = column.format(m=metric), title.format(m=metric)
        series = []
        for index, group in enumerate(groups):
            by_epoch = [{int(row["epoch"]): row.get(column, math.nan) for row in run.history} for run in group.runs]
            means, lows, highs = [], [], []
            for epoch in epochs:
                mean, std = _mean_std([values.get(epoch, math.nan) for values in by_epoch])
                means.append(finite(mean))
                lows.append(finite(mean - std) if std is not None else means[-1])
                highs.append(finite(mean + std) if std is not None else means[-1])
            if any(v is not None for v in means):
                line: dict[str, Any] = {"label": group.label, "raw": True, "values": means, "color": index}
                if len(group.runs) > 1:
                    line["band"] = [lows, highs]
                series.append(line)
        if not series:
            continue
        log = column in ("lr", "grad_norm") and positive_spread([v for s in series for v in s["values"]])
        if log:
            for s in series:
                for values in [s["values"], *s.get("band", [])]:
                    values[:] = [v if v is not None and v > 0 else None for v in values]
        charts.append({"id": chart_id, "title": title, "x_label": "epoch", "log": log, "x": epochs,
                       "series": series})
    return charts


def compare(runs: list[str | Path], out: str | Path | None = None, lang: str | None = None) -> Comparison:
    """Compare run, study and sweep folders (see `dnnconf.report.folders`); writes compare.html, compare.md
    and compare.csv into `out` (default runs/compare-<timestamp>/) and returns the comparison."""
    lang = check_lang(lang) if lang is not None else page_language()
    groups = collect([Path(run) for run in runs])
    metric = Counter(run.metric for group in groups for run in group.runs).most_common(1)[0][0]
    rows = metrics_rows(groups, metric)
    differences = differing_keys(groups)
    labels = [group.label for group in groups]
    markdown = markdown_summary(rows, differences, labels, metric)
    folder = Path(out) if out is not None else timestamped_folder("compare")
    if folder.exists() and not folder.is_dir():
        raise RunFolderError(f"--out {folder}: exists and is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    several = any(len(group.runs) > 1 for group in groups)
    columns = ["run", "runs", *number_columns(metric), "stop_reason"]
    payload = {
        "kind_title": "comparison", "title": " · ".join(labels[:4]) + (" …" if len(labels) > 4 else ""),
        "status": None, "updated": 0, "refresh_seconds": 0, "stale_after": 0,
        "summary": [["run", f"{group.label}: {', '.join(str(run.folder) for run in group.runs[:3])}"
                     + (" …" if len(group.runs) > 3 else "")] for group in groups],
        "note": "spread_note" if several else None,
        "charts": curve_charts(groups, metric),
        "tables": [{"title": "metrics_side_by_side", "columns": columns,
                    "rows": [[_cell(row, c) for c in columns] for row in rows]},
                   {"title": "config_differences", "columns": ["key", *labels], "empty": "no_differences",
                    "rows": [[row[c] for c in ["key", *labels]] for row in differences]}],
        "config": None,
    }
    write_page(folder / "compare.html", render(payload, "dnnconf compare", lang))
    write_page(folder / "compare.md", markdown)
    csv_columns = ["run", "runs"] + [k for c in number_columns(metric) for k in (c, f"{c}_std")
                                     if k in rows[0] or any(k in row for row in rows)] + ["stop_reason"]
    write_page(folder / "compare.csv", csv_text(rows, csv_columns, cell=lambda v: "" if v is None else
                                                (f"{v:.6g}" if isinstance(v, float) else str(v))))
    return Comparison(folder, groups, rows, differences, markdown)
