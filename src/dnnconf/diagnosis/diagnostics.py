"""`dnnconf diagnose`: per-layer activation and gradient health, with verdicts and the note's remedies.

`diagnose` builds (or takes) a network, runs the probe at initialization and along `train_steps` steps of
training, judges each probe step and merges the verdicts into a `DiagnosisReport`; `diagnose_run` does it
for a run folder's trained weights. The parts, each with its own documentation:

- `dnnconf.diagnosis.probe`: what the probe measures and how (`layer_groups`, `Probe`);
- `dnnconf.diagnosis.verdicts`: the verdicts, their thresholds (`VANISHING_RATIO`,
  `EXPLODING_RATIO`, `ACTIVATION_SHRINK`, `ACTIVATION_GROWTH`, `SATURATION_SHARE`, `DEAD_SHARE`,
  `TANH_SATURATED`, `SIGMOID_SATURATED`, `SELU_STD_RANGE`, `SELU_MEAN_LIMIT`, `INPUT_MEAN_LIMIT`,
  `INPUT_STD_RANGE`, `MIN_HIDDEN`) and the note's remedies (`judge`, `merge`);
- `dnnconf.diagnosis.report`: `LayerRow`, `Verdict`, `Facts`, `DiagnosisReport` and the JSON schema
  `dnnconf.diagnose/1`.

Their public names are importable from here too.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from dnnconf.config import Config, config_from_dict, load_config
from dnnconf.data import Dataset, load_data
from dnnconf.diagnosis.probe import Probe, is_batch_norm, layer_groups
from dnnconf.diagnosis.report import (
    METRICS,
    SCHEMA,
    DiagnosisReport,
    Facts,
    LayerRow,
    Verdict,
    jsonable,
)
from dnnconf.diagnosis.verdicts import (
    ACTIVATION_GROWTH,
    ACTIVATION_SHRINK,
    DEAD_SHARE,
    EXPLODING_RATIO,
    INIT_PRESET,
    INPUT_MEAN_LIMIT,
    INPUT_STD_RANGE,
    MIN_HIDDEN,
    REMEDY_ACTIVATION,
    REMEDY_BATCH_NORM,
    REMEDY_CLIPPING,
    REMEDY_LEAKY,
    REMEDY_LR,
    SATURATION_SHARE,
    SELU_MEAN_LIMIT,
    SELU_STD_RANGE,
    SIGMOID_SATURATED,
    TANH_SATURATED,
    THRESHOLDS,
    VANISHING_RATIO,
    judge,
    merge,
    remedy_init,
)
from dnnconf.errors import ConfigError
from dnnconf.nn.initializers import FAMILY
from dnnconf.train import setup, threads
from dnnconf.train.callbacks import Listener
from dnnconf.train.loop import Loop, LoopSpec, Split
from dnnconf.train.run_folder.loading import load_run
from dnnconf.train.steps import SoloStep

if TYPE_CHECKING:
    from dnnconf.nn.build import Network

__all__ = [
    "ACTIVATION_GROWTH", "ACTIVATION_SHRINK", "DEAD_SHARE", "EXPLODING_RATIO", "INIT_PRESET", "INPUT_MEAN_LIMIT",
    "INPUT_STD_RANGE", "METRICS", "MIN_HIDDEN", "PROBE_POINTS", "REMEDY_ACTIVATION", "REMEDY_BATCH_NORM",
    "REMEDY_CLIPPING", "REMEDY_LEAKY", "REMEDY_LR", "SATURATION_SHARE", "SCHEMA", "SELU_MEAN_LIMIT",
    "SELU_STD_RANGE", "SIGMOID_SATURATED", "TANH_SATURATED", "THRESHOLDS", "VANISHING_RATIO", "DiagnosisReport",
    "Facts", "LayerRow", "Probe", "Verdict", "jsonable", "diagnose", "diagnose_run", "facts_of", "is_batch_norm",
    "judge", "layer_groups", "merge", "remedy_init",
]

PROBE_POINTS = 8  # probes along a training run when probe_every is not given

# --- assembly ---


def _init_family(spec: Any) -> tuple[str | None, str | None]:
    """(name, family) of an initializer spec: the note's Glorot/He/LeCun, or None for anything else."""
    if spec is None:
        return None, None
    if isinstance(spec, str):
        spec = {"name": spec}
    name = spec.get("name")
    if name in FAMILY:
        return name, FAMILY[name]
    if name == "variance_scaling":
        key = (float(spec.get("scale", 1.0)), spec.get("mode", "fan_in"))
        family = {(1.0, "fan_avg"): "glorot", (2.0, "fan_in"): "he", (1.0, "fan_in"): "lecun"}.get(key)
        return f"variance_scaling(scale={key[0]:g}, mode={key[1]})", family
    params = ", ".join(f"{k}={v}" for k, v in spec.items() if k != "name")
    return (f"{name}({params})" if params else name), None


def facts_of(network: nn.Module, config: Config | None, x: torch.Tensor) -> Facts:
    modules = list(network.named_modules())
    facts = Facts(
        batch_norm=any(is_batch_norm(n.rsplit(".", 1)[-1], m) for n, m in modules),
        dropout=any(type(m) is nn.Dropout for _, m in modules),  # alpha dropout is fine
        regularizer=bool(getattr(network, "penalties", None)),
        max_norm=bool(getattr(network, "constraints", None)),
        input_mean=float(x.double().mean()), input_std=float(x.double().std()) if x.numel() > 1 else 0.0,
    )
    if config is not None:
        facts.normalize = config.data.normalize
        model = config.model
        if model.layers is None:
            facts.initializer, facts.init_family = _init_family(model.kernel_initializer)
        else:
            dense = [next(iter(e.values())) for e in model.layers if next(iter(e)) == "dense"]
            found = {_init_family(d.get("kernel_initializer")) for d in dense}
            if len(found) == 1:
                facts.initializer, facts.init_family = found.pop()
    return facts


def normalized(network: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """What the first hidden layer receives: `x` through the network's input normalization, if it has one
    (the input facts judge those values, not the raw ones)."""
    normalization = getattr(network, "normalization", None)
    if normalization is None:
        return x
    with torch.no_grad():
        return normalization(x)


def _dataset_from_tensors(x: torch.Tensor, y: torch.Tensor) -> Dataset:
    y = torch.as_tensor(y)
    x = torch.as_tensor(x, dtype=torch.float32)
    integer = not torch.is_floating_point(y)
    empty_x, empty_y = x[:0], y[:0]
    return Dataset(x, y, empty_x, empty_y, empty_x, empty_y, tuple(x.shape[1:]),
                   "classification" if integer else "regression",
                   int(y.max()) + 1 if integer and len(y) else None, None, {"method": "none"})


def _as_dataset(data: Any) -> Dataset:
    if isinstance(data, Dataset):
        return data
    if isinstance(data, Split):
        return _dataset_from_tensors(data.x, data.y)
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return _dataset_from_tensors(*data)
    raise ConfigError(f"diagnose: data must be a Dataset, a Split or an (x, y) pair (received {type(data).__name__})")


def _probe_batches(train: Split, batches: int, batch_size: int, generator: torch.Generator) -> list[tuple]:
    """The first `batches` batches of the first epoch, in the order training would take them."""
    order = torch.randperm(len(train), generator=generator).to(train.x.device)
    take = order[: batches * batch_size]
    x, y = train.x[take], train.y[take]
    return [(x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, len(take), batch_size)]


def diagnose(config_or_network: Config | Network | str | Path, data: Any = None, *, batches: int = 4,
             train_steps: int = 0, probe_every: int | None = None, config: Config | None = None,
             source: str | None = None) -> DiagnosisReport:
    """Probe a network at initialization (and along `train_steps` steps of training) and judge it.

    `config_or_network`: a Config (or a YAML path), built and seeded as `dnnconf train` would, on its
    own data unless `data` is given; or a built `Network` (pass `config=` for its optimizer, batch
    size and data facts — `dnnconf diagnose RUN` does — otherwise the default configuration's).
    `data`: a `Dataset`, a `Split` or an `(x, y)` pair; the probe batches come from its training part.
    A network passed in is never changed: training steps run on a copy.
    """
    if batches < 1:
        raise ConfigError(f"diagnose: batches must be >= 1 (received {batches})")
    if train_steps < 0:
        raise ConfigError(f"diagnose: train_steps must be >= 0 (received {train_steps})")
    if probe_every is not None and probe_every < 1:
        raise ConfigError(f"diagnose: probe_every must be >= 1 (received {probe_every})")
    if isinstance(config_or_network, (str, Path)):
        config_or_network = load_config(config_or_network)
    if isinstance(config_or_network, Config):
        subject = _built(config_or_network, data)
        source = source or "config"
    else:
        subject = _given(config_or_network, data, config, train_steps)
        source = source or "network"
    config, network = subject.config, subject.network
    splits = setup.to_splits(subject.dataset, subject.device)
    if len(splits.train) == 0:
        raise ConfigError("diagnose: the data has no training examples to probe")
    batch_size = config.training.batch_size
    generator = torch.Generator().manual_seed(config.seed + setup.SHUFFLE_STREAM)
    probe_set = _probe_batches(splits.train, batches, batch_size, generator)
    facts = facts_of(network, subject.facts_config, normalized(network, torch.cat([x for x, _ in probe_set])))
    probe, results, stopped = _probe_along_training(config, network, splits.train, probe_set, train_steps,
                                                    probe_every)
    groups = probe.groups
    per_step_rows = [[LayerRow(i + 1, g.name, g.activation, g.role, g.units, **row)
                      for i, (g, row) in enumerate(zip(groups, rows, strict=True))] for _, rows, _ in results]
    verdicts = merge([(step, judge(rows, facts, loss))
                      for (step, _, loss), rows in zip(results, per_step_rows, strict=True)])
    series = {m: [[rows[i][m] for _, rows, _ in results] for i in range(len(groups))] for m in METRICS}
    return DiagnosisReport(
        name=config.name, source=source, batches=len(probe_set), batch_size=batch_size, train_steps=train_steps,
        device=str(subject.device), input={"mean": facts.input_mean, "std": facts.input_std},
        layers=per_step_rows[0], steps=[s for s, _, _ in results], loss=[loss for _, _, loss in results],
        series=series, verdicts=verdicts, stopped=stopped)


@dataclass
class _Subject:
    """What `diagnose` probes: the network, the config that trains it, its data and device, and the
    config the facts are read from (None for a network given without one)."""

    config: Config
    network: Network
    dataset: Dataset
    device: torch.device
    facts_config: Config | None


def _built(config: Config, data: Any) -> _Subject:
    """The network `config` builds, seeded as `dnnconf train` seeds it, on its own data unless `data`."""
    dataset = load_data(config.data) if data is None else _as_dataset(data)
    config = setup.resolve_with_data(config, dataset)
    device = setup.pick_device(config.training.device)
    threads.apply(config.training.threads)  # the cores free now, unless the user chose (train/threads.py)
    setup.seed_everything(config.seed)
    network = setup.make_network(config, dataset.normalization).to(device)  # raw inputs in
    return _Subject(config, network, dataset, device, config)


def _given(network: Network, data: Any, config: Config | None, train_steps: int) -> _Subject:
    """A built network (a copy when it will train), with `config` or the default one and its head's loss."""
    if data is None:
        raise ConfigError("diagnose: a network needs data (a Dataset, a Split or an (x, y) pair)")
    dataset = _as_dataset(data)
    if train_steps:
        network = copy.deepcopy(network)
    device = next(network.parameters()).device
    facts_config = config
    if config is None:
        config = config_from_dict({"name": "network"})
    if config.loss is None:
        config = config.model_copy(update={"loss": setup.LOSS_OF_HEAD[getattr(network, "head", "softmax")]})
    return _Subject(config, network, dataset, device, facts_config)


def _probe_along_training(config: Config, network: Network, train: Split, probe_set: list[tuple],
                          train_steps: int, probe_every: int | None
                          ) -> tuple[Probe, list[tuple[int, list[dict[str, float | None]], float]], str | None]:
    """The probe at step 0 and every `probe_every` steps (default: `PROBE_POINTS` probes) of `train_steps`
    steps of the training loop; returns the probe, (step, rows, loss) per probe, and why training stopped
    early (None unless it diverged)."""
    optimizer, clipping = setup.make_optimizer(config, network)
    spe = setup.steps_per_epoch(config, len(train))
    schedule = setup.make_schedule(config, spe)
    results: list[tuple[int, list[dict[str, float | None]], float]] = []
    every = probe_every or max(1, math.ceil(train_steps / PROBE_POINTS))

    class _Along(Listener):
        def on_batch_end(self, loop: Loop) -> None:
            step = loop.state.step
            if step % every == 0 or step >= train_steps:
                results.append((step, *probe.measure()))
            if step >= train_steps:
                loop.state.stop = True
                loop.state.stop_reason = ""

    epochs = math.ceil(train_steps / spe) + 1 if train_steps else 1
    batch_size = config.training.batch_size
    loop = Loop(LoopSpec(SoloStep(network), optimizer, schedule, config.loss, train, None, epochs, batch_size,
                         clipping, [_Along()], torch.Generator().manual_seed(config.seed + setup.SHUFFLE_STREAM),
                         config.training.eval_batch_size))
    loop._write_hyperparameters(0)  # the learning rate of the first step, for the update ratio
    probe = Probe(network, probe_set, config.loss, optimizer, clipping)
    results.append((0, *probe.measure()))
    stopped = None
    if train_steps:
        state = loop.run()
        if state.diverged:
            stopped = f"training diverged after {state.step} steps ({state.stop_reason})"
            if results[-1][0] != state.step:
                results.append((state.step, *probe.measure()))
    return probe, results, stopped


def diagnose_run(folder: Path, *, batches: int = 4, train_steps: int = 0,
                 probe_every: int | None = None) -> DiagnosisReport:
    """Probe the trained weights of a run folder on its own training data."""
    config, network = load_run(Path(folder), device="cpu")
    # the probe measures what training does (dropout on, batch statistics), as at initialization
    network = network.to(setup.pick_device(config.training.device)).train()
    threads.apply(config.training.threads)
    dataset = load_data(config.data)
    return diagnose(network, dataset, batches=batches, train_steps=train_steps, probe_every=probe_every,
                    config=config, source="run")
