"""Run folders: train a config into one, resume one, load one back.

`runs/<name>-<timestamp>/`: config.yaml (resolved, replayable) · normalization.json (the statistics of the
network's input layer, in plain JSON for people and older tools; the layer itself is in the weights) ·
model.safetensors (the weights and the input normalization's buffers) · checkpoint/ · history.csv · plots/ ·
metrics.json · report.md ·
report.html (rewritten after every epoch while training; dnnconf.report)
The network takes raw inputs: its first layer normalizes them (`dnnconf.nn.normalization`), adapted on the
training split. A run folder of older versions (model.safetensors without the layer) gets the layer from
its normalization.json when loaded (`load_run`).
With a `transfer` section: the network comes from `dnnconf.reuse.transfer.build_transferred` (its input
layer the source's unless `transfer.normalization: own`), a `Freezing` listener
freezes and unfreezes the reused layers, history.csv gets a `trainable` column (trainable parameters in
each epoch) and trainable.json lists the reused layers and each epoch's trainable modules.
With a `pretrain` section: `pretrain/` holds the pretraining (`dnnconf.reuse.pretrain`; read back, not
redone, when the run is resumed), the network's hidden layers start from its encoder, its input layer
has the unlabeled set's statistics, and the same `Freezing` listener, history column and
trainable.json follow (`source`: the pretrain folder).
Under torchrun every process trains its share of each batch (dnnconf.train.distributed); rank 0 picks the
folder and alone writes into it.
With `training.parallel_seeds: K > 1` the seeds seed … seed+K−1 train at once and the folder holds one
run folder per seed, `seed-<s>/`, with members.csv (`dnnconf.train.parallel_seeds`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from dnnconf.config import Config, dump_config
from dnnconf.config.differences import config_differences
from dnnconf.data import load_data
from dnnconf.errors import ConfigError, Diverged, RunFolderError
from dnnconf.nn.build import Network, summary_lines
from dnnconf.report.run_report import RunReport, viewers, write_run_report
from dnnconf.reuse.pretrain import pretrained_network
from dnnconf.reuse.transfer import build_transferred
from dnnconf.safe_write import write_atomic
from dnnconf.train import distributed as dist
from dnnconf.train import setup, threads
from dnnconf.train.callbacks import EarlyStopping, Listener, schedule_listener
from dnnconf.train.checkpoint import Checkpointer, latest_checkpoint, load_checkpoint, restore
from dnnconf.train.compiled import check_compilable, compiled_forward
from dnnconf.train.finished import finished_result
from dnnconf.train.freezing import Freezing
from dnnconf.train.history import HistoryLog
from dnnconf.train.layer_stats import LayerGradientNorms, plot_layer_grad_norms
from dnnconf.train.loop import Loop, LoopSpec, TrainState, denormals_flushed, evaluate
from dnnconf.train.parallel_seeds import RunViews, check_supported, train_members
from dnnconf.train.precision import check_precision, mixed_forward
from dnnconf.train.progress import Progress
from dnnconf.train.run_folder import lock as run_lock
from dnnconf.train.run_folder.loading import load_run_config
from dnnconf.train.run_folder.naming import default_folder, prepare_folder
from dnnconf.train.run_folder.result import RunResult
from dnnconf.train.run_folder.writing import REMEDIES, write_inputs, write_outputs
from dnnconf.train.signals import interrupted_by_sigterm
from dnnconf.train.steps import SoloStep


def train(config: Config, folder: Path | None = None, *, resume: Path | None = None, force: bool = False,
          quiet: bool = False, log: Any = print, listeners: tuple[Listener, ...] = (), plots: bool = True) -> RunResult:
    """Train `config` into a run folder (or continue the run in `resume`); returns the result.

    `listeners` are added after dnnconf's own (they see every event; e.g. a benchmark's epoch timer).
    `plots=False` skips the run's PNGs (a study draws its own; matplotlib costs ~2 s a run).
    Raises Diverged (exit 1) after rolling the weights back to the last good checkpoint when the loss
    or the weights become NaN or infinite.
    """
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
    dataset = load_data(config.data)
    config = setup.resolve_with_data(config, dataset)
    if shared is not None:  # before any folder is made
        dist.check_shares(len(dataset.y_train), config.training.batch_size, shared.world)
        if config.pretrain is not None and config.pretrain.reuse_from is None:
            raise dist.same_on_every_rank(ConfigError(
                "pretrain: under torchrun, pretrain with one process first (dnnconf train), then set "
                "pretrain.reuse_from to that run's pretrain/ folder"))
    if config.training.parallel_seeds > 1:
        if shared is not None:
            raise dist.same_on_every_rank(ConfigError(
                f"training.parallel_seeds: {config.training.parallel_seeds} runs in one process; under torchrun "
                f"set it to 1"))
        check_supported(config)  # before any folder is made
    if config.training.compile:
        check_compilable(device)  # before any folder is made
    check_precision(config.training.precision, device, config.training.parallel_seeds)  # before any folder
    setup.check_fits(config)  # before any folder: a network whose training cannot fit in memory is refused
    locks: list[Any] = []  # rank 0's hold on the run folder (dnnconf.train.run_folder.lock), for the life of the run
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
        return train_members(config, dataset, folder, device, resume=resume is not None, force=force, quiet=quiet,
                             log=log, listeners=listeners,
                             views=RunViews(RunReport, write_run_report))
    main = dist.main_only(shared)
    network, freezing, plan = _network(config, dataset, folder, device, quiet, log)
    dist.prepare_network(shared, network, config.training.sync_batch_norm, config.seed)
    splits = setup.to_splits(dataset, device)
    optimizer, clipping = setup.make_optimizer(config, network)
    schedule = setup.make_schedule(config, setup.steps_per_epoch(config, len(splits.train)))
    # (a run stopped while pretraining has no supervised checkpoint yet: it starts after the pretraining)
    started = resume is not None and dist.on_main(shared, (folder / "checkpoint" / "LATEST").exists)
    if not started:
        dist.on_main(shared, lambda: write_inputs(folder, config, network.normalization.statistics()))
    if not quiet:
        log(f"run folder: {folder}")
        log(threads.describe())
        for line in summary_lines(network):
            log(line)
    stateful, checkpointer, listeners = _listeners(config, folder, schedule, freezing, main, quiet, listeners)
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


def _network(config: Config, dataset: Any, folder: Path, device: torch.device, quiet: bool, log: Any
             ) -> tuple[Network, Freezing | None, Any]:
    """The run's network, and the freezing of its reused layers with their plan: pretrained (its encoder),
    transferred (a source run's layers) or new; the seed is set after pretraining, so the run's streams do
    not depend on whether pretraining ran."""
    freezing, plan = None, None
    if config.pretrain is not None:  # the note's section 2: hidden layers pretrained without labels, frozen first
        # its input layer has the unlabeled set's statistics, which the encoder learned on
        network, plan = pretrained_network(config, folder / "pretrain", device, quiet, log)  # read back if done
        pretrain = config.pretrain
        freezing = Freezing(config, plan.groups, pretrain.freeze_epochs, pretrain.unfreeze,
                            pretrain.unfreeze_lr_factor)
        freezing.freeze(network)
    setup.seed_everything(config.seed)
    if config.transfer is not None:  # the note's section 2: reused layers copied from a trained run, frozen first
        network, plan = build_transferred(config, device, dataset.normalization)  # the source's input layer or own
        transfer = config.transfer
        freezing = Freezing(config, plan.groups, transfer.freeze_epochs, transfer.unfreeze,
                            transfer.unfreeze_lr_factor)
        freezing.freeze(network)  # before the optimizer: it holds only the trainable parameters
    elif config.pretrain is None:
        network = setup.make_network(config, dataset.normalization).to(device)
    return network, freezing, plan


def _listeners(config: Config, folder: Path, schedule: Any, freezing: Freezing | None, main: bool, quiet: bool,
               extra: tuple[Listener, ...]) -> tuple[list[Listener], Checkpointer, list[Listener]]:
    """The run's listeners in their order: the checkpointed ones (freezing, the plateau record, early
    stopping), then history, checkpoint, progress and views (the main process only), the thread watch
    and the caller's; layer statistics first, filling the epoch's logs before the history writes them."""
    stateful: list[Listener] = []
    if config.training.early_stopping is not None:
        stateful.append(EarlyStopping(**config.training.early_stopping.model_dump()))
    plateau = schedule_listener(schedule)
    if plateau is not None:
        stateful.insert(0, plateau)
    if freezing is not None:
        stateful.insert(0, freezing)  # first: the unfreezing happens before the epoch, its state is checkpointed
    checkpointer = Checkpointer(folder / "checkpoint", stateful, config.training.checkpoint_every)
    own = [HistoryLog(folder / "history.csv"), checkpointer, Progress(quiet=quiet), *viewers(folder, config)] \
        if main else [checkpointer]
    listeners = [*stateful, *own, threads.ThreadWatch(), *extra]  # the watch re-chooses threads as load changes
    if config.training.layer_stats:
        listeners.insert(0, LayerGradientNorms())
    return stateful, checkpointer, listeners


def _training_forward(config: Config, network: Network, device: torch.device) -> Any:
    """What computes a training batch's output: the network, compiled (training.compile), under bf16 autocast
    (training.precision; the weights stay float32)."""
    forward: Any = network
    if config.training.compile:
        forward = compiled_forward(network)
    if config.training.precision != "float32":
        forward = mixed_forward(forward, device, config.training.precision)
    return forward


def _write_results(config: Config, folder: Path, network: Network, state: TrainState, test: dict[str, float],
                   schedule: Any, loop: Loop, freezing: Any, plan: Any, plots: bool = True) -> None:
    if freezing is not None:  # which layers were trainable in each epoch (history.csv: `trainable` parameters)
        write_atomic(folder / "trainable.json", json.dumps({"source": str(plan.source), **freezing.record()},
                                                           indent=1))
    if state.history and config.training.layer_stats and plots:
        plot_layer_grad_norms(state.history, folder / "plots" / "layer_grad_norms.png", config.name)
    steps = loop.steps_per_epoch
    write_outputs(folder, config, network, state, test, schedule, steps, plots,
                  views=[lambda: write_run_report(folder, config, state, test, schedule, steps)])


def _roll_back(folder: Path, network: Network, shared: dist.Distributed | None = None) -> None:
    def last_good() -> dict[str, torch.Tensor] | None:
        try:
            return load_checkpoint(latest_checkpoint(folder / "checkpoint"))[0]
        except RunFolderError:
            return None  # diverged in the first epoch: no good checkpoint, the weights stay as they are

    model = dist.on_main(shared, last_good)
    if model is not None:
        network.load_state_dict(model)


