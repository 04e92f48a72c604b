"""`report.html` of a run folder: the run's learning curves, learning rate and momentum per step,
gradient norms (global, and per layer with `training.layer_stats`), test metrics, stop reason, timing
and the resolved config, as one self-contained page (see `dnnconf.report.page`).

`RunReport` is a listener: it writes the page when training begins and after every epoch (status
"training…", and the page reloads itself every few seconds while the run is fresh), so a browser tab
follows a run as it trains. `write_run_report` writes the finished page (run.write_outputs calls it).
The learning-rate and momentum curves are kept as change points (first and last step of each run of
equal values), extended by each epoch's new steps only, so the page costs the same each epoch whatever
the schedule; a curve of more than MAX_STEP_POINTS points is thinned evenly when drawn.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dnnconf.advice import default_lang
from dnnconf.config import dump_config
from dnnconf.optim.schedules import Performance
from dnnconf.report.page import REFRESH_SECONDS, finite, positive_spread, render, write_page
from dnnconf.train.callbacks import Listener
from dnnconf.train.losses import metric_name
from dnnconf.train.tensorboard import TensorBoardLog

if TYPE_CHECKING:
    from dnnconf.config import Config
    from dnnconf.train.loop import Loop, TrainState

REPORT_FILE = "report.html"
MAX_STEP_POINTS = 1000  # a chart is ~600 pixels wide
LAYER_PREFIX = "grad_norm/"
SERIES_LABELS = {"grad_norm": "grad_norm_series", "momentum": "momentum_series"}  # history column → string id


class StepCurve:
    """A per-step curve stored as change points (the first and last step of each run of equal values), in
    two flat lists: numbers are not tracked by Python's garbage collector, so a long run's curve (tens of
    thousands of points) adds nothing to the collections that every page build triggers."""

    def __init__(self) -> None:
        self.steps: list[int] = []
        self.values: list[float] = []

    @property
    def points(self) -> list[list[float]]:
        return [[step, value] for step, value in zip(self.steps, self.values, strict=True)]

    def add(self, step: int, value: float) -> None:
        values = self.values
        if len(values) >= 2 and values[-1] == value and values[-2] == value:
            self.steps[-1] = step
        else:
            self.steps.append(step)
            values.append(value)

    def thinned(self) -> tuple[list[int], list[float]]:
        """At most about MAX_STEP_POINTS points, evenly chosen, the last one kept."""
        stride = math.ceil(len(self.steps) / MAX_STEP_POINTS)
        if stride <= 1:
            return self.steps, self.values
        last = [-1] if (len(self.steps) - 1) % stride else []
        return (self.steps[::stride] + [self.steps[i] for i in last],
                self.values[::stride] + [self.values[i] for i in last])


def extend_step_curves(lr: StepCurve, momentum: StepCurve, schedule: Any, history: list[dict[str, float]],
                       first: int, last: int, steps_per_epoch: int) -> None:
    """Add steps first … last−1: the schedule's rate and momentum where it sets them, else the epoch's
    logged values (performance scheduling changes the rate between epochs only; a fixed momentum)."""
    per_epoch_lr = isinstance(schedule, Performance)
    for step in range(first, last):
        epoch = step // max(steps_per_epoch, 1)
        row = history[epoch] if epoch < len(history) else (history[-1] if history else {})
        lr.add(step, float(row["lr"]) if per_epoch_lr and "lr" in row else float(schedule(step)))
        value = schedule.momentum(step)
        if value is None:
            value = row.get("momentum")
        if value is not None:
            momentum.add(step, float(value))


def _format_seconds(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{int(seconds // 60)} min {seconds % 60:02.0f} s"


def _best(values: list[float], metric: str) -> tuple[float, int] | None:
    present = [(v, i) for i, v in enumerate(values) if v is not None and math.isfinite(v)]
    if not present:
        return None
    return (min if metric == "mae" else max)(present)


def summary_rows(history: list[dict[str, float]], *, status: str, epochs: int, stop_reason: str,
                 restored_epoch: int | None, test: dict[str, float], metric: str, updated: float) -> list[list[str]]:
    done = int(history[-1]["epoch"]) if history else 0
    rows = [["status", status], ["epochs_run", f"{done} / {epochs}"]]
    if stop_reason:
        rows.append(["stop_reason", stop_reason])
    if restored_epoch is not None:
        rows.append(["restored", str(restored_epoch)])
    if test:
        rows.append(["test_metrics", ", ".join(f"{k} {v:.4f}" for k, v in test.items())])
    key = f"val_{metric}"
    values = [row.get(key) for row in history]
    best = _best(values, metric)
    if best is not None:
        rows.append(["best_val", f"{metric} {best[0]:.4f} (epoch {int(history[best[1]]['epoch'])})"])
        last = history[-1]
        rows.append(["final_val", ", ".join(f"{k[4:]} {last[k]:.4f}" for k in ("val_loss", key) if k in last)])
    times = [row["time"] for row in history if "time" in row]
    if times:
        rows += [["train_time", _format_seconds(sum(times))], ["epoch_time", f"{statistics.median(times):.2f}"]]
    rows.append(["updated", dt.datetime.fromtimestamp(updated).strftime("%Y-%m-%d %H:%M:%S")])
    return rows


def _epoch_chart(chart_id: str, title: str, history: list[dict[str, float]], keys: list[str],
                 log: bool | None = None) -> dict[str, Any] | None:
    present = [k for k in keys if history and k in history[0]]
    if not present:
        return None
    series = [{"label": SERIES_LABELS.get(k, k.removeprefix(LAYER_PREFIX)),
               "values": [finite(row.get(k, math.nan)) for row in history], "color": i}
              for i, k in enumerate(present)]
    if log is None:
        log = all(positive_spread(s["values"]) for s in series)
    if log:  # a log axis cannot show zero or negative values: they become gaps
        for s in series:
            s["values"] = [v if v is not None and v > 0 else None for v in s["values"]]
    return {"id": chart_id, "title": title, "x_label": "epoch", "log": log,
            "x": [int(row["epoch"]) for row in history], "series": series}


def _step_chart(chart_id: str, title: str, label: str, curve: StepCurve) -> dict[str, Any] | None:
    steps, raw = curve.thinned()
    if not steps:
        return None
    values = [finite(float(f"{v:.6g}")) for v in raw]  # 6 digits, as history.csv: a smaller page
    return {"id": chart_id, "title": title, "x_label": "step", "log": positive_spread(values),
            "x": list(steps), "series": [{"label": label, "values": values, "stepped": True}]}


def run_charts(history: list[dict[str, float]], metric: str, lr: StepCurve, momentum: StepCurve) -> list[dict]:
    layers = [k for k in history[0] if k.startswith(LAYER_PREFIX)] if history else []
    charts = [
        _epoch_chart("loss", "loss_curve", history, ["loss", "val_loss"]) or _empty("loss", "loss_curve"),
        _epoch_chart("metric", f"{metric}_title", history, [metric, f"val_{metric}"])
        or _empty("metric", f"{metric}_title"),
        _step_chart("lr", "learning_rate", "lr", lr),
        _step_chart("momentum", "momentum", "momentum_series", momentum),
        _epoch_chart("grad-norm", "grad_norm", history, ["grad_norm"]),
        _epoch_chart("layer-grad-norms", "layer_grad_norms", history, layers, log=True),
    ]
    return [chart for chart in charts if chart is not None]


def _empty(chart_id: str, title: str) -> dict[str, Any]:
    return {"id": chart_id, "title": title, "x_label": "epoch", "log": False, "x": [], "series": []}


def run_page(name: str, config_text: str, history: list[dict[str, float]], *, status: str, epochs: int,
             metric: str, lr: StepCurve, momentum: StepCurve, stop_reason: str = "",
             restored_epoch: int | None = None, test: dict[str, float] | None = None, lang: str = "en",
             stale_after: float = 3600.0) -> str:
    updated = time.time()
    payload = {"kind_title": "run_report", "title": name, "status": status, "updated": updated,
               "refresh_seconds": REFRESH_SECONDS, "stale_after": stale_after,
               "summary": summary_rows(history, status=status, epochs=epochs, stop_reason=stop_reason,
                                       restored_epoch=restored_epoch, test=test or {}, metric=metric,
                                       updated=updated),
               "charts": run_charts(history, metric, lr, momentum), "config": config_text}
    return render(payload, f"{name} · dnnconf", lang)


def _stale_after(history: list[dict[str, float]]) -> float:
    """Seconds without a new epoch after which a page stops reloading and says the run looks stopped."""
    times = [row["time"] for row in history if "time" in row]
    return max(600.0, 5 * max(times)) if times else 3600.0


def page_language() -> str:
    return default_lang()


def viewers(folder: Path, config: Config) -> list[Listener]:
    """The listeners that let a person watch a run as it trains (run.train adds them on the main process,
    after the checkpointer): report.html after every epoch, and TensorBoard event files with
    `training.tensorboard`."""
    listeners: list[Listener] = [RunReport(folder, config)]
    if config.training.tensorboard:
        listeners.append(TensorBoardLog(folder, config))
    return listeners


class RunReport(Listener):
    """Rewrites `folder/report.html` when training begins and after every epoch (status: training…)."""

    def __init__(self, folder: Path, config: Config, lang: str | None = None):
        self.path = folder / REPORT_FILE
        self.name, self.epochs = folder.name, config.training.epochs
        self.config_text = dump_config(config)
        self.metric = metric_name(config.loss)
        self.lang = lang or page_language()
        self.lr, self.momentum = StepCurve(), StepCurve()
        self.steps_seen = 0

    def _write(self, loop: Loop) -> None:
        state = loop.state
        extend_step_curves(self.lr, self.momentum, loop.schedule, state.history, self.steps_seen, state.step,
                           loop.steps_per_epoch)
        self.steps_seen = state.step
        write_page(self.path, run_page(self.name, self.config_text, state.history, status="running",
                                       epochs=self.epochs, metric=self.metric, lr=self.lr, momentum=self.momentum,
                                       lang=self.lang, stale_after=_stale_after(state.history)))

    def on_train_begin(self, loop: Loop) -> None:
        self._write(loop)  # a resumed run's curves so far, or an empty page to open right away

    def on_epoch_end(self, loop: Loop, logs: dict[str, float]) -> None:
        self._write(loop)


def write_run_report(folder: Path, config: Config, state: TrainState, test: dict[str, float], schedule: Any,
                     steps_per_epoch: int, lang: str | None = None) -> Path:
    """The finished page: final status, test metrics, stop reason; no reloading."""
    lr, momentum = StepCurve(), StepCurve()
    extend_step_curves(lr, momentum, schedule, state.history, 0, state.step, steps_per_epoch)
    path = folder / REPORT_FILE
    write_page(path, run_page(folder.name, dump_config(config), state.history,
                              status="diverged" if state.diverged else "finished", epochs=config.training.epochs,
                              metric=metric_name(config.loss), lr=lr, momentum=momentum,
                              stop_reason=state.stop_reason, restored_epoch=state.restored_epoch, test=test,
                              lang=lang or page_language()))
    return path
