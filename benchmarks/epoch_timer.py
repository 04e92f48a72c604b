"""The benchmarks' epoch timer: a dnnconf listener that records each epoch's wall time.

Added after dnnconf's own listeners (`dnnconf.run.train(listeners=...)`), so each time covers the epoch's
steps, its validation, history row and checkpoint, as a user's run pays them.
"""

from __future__ import annotations

import time


def epoch_timer():
    """A new listener whose `times` list holds the seconds of each epoch so far."""
    from dnnconf.train.callbacks import Listener

    class EpochTimer(Listener):
        def __init__(self):
            self.times: list[float] = []
            self.started = 0.0

        def on_epoch_begin(self, loop):
            self.started = time.perf_counter()

        def on_epoch_end(self, loop, logs):
            self.times.append(time.perf_counter() - self.started)

    return EpochTimer()
