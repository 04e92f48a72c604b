"""A run folder read back: its resolved config and its trained network, in eval mode, taking raw inputs."""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from safetensors.torch import load_file

from dnnconf.config import Config, config_from_dict
from dnnconf.data import load_data
from dnnconf.errors import DataError, RunFolderError
from dnnconf.nn.build import Network
from dnnconf.nn.normalization import statistics_shape
from dnnconf.train import setup
from dnnconf.train.run_folder import files as run_files


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
    path = folder / "normalization.json"
    if path.is_file():
        statistics = run_files.read_normalization(path)  # checked: size, JSON object, keys, finite numbers
    else:
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
    layer = network.normalization
    shift, scale = layer.shift, layer.scale
    if config.data.normalize == "none" or (shift.numel() == 1 and not shift.any() and bool((scale == 1).all())):
        layer.method, layer.axis = "none", None
        return
    layer.method = config.data.normalize
    shape = tuple(config.model.input_shape)
    layer.axis = "feature" if tuple(shift.shape) == statistics_shape("feature", shape) else "channel"
