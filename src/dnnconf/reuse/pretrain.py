"""Unsupervised pretraining (the note's section 2: "much unlabeled data, few labels").

`pretrained_network(config)` trains an autoencoder of the model's hidden layers on unlabeled inputs
(`pretrain.unlabeled: all_train`: the whole training split without its labels, including what
`data.train_limit` and `data.classes` leave out; the validation split stays out and logs the
validation loss) and returns this config's network with the encoder's weights copied into its hidden
layers; the output layer keeps its own initialization from the seed, as `setup.make_network` draws it.
`run.train` then freezes the copied layers for `pretrain.freeze_epochs` and unfreezes them with
`dnnconf.train.freezing.Freezing` (the transfer-learning machinery).

The autoencoders train in the one training loop (`train.loop.Loop`) with targets = the clean inputs,
flattened, loss mse or binary cross-entropy, at a constant rate with `pretrain.optimizer` (Adam,
η = 0.001, by default: Keras's default optimizer for autoencoders). Their seeds are `seed +
PRETRAIN_STREAM` (+ the layer index, greedy), so pretraining leaves the supervised run's streams alone.
The autoencoders see inputs normalized with the unlabeled set's statistics, and the supervised network's
input layer (`Network.normalization`) gets those statistics: the encoder learned on them.

The pretraining folder (a run's `pretrain/`): pretrain.json (what shaped the encoder), normalization.json,
history.csv and learning_curves.png (greedy: per layer-K/), checkpoint/ (each epoch), reconstructions.png
(eight validation inputs above their reconstructions) and, written last, encoder.safetensors (the
hidden layers under the classifier's module names). A folder with encoder.safetensors is finished and
read back, not redone; an interrupted one resumes from its last epoch checkpoint (greedy: finished
layers are kept, the interrupted layer resumes).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from dnnconf.config.schema import Config
from dnnconf.data import load_data
from dnnconf.data.dataset import load_unlabeled
from dnnconf.errors import ConfigError, Diverged
from dnnconf.nn.build import Network, build_network
from dnnconf.optim.clipping import Clipping
from dnnconf.optim.optimizers import OPTIMIZERS
from dnnconf.optim.schedules import SCHEDULES
from dnnconf.plots import learning_curves
from dnnconf.reuse import autoencoder as ae
from dnnconf.reuse.transfer import TransferPlan, layer_groups
from dnnconf.safe_write import write_atomic, write_tensors
from dnnconf.train import setup
from dnnconf.train.checkpoint import Checkpointer, latest_checkpoint, restore
from dnnconf.train.history import HistoryLog, history_csv
from dnnconf.train.loop import Loop, LoopSpec, Split
from dnnconf.train.progress import Progress
from dnnconf.train.run_folder.naming import timestamped_folder
from dnnconf.train.setup import SHUFFLE_STREAM
from dnnconf.train.steps import SoloStep

PRETRAIN_STREAM = 2_000_029  # seed offset of pretraining's streams (init, batch order, noise)
SHOWN = 8  # validation inputs in reconstructions.png


def fingerprint(config: Config) -> dict[str, Any]:
    """What determines the encoder: reusing a pretraining needs the same (`pretrain.reuse_from`)."""
    settings = config.pretrain.model_dump(mode="json", include={"method", "unlabeled", "epochs", "batch_size",
                                                                "loss", "noise", "optimizer"})
    data = config.data.model_dump(mode="json", include={"dataset", "path", "valid_size", "test_size", "split_seed",
                                                        "normalize", "normalize_axis"})
    return {"pretrain": settings, "seed": config.seed, "data": data, "input_shape": list(config.model.input_shape),
            "hidden": [layer.entries for layer in ae.hidden_layers(config)]}


def _resolved(config: Config) -> Config:
    """`config` with what the data decides filled in (`run.train` passes it so; the API may not)."""
    if config.pretrain is None:
        raise ConfigError("pretrain: this config has no pretrain section")
    if config.model.input_shape is None or config.model.output.units is None:
        config = setup.resolve_with_data(config, load_data(config.data))
    return config


def pretrained_network(config: Config, folder: Path | None = None, device: str | torch.device = "cpu",
                       quiet: bool = True, log: Any = print) -> tuple[Network, TransferPlan]:
    """This config's network, its hidden layers from the pretrained encoder; and the plan (`groups`: the
    pretrained layers, `normalization`: the unlabeled statistics, `source`: the pretraining folder).

    Pretrains into `folder` (default: a new `runs/<name>-pretrain-<timestamp>`), or reads back a finished
    pretraining there or in `pretrain.reuse_from`.
    """
    config = _resolved(config)
    if config.pretrain.reuse_from is not None:
        folder = Path(config.pretrain.reuse_from)
        if not (folder / "encoder.safetensors").is_file():
            raise ConfigError(f"pretrain.reuse_from: {folder} holds no finished pretraining (encoder.safetensors)")
        _check_same(config, folder, "pretrain.reuse_from")
    elif folder is None:
        folder = timestamped_folder(f"{config.name}-pretrain")
    elif (folder / "pretrain.json").is_file():  # a finished or interrupted pretraining: of this config only
        _check_same(config, folder, "pretrain")
    if not (folder / "encoder.safetensors").is_file():
        pretrain(config, folder, torch.device(device), quiet, log)
    normalization = json.loads((folder / "normalization.json").read_text())
    network = setup.make_network(config, normalization)  # the statistics the encoder learned on
    groups = layer_groups(network)[:-1]
    encoder = load_file(str(folder / "encoder.safetensors"))
    problems = network.layers.load_state_dict(encoder, strict=False)
    if problems.unexpected_keys or set(encoder) != {f"{n}.{k}" for g in groups for n in g
                                                      for k in network.layers.get_submodule(n).state_dict()}:
        raise ConfigError(f"pretrain: {folder}/encoder.safetensors does not fit this model's hidden layers")
    return network.to(device), TransferPlan(folder, groups, normalization)


def _check_same(config: Config, folder: Path, where: str) -> None:
    """The pretraining in `folder` was made (or begun) with what shapes this config's encoder."""
    try:
        saved = json.loads((folder / "pretrain.json").read_text())
    except (OSError, ValueError):
        raise ConfigError(f"{where}: {folder}/pretrain.json is missing or unreadable") from None
    mine = json.loads(json.dumps(fingerprint(config)))
    for key in mine:
        if saved.get(key) != mine[key]:
            raise ConfigError(f"{where}: {folder} was pretrained with another {key} ({saved.get(key)!r}; this "
                              f"config: {mine[key]!r}); remove that folder or choose another")


def pretrain(config: Config, folder: Path, device: torch.device, quiet: bool = True, log: Any = print) -> None:
    """Train the autoencoder(s) into `folder`, resuming an interrupted pretraining; write the encoder."""
    settings = config.pretrain
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(folder / "pretrain.json", json.dumps(fingerprint(config), indent=1))
    x_train, x_valid, normalization = load_unlabeled(config.data)
    write_atomic(folder / "normalization.json", json.dumps(normalization))
    x_train, x_valid = x_train.to(device), x_valid.to(device)
    if not quiet:
        log(f"pretraining ({settings.method}) on {len(x_train):,} unlabeled inputs into {folder}")
    classifier = setup.make_network(config).to(device)
    modules = dict(classifier.layers.named_children())
    groups = layer_groups(classifier)[:-1]
    hidden = ae.hidden_layers(config)
    input_shape = tuple(config.model.input_shape)
    input_size = x_train[0].numel()
    shown = x_valid[:SHOWN]
    if settings.method == "autoencoder":
        layers = ae.autoencoder_layers(hidden, input_size, settings.loss)
        network = _autoencoder(layers, input_shape, config, 0, device)
        fit_autoencoder(network, settings.loss, x_train, x_valid, folder, config, quiet)
        ae.copy_modules(list(network.layers), [modules[name] for group in groups for name in group])
        reconstructed = _head(network, ae.encode(list(network.layers), shown))
    else:
        codes_train, codes_valid, decoders = x_train, x_valid, []
        for index, group in enumerate(groups):
            shape = input_shape if index == 0 else (hidden[index - 1].units,)
            size = input_size if index == 0 else hidden[index - 1].units
            network = _autoencoder(ae.shallow_layers(hidden, index, size, settings.loss), shape, config, index,
                                   device)
            loss = settings.loss if index == 0 else "mse"
            fit_autoencoder(network, loss, codes_train, codes_valid, folder / f"layer-{index + 1}", config, quiet)
            encoder = [modules[name] for name in group]
            ae.copy_modules(list(network.layers), encoder)
            decoders.append(list(network.layers)[-1:])  # the dense back to this layer's input
            codes_train, codes_valid = ae.encode(encoder, codes_train), ae.encode(encoder, codes_valid)
            if not quiet:
                log(f"pretrained hidden layer {index + 1} of {len(groups)}")
        codes = ae.encode([modules[name] for group in groups for name in group], shown)
        for decoder in reversed(decoders):  # the stack: every encoder up, every decoder down
            codes = ae.encode(decoder, codes)
        reconstructed = torch.sigmoid(codes) if settings.loss == "binary_crossentropy" else codes
    ae.plot_reconstructions(shown, reconstructed, input_shape, folder / "reconstructions.png",
                            f"{config.name}: {settings.method} pretraining, validation inputs")
    encoder_state = {f"{name}.{key}": value.detach().cpu().contiguous() for group in groups for name in group
                     for key, value in modules[name].state_dict().items()}
    write_tensors(folder / "encoder.safetensors", encoder_state)  # last: marks the pretraining finished


def _autoencoder(layers: list[dict[str, Any]], input_shape: tuple[int, ...], config: Config, index: int,
                 device: torch.device) -> Network:
    seed = config.seed + PRETRAIN_STREAM + index
    setup.seed_everything(seed)  # the noise and dropout masks
    network = build_network(layers, input_shape, torch.Generator().manual_seed(seed))
    return ae.with_noise(network, config.pretrain.noise).to(device)


def _head(network: Network, logits: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(logits) if network.head == "sigmoid" else logits


def fit_autoencoder(network: Network, loss: str, x_train: torch.Tensor, x_valid: torch.Tensor, folder: Path,
                    config: Config, quiet: bool) -> None:
    """Train one autoencoder in `Loop` on targets = the flattened clean inputs, checkpointing each epoch
    into folder/checkpoint (resumed from there); model.safetensors marks it finished (then just loaded)."""
    finished = folder / "model.safetensors"
    if finished.is_file():
        network.load_state_dict(load_file(str(finished), device=str(x_train.device)))
        return
    folder.mkdir(parents=True, exist_ok=True)
    settings = config.pretrain

    def targets(x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(len(x), -1)
        return flat.clamp(0.0, 1.0) if loss == "binary_crossentropy" else flat  # BCE targets are probabilities

    spec = settings.optimizer.model_dump()
    clipping = Clipping(spec.pop("clipvalue"), spec.pop("clipnorm"), spec.pop("global_clipnorm"))
    optimizer = OPTIMIZERS.build(spec, "pretrain.optimizer", params=list(network.parameters()))
    steps = -(-len(x_train) // settings.batch_size)
    schedule = SCHEDULES.build("constant", "schedule", base_lr=spec["learning_rate"], steps_per_epoch=steps,
                               total_steps=steps * settings.epochs)
    listeners = [HistoryLog(folder / "history.csv"), Checkpointer(folder / "checkpoint", []),
                 Progress(quiet=quiet)]
    generator = torch.Generator().manual_seed(config.seed + PRETRAIN_STREAM + SHUFFLE_STREAM)
    loop = Loop(LoopSpec(SoloStep(network), optimizer, schedule, loss, Split(x_train, targets(x_train)),
                         Split(x_valid, targets(x_valid)) if len(x_valid) else None, settings.epochs,
                         settings.batch_size, clipping, listeners, generator, config.training.eval_batch_size))
    if (folder / "checkpoint" / "LATEST").is_file():
        restore(latest_checkpoint(folder / "checkpoint"), loop, [])
    state = loop.run()
    if state.diverged:
        raise Diverged(f"{folder}: pretraining diverged ({state.stop_reason}) in epoch {state.epoch + 1}; lower "
                       f"pretrain.optimizer.learning_rate")
    write_atomic(folder / "history.csv", history_csv(state.history))
    learning_curves(state.history, folder / "learning_curves.png", title=f"{config.name}: pretraining")
    write_tensors(finished, network.state_dict())
