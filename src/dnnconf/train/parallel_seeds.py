"""Many seeds at once (`training.parallel_seeds: K`): seeds seed, seed+1, …, seed+K−1 of one config
trained as one batched computation, each member written as an ordinary run folder of its own.

Why a module of its own: a solo run's step works on one network; here one step runs K of them as
batched matmuls (`dnnconf.nn.stacked`; `dnnconf.train.stacked_step` is the step the one `Loop` runs),
which on a CPU is several times cheaper than K steps. Everything else is the solo run's, so member k is the
solo run of seed + k within float tolerance (tests/train/test_parallel_seeds.py):
- initial weights: `setup.make_network` of the member's config after `seed_everything(seed + k)`, as
  `run.train` builds a solo run, and its dropout generator starts where the solo run's global RNG stands
  after that (the masks are the solo run's on a CPU; on a GPU a solo run draws them from the GPU's own
  generator, so there members get independent CPU-drawn masks instead);
- batch order: its own generator, seeded as `run.train` seeds a solo run's (seed + k + SHUFFLE_STREAM);
- optimizer, schedule, clipping, l1/l2, max-norm: the same classes and rules, per member;
- early stopping and the performance schedule: each member has its own EarlyStopping / ReduceOnPlateau
  (the solo run's classes) deciding on its own validation logs; the loop ends when all have stopped.

Run folder: `OUT/config.yaml` (the batched config), `normalization.json`, `checkpoint/`, `members.csv` (seed, epochs
run, best and final validation metric, test metric, why it stopped), `report.md`, `plots/members.png`
(every member's validation curve), and per member `OUT/seed-<s>/`: config.yaml with that seed and
parallel_seeds 1 (trains it alone), normalization.json, model.safetensors, history.csv (ending at the
member's own last epoch), metrics.json, report.md, plots/. `dnnconf evaluate|predict OUT/seed-<s>` work
as on any run.

Checkpoints: `OUT/checkpoint/`, written by the one `dnnconf.train.checkpoint.Checkpointer` (in the
background, at the start, after every epoch and every `training.checkpoint_every` steps), the stacked step
adding its members' part (`StackedStep.checkpoint_state`); `--resume OUT` continues the batched run
exactly, from an epoch's end or the middle of one. A member folder has none: it continues only within its
batched run.

Not supported (one config error naming the key, exit 2): `transfer`, `training.layer_stats`, layers without
a batched form (conv2d, pooling, prelu, trainable swish, mc_dropout), and the `performance` schedule with an
optimizer whose step is not linear in the learning rate given its state (sgd with momentum and weight
decay, rmsprop with momentum).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from dnnconf.config import Config, dump_config
from dnnconf.csv_text import csv_text, plain_cell
from dnnconf.errors import Diverged, NotBatchable
from dnnconf.nn.build import Network, summary_lines
from dnnconf.nn.stacked import StackedNetwork, unsupported_layer
from dnnconf.optim.optimizers import OPTIMIZERS, RateScaling, rate_scaling
from dnnconf.plots import plt, save_figure
from dnnconf.safe_write import write_atomic
from dnnconf.train import setup
from dnnconf.train.callbacks import EarlyStopping, Listener, schedule_listener
from dnnconf.train.checkpoint import Checkpointer, latest_checkpoint, restore
from dnnconf.train.loop import Loop, LoopSpec, Split, evaluate
from dnnconf.train.progress import Progress
from dnnconf.train.run_folder.naming import prepare_folder
from dnnconf.train.run_folder.result import RunResult
from dnnconf.train.run_folder.writing import write_outputs
from dnnconf.train.stacked_step import Member, MemberListeners, MemberNetwork, StackedStep


@dataclass(frozen=True)
class RunViews:
    """How a run is shown while and after it trains: `live(folder, config)` is a listener that rewrites the
    folder's view each epoch, `final(folder, config, state, test, schedule, steps_per_epoch)` writes the last."""

    live: Callable[[Path, Config], Listener]
    final: Callable[..., Any]


def member_config(config: Config, seed: int) -> Config:
    """The config a member would have trained alone: its seed, parallel_seeds 1."""
    training = config.training.model_copy(update={"parallel_seeds": 1})
    return config.model_copy(update={"seed": seed, "training": training})


def lr_scaling(config: Config) -> RateScaling:
    """How a member's own learning-rate factor is applied: "gradient", "step", or "none" (not exactly), from
    the optimizer's registry facts (`dnnconf.optim.optimizers.rate_scaling`)."""
    return rate_scaling(config.optimizer.model_dump())


def check_supported(config: Config) -> None:
    """Refuse, with one line naming the key (`NotBatchable`, a config error), what the batched computation
    cannot do exactly (a resolved config: the layer check builds its network)."""
    k = config.training.parallel_seeds
    if config.transfer is not None:
        raise NotBatchable(f"transfer: not available with training.parallel_seeds: {k}; use parallel_seeds: 1")
    if config.pretrain is not None:
        raise NotBatchable(f"pretrain: not available with training.parallel_seeds: {k}; use parallel_seeds: 1")
    if config.training.layer_stats:
        raise NotBatchable(f"training.layer_stats: not available with training.parallel_seeds: {k}; set it false")
    if config.training.compile:
        raise NotBatchable(f"training.compile: not available with training.parallel_seeds: {k} (the members' "
                           f"batched step is not a module torch.compile takes); set it false")
    optimizer = config.optimizer.name
    if not OPTIMIZERS.get(optimizer, "optimizer.name").facts.batchable:
        raise NotBatchable(f"optimizer: {optimizer} has no batched form for training.parallel_seeds: {k}; use "
                           f"another optimizer or parallel_seeds: 1")
    schedule = config.schedule.get("name") if isinstance(config.schedule, dict) else config.schedule
    if schedule == "performance" and lr_scaling(config) == "none":
        raise NotBatchable(f"schedule: performance gives each member its own learning rate, which "
                           f"training.parallel_seeds cannot apply exactly with optimizer {config.optimizer.name} "
                           f"with momentum and weight decay; use another schedule or optimizer, or parallel_seeds: 1")
    unsupported = unsupported_layer(setup.make_network(config))
    if unsupported is not None:
        raise NotBatchable(f"model: layer {unsupported} has no batched form for training.parallel_seeds: {k} "
                           f"(dense, batch_norm, dropout, alpha_dropout, flatten and parameterless activations "
                           f"do); use parallel_seeds: 1")


def train_members(config: Config, dataset: Any, folder: Path, device: torch.device, *, resume: bool, force: bool,
                  quiet: bool, log: Any, listeners: tuple[Listener, ...], views: RunViews) -> Any:
    """Train the K members of `config` (`check_supported` passed) into `folder` (prepared, or the run to
    resume from its last checkpoint); returns a RunResult with `members`. `views` makes each member's and the
    mean's report.html (the pipeline passes `dnnconf.report`'s, a layer above)."""

    size = config.training.parallel_seeds
    configs = [member_config(config, config.seed + k) for k in range(size)]
    networks, stacked = _stacked_members(configs, dataset, device)
    setup.seed_everything(config.seed)
    splits = setup.to_splits(dataset, device)
    optimizer, clipping = setup.make_optimizer(config, stacked)  # type: ignore[arg-type]
    steps_per_epoch = setup.steps_per_epoch(config, len(splits.train))
    members = _members(config, configs, stacked, folder, steps_per_epoch, views)
    started = resume and (folder / "checkpoint" / "LATEST").exists()  # killed before its first checkpoint: over
    if not started:
        write_atomic(folder / "config.yaml", dump_config(config))
        write_atomic(folder / "normalization.json", json.dumps(networks[0].normalization.statistics()))
    if not quiet:
        log(f"run folder: {folder} ({size} members, seeds {config.seed}–{config.seed + size - 1})")
        for line in summary_lines(networks[0]):
            log(line)
    generators = [torch.Generator().manual_seed(member.seed + setup.SHUFFLE_STREAM) for member in configs]
    # the checkpointer after the members' listeners, so an epoch's checkpoint holds their decisions; its own
    # listener list is empty: the members' states are the stacked step's part of the checkpoint
    checkpointer = Checkpointer(folder / "checkpoint", [], config.training.checkpoint_every)
    watched = [MemberListeners(members), checkpointer, Progress(quiet=quiet),
               views.live(folder, config), *listeners]  # report.html: the running members' mean curves
    step = StackedStep(stacked, generators, members, lr_scaling(config))
    loop = Loop(LoopSpec(step, optimizer, setup.make_schedule(config, steps_per_epoch), config.loss, splits.train,
                         splits.valid, config.training.epochs, config.training.batch_size, clipping, watched,
                         generators[0], config.training.eval_batch_size))
    if started:
        restore(latest_checkpoint(folder / "checkpoint"), loop, [])
        if not quiet:
            log(f"resuming after epoch {loop.state.epoch} (step {loop.state.step})")
    try:
        state = loop.run()
    except BaseException:
        checkpointer.abandon()  # no checkpoint thread outlives the run (a full disk, Ctrl-C)
        raise
    results = [_write_member(member, network, folder, splits.test, steps_per_epoch, views)
               for member, network in zip(members, networks, strict=True)]
    write_atomic(folder / "report.md", report(config, folder, results, loop.metric))
    views.final(folder, config, state, {}, loop.schedule, steps_per_epoch)  # finished: no more reloading
    if any(result.state.history for result in results):
        plot_members(results, loop.metric, folder / "plots" / "members.png", config.name)
    # last: its presence says the outputs are complete (dnnconf.train.finished)
    write_atomic(folder / "members.csv", members_csv(results, loop.metric))
    diverged = [str(result.config.seed) for result in results if result.state.diverged]
    if diverged:
        raise Diverged(f"{folder}: seed {', '.join(diverged)} diverged (the loss became NaN or infinite); their "
                       f"folders hold the last good epoch's weights; the other members finished")
    return RunResult(folder, config, state, {}, networks[0], results)


def _stacked_members(configs: list[Config], dataset: Any, device: torch.device
                     ) -> tuple[list[Network], StackedNetwork]:
    """The members' networks, each built as `run.train` builds a solo run (global seed, then the network),
    its dropout generator starting where that run's global RNG stands; and their stacked form."""
    networks, dropout_generators = [], []
    for member in configs:
        setup.seed_everything(member.seed)
        networks.append(setup.make_network(member, dataset.normalization).to(device))
        dropout_generators.append(torch.Generator().manual_seed(0))
        dropout_generators[-1].set_state(torch.get_rng_state())
    return networks, StackedNetwork(networks, dropout_generators)


def _members(config: Config, configs: list[Config], stacked: StackedNetwork, folder: Path, steps_per_epoch: int,
             views: RunViews) -> list[Member]:
    """Each member with the listeners its solo run would have: its own schedule (a performance schedule's
    own factor), early stopping, and its report.html after every epoch."""
    members = []
    for k, member in enumerate(configs):
        schedule = setup.make_schedule(member, steps_per_epoch)
        plateau = schedule_listener(schedule)
        own: list[Listener] = [plateau] if plateau is not None else []
        if config.training.early_stopping is not None:
            own.append(EarlyStopping(**config.training.early_stopping.model_dump()))
        member_folder = folder / f"seed-{member.seed}"
        member_folder.mkdir(exist_ok=True)
        own.append(views.live(member_folder, member))
        members.append(Member(k, member, MemberNetwork(stacked, k), schedule, own, steps_per_epoch=steps_per_epoch))
    return members


def _write_member(member: Member, network: Network, folder: Path, test_split: Split, steps_per_epoch: int,
                  views: RunViews) -> RunResult:
    """A member's run folder, complete as a solo run's (its weights evaluated on the test split)."""
    config = member.config
    network.load_state_dict({k: v.clone() for k, v in member.network.state_dict().items()})
    test = evaluate(network, test_split, config.loss, config.training.eval_batch_size) if len(test_split) else {}
    member_folder = folder / f"seed-{config.seed}"
    prepare_folder(member_folder, True)  # made at the start (its report.html); resuming rewrites it whole
    write_atomic(member_folder / "config.yaml", dump_config(config))
    write_atomic(member_folder / "normalization.json", json.dumps(network.normalization.statistics()))
    write_outputs(member_folder, config, network, member.state, test, member.schedule, steps_per_epoch,
                  views=[lambda: views.final(member_folder, config, member.state, test, member.schedule,
                                             steps_per_epoch)])
    return RunResult(member_folder, config, member.state, test, network)


def _member_row(result: Any, metric: str) -> dict[str, Any]:
    history = result.state.history
    values = [row[f"val_{metric}"] for row in history if f"val_{metric}" in row]
    best = (min(values) if metric == "mae" else max(values)) if values else None
    return {"seed": result.config.seed, "epochs": result.state.epoch,
            f"best_val_{metric}": best, f"final_val_{metric}": values[-1] if values else None,
            f"test_{metric}": result.test.get(metric), "stopped": result.state.stop_reason}


def members_csv(results: list[Any], metric: str) -> str:
    return csv_text([_member_row(result, metric) for result in results],
                    cell=lambda v: f"{v:.6g}" if isinstance(v, float) else plain_cell(v))


def report(config: Config, folder: Path, results: list[Any], metric: str) -> str:
    rows = [_member_row(result, metric) for result in results]
    lines = [f"# Run `{folder.name}`: {len(rows)} seeds at once", "",
             f"- config: `{config.name}`, seeds {config.seed}–{config.seed + len(rows) - 1}, {config.data.dataset} "
             f"data, trained as one batched computation (training.parallel_seeds)", "",
             "| seed | epochs | best val | final val | test | folder |", "|---|---|---|---|---|---|"]

    def cell(value: Any) -> str:
        return "" if value is None else f"{value:.4f}"

    for row in rows:
        lines.append(f"| {row['seed']} | {row['epochs']} | {cell(row[f'best_val_{metric}'])} | "
                     f"{cell(row[f'final_val_{metric}'])} | {cell(row[f'test_{metric}'])} | "
                     f"[seed-{row['seed']}](seed-{row['seed']}/report.md) |")
    tests = [row[f"test_{metric}"] for row in rows if row[f"test_{metric}"] is not None]
    if len(tests) > 1:
        mean = sum(tests) / len(tests)
        spread = (sum((t - mean) ** 2 for t in tests) / (len(tests) - 1)) ** 0.5
        lines += ["", f"- test {metric}: mean {mean:.4f}, standard deviation {spread:.4f} over {len(tests)} seeds"]
    lines += ["", f"![validation {metric} of every member](plots/members.png)", ""]
    return "\n".join(lines)


def plot_members(results: list[Any], metric: str, path: Path, title: str) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4))
    for result in results:
        history = result.state.history
        key = f"val_{metric}" if history and f"val_{metric}" in history[0] else metric
        ax.plot([row["epoch"] for row in history], [row[key] for row in history], "o-", ms=2.5,
                label=f"seed {result.config.seed}")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"validation {metric}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    ax.set_title(f"{title}: {len(results)} seeds trained at once")
    return save_figure(fig, path)
