"""Run folders: train a config into one, resume one, load one back.

`runs/<name>-<timestamp>/`: config.yaml (resolved, replayable) · normalization.json (the statistics of the
network's input layer, in plain JSON for people and older tools; the layer itself is in the weights) ·
model.safetensors (the weights and the input normalization's buffers) · checkpoint/ · history.csv · plots/ ·
metrics.json · report.md ·
report.html (rewritten after every epoch while training; dnnconf.report)
The network takes raw inputs: its first layer normalizes them (`dnnconf.nn.normalization`), adapted on the
training split. A run folder of older versions (model.safetensors without the layer) gets the layer from
its normalization.json when loaded (`load_run`).
With a `transfer` section: the network comes from `dnnconf.tools.transfer.build_transferred` (its input
layer the source's unless `transfer.normalization: own`), a `Freezing` listener
freezes and unfreezes the reused layers, history.csv gets a `trainable` column (trainable parameters in
each epoch) and trainable.json lists the reused layers and each epoch's trainable modules.
With a `pretrain` section: `pretrain/` holds the pretraining (`dnnconf.tools.pretrain`; read back, not
redone, when the run is resumed), the network's hidden layers start from its encoder, its input layer
has the unlabeled set's statistics, and the same `Freezing` listener, history column and
trainable.json follow (`source`: the pretrain folder).
Under torchrun every process trains its share of each batch (dnnconf.train.distributed); rank 0 picks the
folder and alone writes into it.
With `training.parallel_seeds: K > 1` the seeds seed … seed+K−1 train at once and the folder holds one
run folder per seed, `seed-<s>/`, with members.csv (`dnnconf.train.parallel_seeds`).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from dnnconf.config import Config, config_from_dict, dump_config
from dnnconf.errors import ConfigError, Diverged, RunFolderError
from dnnconf.nn.build import Network, count_parameters
from dnnconf.optim.schedules import Performance
from dnnconf.train import distributed as dist
from dnnconf.train import run_files, run_lock, setup, threads
from dnnconf.train.callbacks import EarlyStopping, Listener
from dnnconf.train.checkpoint import Checkpointer, latest_checkpoint, load_checkpoint, restore, write_atomic
from dnnconf.train.finished import finished_result
from dnnconf.train.history import HistoryLog, history_csv
from dnnconf.train.loop import Loop, LoopSpec, TrainState, evaluate
from dnnconf.train.precision import check_precision, mixed_forward
from dnnconf.train.progress import Progress
from dnnconf.train.safe_write import write_tensors
from dnnconf.train.signals import interrupted_by_sigterm
from dnnconf.train.steps import SoloStep

REMEDIES = (
    "lower the learning rate (try `dnnconf lr-find`)",
    "clip the gradients (optimizer.clipnorm or global_clipnorm: 1.0)",
    "add batch normalization (model.batch_norm: before_activation)",
    "use an initialization that fits the activation (He for ReLU family, LeCun for SELU, Glorot for tanh)",
)


@dataclass
class RunResult:
    folder: Path
    config: Config
    state: TrainState
    test: dict[str, float]
    network: Network
    members: list[RunResult] | None = None  # training.parallel_seeds > 1: each member's own result
    finished: str | None = None  # --resume of a run that had finished and written its outputs: why it finished


def timestamped_folder(name: str, root: Path = Path("runs")) -> Path:
    """`root/<name>-<YYYYmmdd-HHMMSS>`, with `-2`, `-3`, … added when that folder exists already."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = root / f"{name}-{stamp}"
    suffix = 1
    while folder.exists():
        suffix += 1
        folder = root / f"{name}-{stamp}-{suffix}"
    return folder


def default_folder(config: Config, root: Path = Path("runs")) -> Path:
    return timestamped_folder(config.name, root)


def prepare_folder(folder: Path, force: bool) -> Path:
    if folder.exists() and not folder.is_dir():
        raise RunFolderError(f"--out {folder}: exists and is not a folder")
    if folder.exists() and any(folder.iterdir()) and not force:
        unfinished = (folder / "config.yaml").is_file() and not (folder / "metrics.json").is_file()
        hint = (f" (a run that did not finish: `dnnconf train {folder / 'config.yaml'} --resume {folder}` continues "
                f"it)" if unfinished else "")
        raise RunFolderError(f"--out {folder}: already holds files{hint}; choose another folder or pass --force")
    try:
        (folder / "plots").mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RunFolderError(f"--out {folder}: cannot create the run folder ({error.strerror})") from None
    return folder


def summary_lines(network: Network) -> list[str]:
    trainable, total = count_parameters(network)
    lines = [f"{'layer':<16}{'type':<14}{'output shape':<16}{'parameters':>10}"]
    lines += [f"{info.name:<16}{info.kind:<14}{str(list(info.shape)):<16}{info.parameters:>10,}"
              for info in network.summary]
    lines.append(f"parameters: {total:,} ({trainable:,} trainable)")
    return lines


def config_differences(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> list[str]:
    """Key paths whose values differ between two plain configs."""
    keys = sorted(set(a) | set(b))
    out: list[str] = []
    for key in keys:
        path = f"{prefix}{key}"
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += config_differences(va, vb, path + ".")
        elif va != vb:
            out.append(path)
    return out


def train(config: Config, folder: Path | None = None, *, resume: Path | None = None, force: bool = False,
          quiet: bool = False, log: Any = print, listeners: tuple[Listener, ...] = (), plots: bool = True) -> RunResult:
    """Train `config` into a run folder (or continue the run in `resume`); returns the result.

    `listeners` are added after dnnconf's own (they see every event; e.g. a benchmark's epoch timer).
    `plots=False` skips the run's PNGs (a study draws its own; matplotlib costs ~2 s a run).
    Raises Diverged (exit 1) after rolling the weights back to the last good checkpoint when the loss
    or the weights become NaN or infinite.
    """
    from dnnconf.train.loop import denormals_flushed

    # Flush denormals before any tensor work: the CPU threads torch starts for its first parallel op copy
    # this thread's floating-point mode, and a flag set later reaches this thread only (the design notes
    # measured denormal Adam state at ~40x slower multiplies). Restored at the end for the caller.
    flushing = denormals_flushed()
    torch.set_flush_denormal(True)
    try:
        threads.apply(config.training.threads)  # the cores free now, unless the user chose (train/threads.py)
        with interrupted_by_sigterm(), dist.session(setup.pick_device(config.training.device)) as (shared, device):
            return _train(config, folder, resume=resume, force=force, quiet=quiet or not dist.main_only(shared),
                          log=log, listeners=listeners, shared=shared, device=device, plots=plots)
    finally:
        torch.set_flush_denormal(flushing)


def _check_resume(config: Config, resume: Path, force: bool) -> Path:
    saved = load_run_config(resume)
    differences = config_differences(saved.model_dump(mode="json"), config.model_dump(mode="json"))
    if differences and not force:
        raise ConfigError(f"--resume {resume}: the config differs from the saved one in "
                          f"{', '.join(differences)}; pass --force to resume anyway")
    return resume


def _train(config: Config, folder: Path | None, *, resume: Path | None, force: bool, quiet: bool, log: Any,
           listeners: tuple[Listener, ...], shared: dist.Distributed | None, device: torch.device,
           plots: bool = True) -> RunResult:
    from dnnconf.data import load_data

    dataset = load_data(config.data)
    config = setup.resolve_with_data(config, dataset)
    if shared is not None:  # before any folder is made
        dist.check_shares(len(dataset.y_train), config.training.batch_size, shared.world)
        if config.pretrain is not None and config.pretrain.reuse_from is None:
            raise dist.same_on_every_rank(ConfigError(
                "pretrain: under torchrun, pretrain with one process first (dnnconf train), then set "
                "pretrain.reuse_from to that run's pretrain/ folder"))
    if config.training.parallel_seeds > 1:
        from dnnconf.train.parallel_seeds import check_supported

        if shared is not None:
            raise dist.same_on_every_rank(ConfigError(
                f"training.parallel_seeds: {config.training.parallel_seeds} runs in one process; under torchrun "
                f"set it to 1"))
        check_supported(config)  # before any folder is made
    if config.training.compile:
        from dnnconf.train.compiled import check_compilable

        check_compilable(device)  # before any folder is made
    check_precision(config.training.precision, device, config.training.parallel_seeds)  # before any folder
    setup.check_fits(config)  # before any folder: a network whose training cannot fit in memory is refused
    locks: list[Any] = []  # rank 0's hold on the run folder (dnnconf.train.run_lock), for the life of the run
    try:
        if resume is not None:
            folder = dist.on_main(shared, lambda: _check_resume(config, resume, force))
            dist.on_main(shared, lambda: locks.append(run_lock.acquire(folder)))
        else:  # rank 0 names it (a timestamp) and creates it; the others learn the name
            folder = dist.on_main(shared, lambda: prepare_folder(folder or default_folder(config), force))
            dist.on_main(shared, lambda: locks.append(run_lock.acquire(folder)))
            # first: a run interrupted while pretraining is already a run folder that --resume continues
            dist.on_main(shared, lambda: write_atomic(folder / "config.yaml", dump_config(config)))
        return _train_locked(config, dataset, folder, resume=resume, force=force, quiet=quiet, log=log,
                             listeners=listeners, shared=shared, device=device, plots=plots)
    finally:
        for lock in locks:
            lock.release()


def _train_locked(config: Config, dataset: Any, folder: Path, *, resume: Path | None, force: bool, quiet: bool,
                  log: Any, listeners: tuple[Listener, ...], shared: dist.Distributed | None, device: torch.device,
                  plots: bool) -> RunResult:
    parallel = config.training.parallel_seeds > 1
    if resume is not None:  # a finished run is final (dnnconf.train.finished)
        done = dist.on_main(shared, lambda: finished_result(config, folder, parallel))
        if done is not None:
            return done
        if not dist.on_main(shared, (folder / "checkpoint" / "LATEST").exists) and config.pretrain is None \
                and not parallel:  # killed before its first checkpoint: start it over (its config.yaml is there)
            if not quiet:
                log(f"{folder}: no checkpoint yet; starting the run over")
            resume = None
    if config.training.parallel_seeds > 1:  # K seeds as one batched computation, a run folder per member
        from dnnconf.train.parallel_seeds import train_members

        return train_members(config, dataset, folder, device, resume=resume is not None, force=force, quiet=quiet,
                             log=log, listeners=listeners)
    main = dist.main_only(shared)
    freezing, plan = None, None
    if config.pretrain is not None:  # the note's section 2: hidden layers pretrained without labels, frozen first
        from dnnconf.tools.pretrain import pretrained_network
        from dnnconf.train.freezing import Freezing

        # its input layer has the unlabeled set's statistics, which the encoder learned on
        network, plan = pretrained_network(config, folder / "pretrain", device, quiet, log)  # read back if done
        pretrain = config.pretrain
        freezing = Freezing(config, plan.groups, pretrain.freeze_epochs, pretrain.unfreeze,
                            pretrain.unfreeze_lr_factor)
        freezing.freeze(network)
    setup.seed_everything(config.seed)  # after pretraining: the run's streams do not depend on whether it ran
    if config.transfer is not None:  # the note's section 2: reused layers copied from a trained run, frozen first
        from dnnconf.tools.transfer import build_transferred
        from dnnconf.train.freezing import Freezing

        network, plan = build_transferred(config, device, dataset.normalization)  # the source's input layer or own
        transfer = config.transfer
        freezing = Freezing(config, plan.groups, transfer.freeze_epochs, transfer.unfreeze,
                            transfer.unfreeze_lr_factor)
        freezing.freeze(network)  # before the optimizer: it holds only the trainable parameters
    elif config.pretrain is None:
        network = setup.make_network(config, dataset.normalization).to(device)
    dist.prepare_network(shared, network, config.training.sync_batch_norm, config.seed)
    splits = setup.to_splits(dataset, device)
    optimizer, clipping = setup.make_optimizer(config, network)
    schedule = setup.make_schedule(config, setup.steps_per_epoch(config, len(splits.train)))
    # (a run stopped while pretraining has no supervised checkpoint yet: it starts after the pretraining)
    started = resume is not None and dist.on_main(shared, (folder / "checkpoint" / "LATEST").exists)
    if not started:
        dist.on_main(shared, lambda: _write_inputs(folder, config, network.normalization.statistics()))
    if not quiet:
        log(f"run folder: {folder}")
        log(threads.describe())
        for line in summary_lines(network):
            log(line)
    stateful: list[Listener] = []
    if config.training.early_stopping is not None:
        stateful.append(EarlyStopping(**config.training.early_stopping.model_dump()))
    plateau = schedule.listener()
    if plateau is not None:
        stateful.insert(0, plateau)
    if freezing is not None:
        stateful.insert(0, freezing)  # first: the unfreezing happens before the epoch, its state is checkpointed
    checkpointer = Checkpointer(folder / "checkpoint", stateful, config.training.checkpoint_every)
    extra = listeners
    from dnnconf.report.run_report import viewers  # report.html each epoch; training.tensorboard

    own = [HistoryLog(folder / "history.csv"), checkpointer, Progress(quiet=quiet), *viewers(folder, config)] \
        if main else [checkpointer]
    listeners = [*stateful, *own, threads.ThreadWatch(), *extra]  # the watch re-chooses threads as load changes
    if config.training.layer_stats:
        from dnnconf.train.layer_stats import LayerGradientNorms

        listeners.insert(0, LayerGradientNorms())  # fills the epoch's logs before HistoryLog writes them
    generator = torch.Generator().manual_seed(config.seed + setup.SHUFFLE_STREAM)
    loop = Loop(LoopSpec(SoloStep(network, shared), optimizer, schedule, config.loss, splits.train, splits.valid,
                         config.training.epochs, config.training.batch_size, clipping, listeners, generator,
                         config.training.eval_batch_size, _training_forward(config, network, device)))
    if freezing is not None:
        freezing.attach(loop)  # it rebuilds loop.optimizer at unfreezing (and when restoring past it)
    if resume is not None and started:  # (a run stopped while pretraining has no supervised checkpoint yet)
        restore(dist.on_main(shared, lambda: latest_checkpoint(folder / "checkpoint")), loop, stateful)
        if not quiet:
            log(f"resuming after epoch {loop.state.epoch} (step {loop.state.step})")
    try:
        state = loop.run()
    except BaseException:
        checkpointer.abandon()  # no checkpoint thread outlives the run (a full disk, Ctrl-C, a bad monitor)
        raise
    if state.diverged:
        _roll_back(folder, network, shared)
    test = evaluate(network, splits.test, config.loss, config.training.eval_batch_size, shared) \
        if len(splits.test) else {}
    dist.use_synced_batch_norm(network, False)  # the returned network works without the process group
    if main:
        _write_results(config, folder, network, state, test, schedule, loop, freezing, plan, plots)
    if state.diverged:
        raise Diverged(f"{folder}: training diverged ({state.stop_reason}) in epoch {state.epoch + 1}; weights "
                       f"rolled back to the last good checkpoint. Remedies from the note: " + "; ".join(REMEDIES))
    return RunResult(folder, config, state, test, network)


def _training_forward(config: Config, network: Network, device: torch.device) -> Any:
    """What computes a training batch's output: the network, compiled (training.compile), under bf16 autocast
    (training.precision; the weights stay float32)."""
    forward: Any = network
    if config.training.compile:
        from dnnconf.train.compiled import compiled_forward

        forward = compiled_forward(network)
    if config.training.precision != "float32":
        forward = mixed_forward(forward, device, config.training.precision)
    return forward


def _write_inputs(folder: Path, config: Config, normalization: Any) -> None:
    write_atomic(folder / "config.yaml", dump_config(config))
    # the input layer's statistics in plain JSON: the weights hold the layer; people and older tools read this
    write_atomic(folder / "normalization.json", json.dumps(normalization))


def _write_results(config: Config, folder: Path, network: Network, state: TrainState, test: dict[str, float],
                   schedule: Any, loop: Loop, freezing: Any, plan: Any, plots: bool = True) -> None:
    if freezing is not None:  # which layers were trainable in each epoch (history.csv: `trainable` parameters)
        write_atomic(folder / "trainable.json", json.dumps({"source": str(plan.source), **freezing.record()},
                                                           indent=1))
    if state.history and config.training.layer_stats and plots:
        from dnnconf.train.layer_stats import plot_layer_grad_norms

        plot_layer_grad_norms(state.history, folder / "plots" / "layer_grad_norms.png", config.name)
    write_outputs(folder, config, network, state, test, schedule, loop.steps_per_epoch, plots)


def write_outputs(folder: Path, config: Config, network: Network, state: TrainState, test: dict[str, float],
                  schedule: Any, steps_per_epoch: int, plots: bool = True) -> None:
    """What a finished run leaves in its folder: model.safetensors, metrics.json, history.csv, the learning
    curves and learning-rate plots (unless `plots` is false), report.md (a solo run, or each member of a
    parallel-seeds run)."""
    write_tensors(folder / "model.safetensors", network.state_dict())
    if state.history:
        write_atomic(folder / "history.csv", history_csv(state.history))
    if state.history and plots:
        from dnnconf.plots import learning_curves, learning_rate_per_step

        learning_curves(state.history, folder / "plots" / "learning_curves.png", title=config.name)
        learning_rate_per_step(lr_per_step(schedule, state, steps_per_epoch),
                               folder / "plots" / "learning_rate.png", steps_per_epoch, config.name)
    write_atomic(folder / "report.md", report(config, folder, network, state, test))
    from dnnconf.report.run_report import write_run_report

    write_run_report(folder, config, state, test, schedule, steps_per_epoch)
    # last: its presence says the outputs are complete (`--resume` of a finished run: dnnconf.train.finished)
    write_atomic(folder / "metrics.json", json.dumps({"test": test, "epochs": state.epoch,
                                                      "stop_reason": state.stop_reason}, indent=1))


def lr_per_step(schedule: Any, state: TrainState, steps_per_epoch: int) -> list[float]:
    """The rate used at each step taken: the schedule is a pure function of the step, except for
    performance scheduling, whose rate changes only between epochs and is in the history."""
    if isinstance(schedule, Performance):
        return [row["lr"] for row in state.history for _ in range(steps_per_epoch)][: state.step]
    return [schedule(step) for step in range(state.step)]


def _roll_back(folder: Path, network: Network, shared: dist.Distributed | None = None) -> None:
    def last_good() -> dict[str, torch.Tensor] | None:
        try:
            return load_checkpoint(latest_checkpoint(folder / "checkpoint"))[0]
        except RunFolderError:
            return None  # diverged in the first epoch: no good checkpoint, the weights stay as they are

    model = dist.on_main(shared, last_good)
    if model is not None:
        network.load_state_dict(model)


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


def load_run_config(folder: Path) -> Config:
    path = folder / "config.yaml"
    if not folder.is_dir():
        raise RunFolderError(f"{folder}: no such run folder")
    if not path.is_file():
        raise RunFolderError(f"{folder}: not a run folder (config.yaml is missing)")
    return config_from_dict(run_files.read_run_config_data(path), str(path))


def load_run(folder: Path, device: str = "cpu") -> tuple[Config, Network]:
    """The resolved config and the trained network of a run folder, in eval mode (dropout off, batch norm
    on its moving statistics): it takes raw inputs, its first layer normalizes them. A run of an older
    version (model.safetensors without the input layer) gets the layer from its normalization.json."""
    config = load_run_config(folder)
    weights = folder / "model.safetensors"
    if not weights.is_file() and (folder / "members.csv").is_file():
        seeds = [config.seed + k for k in range(config.training.parallel_seeds)]
        raise RunFolderError(f"{folder}: a parallel-seeds run; each member is a run folder of its own: use one of "
                             + ", ".join(str(folder / f"seed-{s}") for s in seeds[:3]) + (", …" if len(seeds) > 3
                                                                                       else ""))
    if not weights.is_file():
        raise RunFolderError(f"{folder}: model.safetensors is missing (the run did not finish; "
                             f"`dnnconf train {folder / 'config.yaml'} --resume {folder}` continues it)")
    network = setup.make_network(config)
    try:
        state = load_file(str(weights))
        if not any(key.startswith("normalization.") for key in state):
            state.update(_older_normalization(folder, config, network))
        network.load_state_dict(state)
    except RunFolderError:
        raise
    except Exception as error:  # noqa: BLE001 - a corrupt or foreign file is bad input, one line
        raise RunFolderError(f"{weights}: cannot load ({str(error).splitlines()[0]})") from None
    describe_normalization(network, config)
    return config, network.to(setup.pick_device(device)).eval()


def _older_normalization(folder: Path, config: Config, network: Network) -> dict[str, torch.Tensor]:
    """The input layer's buffers of a run saved before the layer existed: from its normalization.json
    (the statistics its inputs were normalized with), or recomputed from its data when that is missing."""
    from dnnconf.errors import DataError

    path = folder / "normalization.json"
    if path.is_file():
        statistics = run_files.read_normalization(path)  # checked: size, JSON object, keys, finite numbers
    else:
        from dnnconf.data import load_data

        statistics = load_data(config.data.model_copy(update={"normalize_axis": "feature"})).normalization
    layer = copy.deepcopy(network.normalization)
    try:
        layer.adapt(statistics if isinstance(statistics, dict) else {})
    except DataError as error:
        raise RunFolderError(f"{path}: {error}") from None
    return {f"normalization.{key}": value for key, value in layer.state_dict().items()}


def describe_normalization(network: Network, config: Config) -> None:
    """Name the loaded input layer's method and axis (the buffers do not say): the config's method, the
    axis its statistics' shape shows."""
    from dnnconf.nn.normalization import statistics_shape

    layer = network.normalization
    shift, scale = layer.shift, layer.scale
    if config.data.normalize == "none" or (shift.numel() == 1 and not shift.any() and bool((scale == 1).all())):
        layer.method, layer.axis = "none", None
        return
    layer.method = config.data.normalize
    shape = tuple(config.model.input_shape)
    layer.axis = "feature" if tuple(shift.shape) == statistics_shape("feature", shape) else "channel"


def evaluate_run(folder: Path | str, split: str = "test") -> dict[str, float]:
    """Loss and metric of a run (or export) folder on a split of its data, raw inputs in: the figures
    `dnnconf evaluate` prints (`dnnconf.model.Model.evaluate`; an export measures itself at its precision)."""
    from dnnconf.model import Model

    return Model.load(Path(folder)).evaluate(split)
