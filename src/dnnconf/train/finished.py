"""A finished run is final: `--resume` on it trains nothing and rewrites nothing.

Every checkpoint records in state.json whether training had finished when it was written (`finished`:
early stopping fired, the loop was told to stop, or every epoch ran) and why (`stop_reason`). A run's
outputs are written after its last checkpoint, the file that marks them complete last (metrics.json for a
solo run, members.csv for a parallel-seeds run). So `--resume` on a finished run finds one of two things:

- the outputs are complete: nothing to do; the run says so in one line and exits 0;
- the process was killed between the final checkpoint and the last output: the checkpoint is restored,
  the loop (already stopped) runs no epoch, and the outputs are written from it, bit for bit what the
  uninterrupted run wrote (the best weights of early stopping are in the checkpoint too).

A run that early stopping stopped stays stopped, even under `--resume --force`. One that ran all its
epochs can be extended on purpose: `--resume RUN --force --set training.epochs=N` with N larger continues
it from its last checkpoint (and rewrites its outputs); without --force the config must be the saved one,
so the run is final.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dnnconf.train import setup
from dnnconf.train.checkpoint import read_state
from dnnconf.train.loop import TrainState
from dnnconf.train.run_folder import files as run_files
from dnnconf.train.run_folder.loading import load_run
from dnnconf.train.run_folder.result import RunResult


def finished_reason(folder: Path, epochs: int) -> str | None:
    """Why the run in `folder` finished, from its last checkpoint: it stopped (early stopping), or its
    `epochs` (this config's) all ran; None while it has training to do or has no checkpoint yet."""
    checkpoint = folder / "checkpoint"
    if not (checkpoint / "LATEST").exists():
        return None
    latest = run_files.read_latest(checkpoint)
    state, path = read_state(latest), latest / "state.json"
    run_files.require(path, state, {"epoch": run_files.WHOLE, "stop": bool, "stop_reason": str, "progress": dict},
                      optional=("stop", "stop_reason", "progress"))
    if state.get("stop", False):
        return state.get("stop_reason") or "stopped"
    if state["epoch"] >= epochs and "progress" not in state:
        return f"all {state['epoch']} epochs ran"
    return None


def outputs_written(folder: Path, parallel: bool) -> bool:
    """Whether a finished run's outputs are all there (the marker file is written last)."""
    if parallel:
        return (folder / "members.csv").is_file()
    return (folder / "metrics.json").is_file() and (folder / "model.safetensors").is_file()


def finished_result(config: Any, folder: Path, parallel: bool) -> Any:
    """The `RunResult` of a run that finished and wrote its outputs (nothing trained, nothing written; its
    `finished` says why it finished), or None when it has training to do or outputs to write."""
    reason = finished_reason(folder, config.training.epochs)
    if reason is None or not outputs_written(folder, parallel):
        return None
    metrics = run_files.read_json_object(folder / "metrics.json", run_files.STATE_BYTES) if not parallel else {}
    test = metrics.get("test") if isinstance(metrics.get("test"), dict) else {}
    epochs = metrics.get("epochs") if isinstance(metrics.get("epochs"), int) else 0
    network = load_run(folder)[1] if not parallel else setup.make_network(config)
    return RunResult(folder, config, TrainState(epoch=epochs, stop=True, stop_reason=reason), test, network,
                     finished=reason)
