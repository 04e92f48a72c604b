"""What report.html costs a training run: the seconds RunReport spends writing the page after each epoch,
against the epoch itself, for the note's MLP (examples/fashion_mnist_default.yaml: 300-100 ReLU, SGD) at
batch 128 on Fashion-MNIST.

    python benchmarks/report_cost.py [--epochs 3] [--threads 1] [--quick]

Two measurements:
- a real run: each epoch's wall time (epoch_timer) and the time of each page write inside it;
- the page late in a long run: 100 epochs of history with per-layer gradient norms and a one-cycle
  schedule over 43,000 steps (the learning-rate and momentum curves change at every step, the worst case
  for the page's change-point curves), timing one epoch's update: the new steps, the page, the write.
`--quick` (a smoke test): one epoch on digits.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from arguments import Parser, positive_int  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def clocks() -> tuple[float, float]:
    """(wall, this process's CPU) seconds: on a shared machine the CPU time is what the work itself costs."""
    return time.perf_counter(), time.process_time()


def since(start: tuple[float, float]) -> tuple[float, float]:
    now = clocks()
    return now[0] - start[0], now[1] - start[1]


def timed_writes(report_class):
    """Wrap RunReport._write so every call's (wall, CPU) seconds are recorded; returns the list they go to."""
    seconds: list[tuple[float, float]] = []
    original = report_class._write

    def write(self, loop):
        started = clocks()
        original(self, loop)
        seconds.append(since(started))

    report_class._write = write
    return seconds


def epoch_clock():
    """A listener recording each epoch's (wall, CPU) seconds, the page write included (it runs before)."""
    from dnnconf.train.callbacks import Listener

    class EpochClock(Listener):
        def __init__(self):
            self.times: list[tuple[float, float]] = []

        def on_epoch_begin(self, loop):
            self.started = clocks()

        def on_epoch_end(self, loop, logs):
            self.times.append(since(self.started))

    return EpochClock()


def real_run(epochs: int, threads: int, quick: bool) -> tuple[list, list, int]:
    from dnnconf.config import load_config
    from dnnconf.report.run_report import REPORT_FILE, RunReport
    from dnnconf.run import train

    config_file = ROOT / "examples" / ("digits_default.yaml" if quick else "fashion_mnist_default.yaml")
    overrides = [f"training.epochs={epochs}", "training.batch_size=128", f"training.threads={threads}",
                 "training.early_stopping=null"]
    writes = timed_writes(RunReport)
    timer = epoch_clock()
    with tempfile.TemporaryDirectory() as folder:
        train(load_config(config_file, overrides), Path(folder) / "run", quiet=True, plots=False, listeners=(timer,))
        size = (Path(folder) / "run" / REPORT_FILE).stat().st_size
    return timer.times, writes[1:], size  # writes[0]: the empty page at train begin, outside any epoch


def late_page(epochs: int = 100, steps_per_epoch: int = 430, repeats: int = 20) -> tuple[tuple[float, float], int]:
    """Median (wall, CPU) seconds of one epoch's page update at epoch `epochs` of a long one-cycle run, and
    the page's size."""
    import random

    from dnnconf.optim.schedules import one_cycle
    from dnnconf.report.page import write_page
    from dnnconf.report.run_report import StepCurve, extend_step_curves, run_page

    total = epochs * steps_per_epoch
    schedule = one_cycle(0.01, steps_per_epoch, total, 0.1, None, None, None, 0.95, 0.85)
    random.seed(0)
    history = [{"epoch": e, "loss": 1 / e, "accuracy": 1 - 1 / (e + 1), "val_loss": 1.1 / e,
                "val_accuracy": 1 - 1.2 / (e + 1), "lr": schedule(e * steps_per_epoch), "momentum": 0.9,
                "grad_norm": random.random(), "grad_norm/dense_1": random.random(),
                "grad_norm/dense_2": random.random(), "grad_norm/dense_3": random.random(),
                "time": 1.0} for e in range(1, epochs + 1)]
    lr, momentum = StepCurve(), StepCurve()
    extend_step_curves(lr, momentum, schedule, history, 0, total - steps_per_epoch, steps_per_epoch)
    config_text = (ROOT / "examples" / "fashion_mnist_default.yaml").read_text() * 3  # a resolved config's size
    seconds = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "report.html"
        for _ in range(repeats):
            lr_copy, momentum_copy = StepCurve(), StepCurve()
            for copy, curve in ((lr_copy, lr), (momentum_copy, momentum)):
                copy.steps, copy.values = list(curve.steps), list(curve.values)
            started = clocks()
            extend_step_curves(lr_copy, momentum_copy, schedule, history, total - steps_per_epoch, total,
                               steps_per_epoch)
            write_page(path, run_page("late", config_text, history, status="running", epochs=epochs,
                                      metric="accuracy", lr=lr_copy, momentum=momentum_copy))
            seconds.append(since(started))
        size = path.stat().st_size
    return median_pair(seconds), size


def median_pair(pairs: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="report_cost.py", description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=positive_int, default=3, help="epochs of the real run (default 3)")
    parser.add_argument("--threads", type=positive_int, default=1, help="torch threads (default 1)")
    parser.add_argument("--quick", action="store_true", help="smoke test: one epoch on digits")
    args = parser.parse_args(argv)
    epochs = 1 if args.quick else args.epochs
    times, writes, size = real_run(epochs, args.threads, args.quick)
    epoch, write = median_pair(times), median_pair(writes)
    late, late_size = late_page(repeats=3 if args.quick else 20)
    print(f"the note's MLP, batch 128, {'digits' if args.quick else 'Fashion-MNIST'}, {args.threads} thread(s); "
          f"wall and CPU (this process) medians")
    print("| measurement | page write, wall / CPU (ms) | epoch, wall / CPU (s) | share of an epoch, wall / CPU "
          "| page size (KB) |")
    print("|---|---|---|---|---|")
    for label, cost, kilobytes in ((f"real run, median of {epochs} epochs", write, size / 1024),
                                   ("epoch 100 of a one-cycle run (43,000 steps)", late, late_size / 1024)):
        print(f"| {label} | {cost[0] * 1e3:.1f} / {cost[1] * 1e3:.1f} | {epoch[0]:.2f} / {epoch[1]:.2f} | "
              f"{cost[0] / epoch[0]:.2%} / {cost[1] / epoch[1]:.2%} | {kilobytes:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
