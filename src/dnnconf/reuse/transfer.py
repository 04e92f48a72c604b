"""Transfer learning (the note's section 2): a new network whose lower layers are copies of a trained run's.

`build_transferred(config)` builds this config's network (architecture from `model`, output from the
data) and copies into it the reused layers of the run folder `transfer.from`; the source's files are
only read. A *layer* is a group of modules: a dense or conv2d module with the activation, batch norm,
pooling and dropout modules that follow it, up to the next dense/conv2d; modules before the first one
(flatten, an input batch norm or dropout) belong to the first group. The last group is the output.

What is reused (`transfer.reuse`, then `drop_top` removes that many from the top):
- `all_but_output`: every group of the source but its output (the note's `model_A.layers[:-1]`);
- an int N: the source's first N groups;
- a list of module names (`dense_1`, `batch_norm_2`, …): exactly those modules.
The reused modules must exist in the new network under the same names, with the same module types
and parameter/buffer shapes; any difference is a one-line ConfigError naming the module and the
difference. Freezing and unfreezing them is `dnnconf.train.freezing.Freezing`.

The input normalization (the network's first layer, `Network.normalization`) comes with the reused
layers: `transfer.normalization: source` (the default) copies the source's, so the reused layers see
inputs in the units they were trained on; `own` adapts it on this run's training split.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from dnnconf.config.schema import Config
from dnnconf.data import load_data
from dnnconf.errors import ConfigError, DataError, RunFolderError
from dnnconf.nn.build import Network
from dnnconf.train import setup
from dnnconf.train.run_folder.loading import load_run

WEIGHTED = ("Linear", "Conv2d")  # module types that start a new layer group


@dataclass
class TransferPlan:
    """What was reused: `groups` are the reused layers, bottom to top, each a list of module names."""

    source: Path
    groups: list[list[str]]
    normalization: dict[str, Any] | None = None  # the statistics of the new network's input layer
    source_layers: list[str] = field(default_factory=list)

    @property
    def modules(self) -> list[str]:
        return [name for group in self.groups for name in group]

    def to_plain(self) -> dict[str, Any]:
        return {"source": str(self.source), "reused": self.groups}


def layer_groups(network: Network) -> list[list[str]]:
    """The network's layers as groups of module names (see the module docstring); the output is last."""
    groups: list[list[str]] = []
    stem: list[str] = []
    for name, module in network.layers.named_children():
        if type(module).__name__ in WEIGHTED:
            groups.append([*stem, name])
            stem = []
        elif groups:
            groups[-1].append(name)
        else:
            stem.append(name)
    if stem:  # no weighted module at all (cannot happen: the output is dense)
        groups.append(stem)
    return groups


def _signature(module: torch.nn.Module) -> dict[str, Any]:
    shapes = {k: list(v.shape) for k, v in module.state_dict().items()}
    return {"type": type(module).__name__, "shapes": shapes}


def _mismatch(name: str, mine: dict[str, Any] | None, theirs: dict[str, Any], source: Path,
              shapes: bool) -> str | None:
    """The one-line description of how module `name` differs (types first, then shapes), or None."""
    if mine is None:
        return (f"transfer.from: the source's layer {name} ({theirs['type']}) has no counterpart in this model; "
                f"the reused layers must have the source's architecture (model)")
    if mine["type"] != theirs["type"]:
        return (f"transfer.from: layer {name} is {theirs['type']} in {source} but {mine['type']} in this model; "
                f"the reused layers must have the source's architecture (model)")
    if not shapes:
        return None
    if sorted(mine["shapes"]) != sorted(theirs["shapes"]):
        return (f"transfer.from: layer {name} holds {', '.join(theirs['shapes'])} in {source} but "
                f"{', '.join(mine['shapes'])} in this model (a dense layer before batch norm has no bias)")
    for key, shape in theirs["shapes"].items():
        if mine["shapes"][key] != shape:
            return (f"transfer.from: layer {name} has {key} of shape {shape} in {source} but "
                    f"{mine['shapes'][key]} in this model; the reused layers must match the source's "
                    f"(model.hidden, model.input_shape)")
    return None


def reused_groups(transfer: Any, source: Network) -> list[list[str]]:
    """The groups (module names of the source) that `transfer` reuses, bottom to top."""
    groups = layer_groups(source)
    hidden = groups[:-1]
    reuse = transfer.reuse
    if reuse == "all_but_output":
        chosen = hidden
    elif isinstance(reuse, int):
        if reuse > len(groups):
            raise ConfigError(f"transfer.reuse: {reuse} layers, but the source has {len(groups)} "
                              f"({len(hidden)} hidden and the output)")
        chosen = groups[:reuse]
    else:
        names = [name for group in groups for name in group]
        unknown = [name for name in reuse if name not in names]
        if unknown:
            raise ConfigError(f"transfer.reuse: {unknown[0]!r} is not a layer of the source; its layers: "
                              f"{', '.join(names)}")
        chosen = [[name for name in group if name in reuse] for group in groups]
        chosen = [group for group in chosen if group]
    if transfer.drop_top >= len(chosen) and transfer.drop_top:
        raise ConfigError(f"transfer.drop_top: {transfer.drop_top} drops every one of the {len(chosen)} reused "
                          f"layers; use at most {len(chosen) - 1}")
    return chosen[: len(chosen) - transfer.drop_top]


def load_source(folder: Path) -> tuple[Config, Network, dict[str, Any] | None]:
    """The source run's config, network (on the CPU, its input layer included) and that layer's statistics;
    errors name `transfer.from`."""
    try:
        config, network = load_run(folder)
    except RunFolderError as error:
        raise ConfigError(f"transfer.from: {error}") from None
    return config, network, network.normalization.statistics()


def transfer_weights(network: Network, source: Network, groups: list[list[str]], folder: Path) -> None:
    """Check that the reused modules match, then copy their parameters and buffers (copies: never shared)."""
    mine = dict(network.layers.named_children())
    theirs = dict(source.layers.named_children())
    reused = [name for group in groups for name in group]
    for shapes in (False, True):  # a missing or different module explains more than the shapes it causes
        for name in reused:
            problem = _mismatch(name, _signature(mine[name]) if name in mine else None, _signature(theirs[name]),
                                folder, shapes)
            if problem:
                raise ConfigError(problem)
    with torch.no_grad():
        for name in (name for group in groups for name in group):
            target = mine[name].state_dict()
            for key, value in theirs[name].state_dict().items():
                target[key].copy_(value.to(target[key].device))


def build_transferred(config: Config, device: str | torch.device = "cpu",
                      own: dict[str, Any] | None = None) -> tuple[Network, TransferPlan]:
    """This config's network with the reused layers copied from `config.transfer.from`, and the plan.

    `config` should be resolved with the data (`setup.resolve_with_data`; `run.train` does it); an
    unresolved one is resolved here by loading its data. The weights of the new layers are drawn from
    `config.seed` as `setup.make_network` draws them. The input layer is the source's
    (`transfer.normalization: source`) or adapted to `own` (this data's statistics; loaded when None).
    """
    if config.transfer is None:
        raise ConfigError("transfer: this config has no transfer section")
    if config.model.input_shape is None or config.model.output.units is None:
        dataset = load_data(config.data)
        config, own = setup.resolve_with_data(config, dataset), own or dataset.normalization
    folder = Path(config.transfer.from_)
    _, source, _ = load_source(folder)
    groups = reused_groups(config.transfer, source)
    if config.transfer.normalization == "own" and own is None:
        own = load_data(config.data).normalization
    network = setup.make_network(config, own if config.transfer.normalization == "own" else None)
    transfer_weights(network, source, groups, folder)
    if config.transfer.normalization == "source":
        try:
            network.normalization.copy_from(source.normalization)
        except DataError as error:
            raise ConfigError(f"transfer.from: the source's input normalization does not fit this data "
                              f"({error}); set transfer.normalization: own") from None
    plan = TransferPlan(folder, groups, network.normalization.statistics(),
                        [name for group in layer_groups(source) for name in group])
    return network.to(device), plan
