"""What a run writes: its inputs first (config.yaml, normalization.json), its outputs when it ends
(model.safetensors, history.csv, plots, report.md, the views the caller adds, metrics.json last: its
presence says the outputs are complete)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from dnnconf.config import Config, dump_config
from dnnconf.nn.build import Network, summary_lines
from dnnconf.optim.schedules import Performance
from dnnconf.plots import learning_curves, learning_rate_per_step
from dnnconf.safe_write import write_atomic, write_tensors
from dnnconf.train.history import history_csv
from dnnconf.train.loop import TrainState

REMEDIES = (
    "lower the learning rate (try `dnnconf lr-find`)",
    "clip the gradients (optimizer.clipnorm or global_clipnorm: 1.0)",
    "add batch normalization (model.batch_norm: before_activation)",
    "use an initialization that fits the activation (He for ReLU family, LeCun for SELU, Glorot for tanh)",
)


def write_inputs(folder: Path, config: Config, normalization: Any) -> None:
    write_atomic(folder / "config.yaml", dump_config(config))
    # the input layer's statistics in plain JSON: the weights hold the layer; people and older tools read this
    write_atomic(folder / "normalization.json", json.dumps(normalization))


def write_outputs(folder: Path, config: Config, network: Network, state: TrainState, test: dict[str, float],
                  schedule: Any, steps_per_epoch: int, plots: bool = True,
                  views: Sequence[Callable[[], Any]] = ()) -> None:
    """What a finished run leaves in its folder: model.safetensors, metrics.json, history.csv, the learning
    curves and learning-rate plots (unless `plots` is false), report.md (a solo run, or each member of a
    parallel-seeds run), then each of `views`, then metrics.json."""
    write_tensors(folder / "model.safetensors", network.state_dict())
    if state.history:
        write_atomic(folder / "history.csv", history_csv(state.history))
    if state.history and plots:
        learning_curves(state.history, folder / "plots" / "learning_curves.png", title=config.name)
        learning_rate_per_step(lr_per_step(schedule, state, steps_per_epoch),
                               folder / "plots" / "learning_rate.png", steps_per_epoch, config.name)
    write_atomic(folder / "report.md", report(config, folder, network, state, test))
    for write_view in views:  # the final report.html (dnnconf.report, a layer above), passed in by the pipeline
        write_view()
    # last: its presence says the outputs are complete (`--resume` of a finished run: dnnconf.train.finished)
    write_atomic(folder / "metrics.json", json.dumps({"test": test, "epochs": state.epoch,
                                                      "stop_reason": state.stop_reason}, indent=1))


def lr_per_step(schedule: Any, state: TrainState, steps_per_epoch: int) -> list[float]:
    """The rate used at each step taken: the schedule is a pure function of the step, except for
    performance scheduling, whose rate changes only between epochs and is in the history."""
    if isinstance(schedule, Performance):
        return [row["lr"] for row in state.history for _ in range(steps_per_epoch)][: state.step]
    return [schedule(step) for step in range(state.step)]


def report(config: Config, folder: Path, network: Network, state: TrainState, test: dict[str, float]) -> str:
    last = state.history[-1] if state.history else {}
    lines = [f"# Run `{folder.name}`", "", f"- config: `{config.name}`, seed {config.seed}, "
             f"{config.data.dataset} data", f"- epochs run: {state.epoch} of {config.training.epochs}"]
    if state.stop_reason:
        lines.append(f"- stopped: {state.stop_reason}")
    if state.restored_epoch is not None:
        lines.append(f"- weights restored from the best epoch, {state.restored_epoch}")
    if state.diverged:
        lines += ["- **diverged**: weights rolled back to the last good checkpoint; remedies:",
                  *[f"  - {remedy}" for remedy in REMEDIES]]
    if test:
        lines.append("- test: " + ", ".join(f"{k} {v:.4f}" for k, v in test.items()))
    if last:
        lines.append("- last epoch: " + ", ".join(f"{k} {v:.4g}" for k, v in last.items() if k != "epoch"))
    lines += ["", "## Model", "", "```", *summary_lines(network), "```", "",
              "![learning curves](plots/learning_curves.png)", ""]
    return "\n".join(lines)
