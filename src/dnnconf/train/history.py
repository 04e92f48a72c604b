"""`history.csv`: one row an epoch (losses, metrics, lr, mean gradient norm, seconds), rewritten
atomically after every epoch so a crash never leaves half a file. Not fsynced each epoch: the checkpoint
holds the same history durably, and the run's end writes the file durably."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import TYPE_CHECKING

from dnnconf.safe_write import write_atomic
from dnnconf.train.callbacks import Listener

if TYPE_CHECKING:
    from dnnconf.train.loop import Loop


def history_csv(history: list[dict[str, float]]) -> str:
    buffer = io.StringIO()
    if history:
        columns = ["epoch", *[k for k in history[0] if k != "epoch"]]
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in history:
            writer.writerow({k: (int(v) if k == "epoch" else f"{v:.6g}") for k, v in row.items()})
    return buffer.getvalue()


def read_history(path: Path) -> list[dict[str, float]]:
    with open(path, newline="") as handle:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)]


class HistoryLog(Listener):
    def __init__(self, path: Path):
        self.path = path

    def on_epoch_end(self, loop: Loop, logs: dict[str, float]) -> None:
        write_atomic(self.path, history_csv(loop.state.history), durable=False)
