"""The trials of `dnnconf sweep`: the objective (`Objective`), the listener that reports each epoch to Optuna
and stops a pruned trial (`ReportToTrial`), the line printed per trial, and a worker running its share.

Each trial samples the space, builds its config through overrides and trains it with `dnnconf.run.train`
into `OUT/trial-NNNN/`, a normal run folder (plus train.log, the per-epoch lines). After every epoch the
monitored validation metric is reported to Optuna (step = epoch - 1, Optuna's 0-based convention); when
the pruner says so, training stops at the end of that epoch and the trial is recorded as PRUNED. A run
that diverges (NaN loss or weights) is recorded as PRUNED with the note `diverged: …`, so samplers such
as TPE rank it among the worst instead of ignoring it. A sampled combination that the config rejects is
recorded as FAIL with its note.

The objective value is the best value of the metric over the trial's epochs (lowest loss, highest
accuracy). With early stopping's `restore_best_weights` (the default) that is exactly the value of the
weights saved in the trial's folder; without it the folder holds the last epoch's weights, and the value
still measures what the configuration reached.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dnnconf.config import load_config
from dnnconf.errors import BadInput, ConfigError, Diverged, DnnconfError
from dnnconf.run import train
from dnnconf.safe_write import write_atomic
from dnnconf.sweeps.study import SweepOptions, open_study, resolve_direction
from dnnconf.train import threads
from dnnconf.train.callbacks import Listener
from dnnconf.train.malloc import tune_malloc

if TYPE_CHECKING:
    import optuna

    from dnnconf.sweeps.space import Param
    from dnnconf.train.loop import Loop


class ReportToTrial(Listener):
    """After each epoch: report the monitored metric; stop training when the pruner says so (not after the
    last epoch: a trial that trained all its epochs completes with its value)."""

    def __init__(self, trial: optuna.Trial, metric: str, pruner_name: str):
        self.trial, self.metric, self.pruner_name = trial, metric, pruner_name
        self.pruned_at: int | None = None

    def on_epoch_end(self, loop: Loop, logs: dict[str, float]) -> None:
        if self.metric not in logs:
            known = ", ".join(k for k in logs if k not in ("epoch", "time", "lr", "grad_norm", "momentum"))
            raise BadInput(f"--metric {self.metric}: not logged by this run (no validation split, or another "
                           f"loss); logged: {known}")
        value = float(logs[self.metric])
        step = loop.state.epoch - 1
        self.trial.report(value, step)
        # after the last epoch nothing is left to save: the trial completes with its value
        if loop.state.epoch < loop.epochs and self.trial.should_prune():
            self.pruned_at = loop.state.epoch
            loop.state.stop = True
            loop.state.stop_reason = (f"pruned by the sweep's {self.pruner_name} pruner after epoch "
                                      f"{loop.state.epoch} ({self.metric} {value:.4f})")


def best_of(history: list[dict[str, float]], metric: str, direction: str) -> tuple[float, int]:
    """The best value of `metric` over the epochs, and its epoch."""
    pick = min if direction == "minimize" else max
    row = pick((r for r in history if metric in r and math.isfinite(r[metric])), key=lambda r: r[metric])
    return float(row[metric]), int(row["epoch"])


def trial_folder(out: Path, number: int) -> Path:
    return out / f"trial-{number:04d}"


class Objective:
    """Picklable: each worker process builds one from the options and the parsed space."""

    def __init__(self, options: SweepOptions, params: list[Param]):
        self.options, self.params = options, params
        self.direction = resolve_direction(options.metric, options.direction)

    def __call__(self, trial: optuna.Trial) -> float:
        import optuna


        options = self.options
        overrides = [param.override(param.suggest(trial)) for param in self.params]
        try:
            config = load_config(options.config, [*options.sets, *overrides])
        except ConfigError as error:
            trial.set_user_attr("note", f"invalid combination: {error}")
            raise
        folder = trial_folder(options.out, trial.number)
        trial.set_user_attr("folder", str(folder.resolve()))
        trial.set_user_attr("worker", f"{os.uname().nodename}:{os.getpid()}")
        listener = ReportToTrial(trial, options.metric, options.pruner)
        captured = io.StringIO()
        try:
            with contextlib.redirect_stdout(captured):
                result = train(config, folder, quiet=True, listeners=(listener,))
        except Diverged as error:
            trial.set_user_attr("note", str(error).removeprefix(f"{folder}: ").split(";")[0])  # training diverged …
            raise optuna.TrialPruned(f"diverged: {error}") from None
        finally:
            if folder.is_dir():
                write_atomic(folder / "train.log", captured.getvalue(), durable=False)
        history = result.state.history
        value, epoch = best_of(history, options.metric, self.direction)
        trial.set_user_attr("epochs", result.state.epoch)
        trial.set_user_attr("best_epoch", epoch)
        for key, metric in result.test.items():
            trial.set_user_attr(f"test_{key}", float(metric))
        if listener.pruned_at is not None:
            trial.set_user_attr("note", f"pruned after epoch {listener.pruned_at}")
            raise optuna.TrialPruned(result.state.stop_reason)
        return value


def format_params(params: dict[str, Any]) -> str:
    parts = []
    for key, value in params.items():
        parts.append(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}")
    return " ".join(parts)


class PrintTrial:
    """One line per finished trial: number, state, value, params (and the best so far)."""

    def __init__(self, metric: str, log: Any = print):
        self.metric, self.log = metric, log

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        state = trial.state.name.lower()
        value = f"{self.metric} {trial.value:.4f}" if trial.value is not None else f"{self.metric} -"
        seconds = trial.duration.total_seconds() if trial.duration else 0.0
        line = f"trial {trial.number:>4}  {state:<8}  {value}  {format_params(trial.params)}  {seconds:.1f}s"
        note = trial.user_attrs.get("note")
        if note and trial.state.name != "COMPLETE":
            line += f"  ({note})"
        try:
            best = study.best_trial
            line += f"  [best: trial {best.number}, {best.value:.4f}]"
        except ValueError:
            pass  # no trial completed yet
        self.log(line)


def run_worker(options: SweepOptions, params: list[Param], study_name: str, n_trials: int, index: int,
               jobs: int = 1) -> None:
    """One Optuna worker of `jobs`: load the shared study and run `n_trials` trials in it (each trial's
    threads: the free cores / jobs, unless training.threads says; train/threads.py)."""
    import optuna


    optuna.logging.set_verbosity(optuna.logging.ERROR)  # our own line per trial says it all
    share = threads.POLICY.share
    threads.set_share(jobs)
    tune_malloc()
    seed = None if options.seed is None else options.seed + index  # workers must not draw the same points
    study = open_study(options, study_name, seed)
    try:
        study.optimize(Objective(options, params), n_trials=n_trials, catch=(ConfigError,),
                       callbacks=[PrintTrial(options.metric, options.log)], gc_after_trial=True)
    finally:
        threads.set_share(share)  # worker 0 runs in the caller's process


def worker_main(options: SweepOptions, params: list[Param], study_name: str, n_trials: int, index: int,
                 jobs: int) -> None:
    """Entry point of a spawned worker: errors become one line and the exit code."""
    options.log = _print_flush
    try:
        run_worker(options, params, study_name, n_trials, index, jobs)
    except DnnconfError as error:
        print(f"dnnconf sweep (worker {index}): {error}", file=sys.stderr, flush=True)
        sys.exit(error.exit_code)


def _print_flush(*args: Any) -> None:
    print(*args, flush=True)
