"""Progress: a rich bar per epoch on a terminal; one plain line per epoch otherwise or with --quiet."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
from rich.progress import Progress as RichProgress

from dnnconf.train.callbacks import Listener

if TYPE_CHECKING:
    from dnnconf.train.loop import Loop

BAR_EVERY = 32  # steps between bar refreshes: cheap Python only, no host sync


def format_logs(logs: dict[str, float]) -> str:
    parts = []
    for key, value in logs.items():
        if key in ("epoch", "time", "momentum") or "/" in key:  # all in history.csv; the line stays short
            continue
        parts.append(f"{key} {value:.3g}" if key in ("lr", "grad_norm") else f"{key} {value:.4f}")
    return "  ".join(parts)


class Progress(Listener):
    def __init__(self, quiet: bool = False, stream: Any = None):
        self.stream = stream or sys.stdout
        self.quiet = quiet
        self.live = not quiet and hasattr(self.stream, "isatty") and self.stream.isatty()
        self._bar: Any = None
        self._task: Any = None
        self._count = 0

    def on_train_begin(self, loop: Loop) -> None:
        if self.live:
            self._bar = RichProgress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TimeRemainingColumn(), transient=True)
            self._bar.start()

    def on_epoch_begin(self, loop: Loop) -> None:
        self._count = 0
        if self._bar is not None:
            description = f"epoch {loop.state.epoch + 1}/{loop.epochs}"
            self._task = self._bar.add_task(description, total=loop.steps_per_epoch)

    def on_batch_end(self, loop: Loop) -> None:
        self._count += 1
        if self._bar is not None and self._count % BAR_EVERY == 0:
            self._bar.update(self._task, completed=self._count)

    def on_epoch_end(self, loop: Loop, logs: dict[str, float]) -> None:
        if self._bar is not None:
            self._bar.remove_task(self._task)
        line = f"epoch {loop.state.epoch}/{loop.epochs}  {format_logs(logs)}  {logs['time']:.1f}s"
        if self._bar is not None:
            self._bar.console.print(line, highlight=False)
        else:
            print(line, file=self.stream, flush=True)

    def on_train_end(self, loop: Loop) -> None:
        if self._bar is not None:
            self._bar.stop()
        if loop.state.stop_reason and not self.quiet:
            print(f"stopped: {loop.state.stop_reason}", file=self.stream, flush=True)
