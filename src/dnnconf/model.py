"""`dnnconf.load(path)`: a trained run or an export folder as one `Model` you can hand to someone.

A `Model` is the network with its preprocessing (the input normalization is the network's first layer,
`dnnconf.nn.normalization`), the resolved config and the folder's metadata. It takes raw inputs, in the
units of the training data (pixels 0..255 for Fashion-MNIST), as NumPy arrays, torch tensors or lists:

    model = dnnconf.load("runs/demo")                 # or an export folder, at its own precision
    p = model.predict(x)                              # the output layer's activations, float32 numpy
    p = model.predict_proba(x)                        # (N, k) class probabilities; binary: P(0), P(1)
    c = model.predict_classes(x)                      # (N,) int64
    metrics = model.evaluate("test")                  # or model.evaluate((x, y))
    mc = model.mc_predict(x, samples=100)             # MC dropout (dnnconf.uncertainty.mc_dropout)
    model.export(dtype="int8", onnx="model.onnx")     # dnnconf.exporting.exporter.export_run
    print(model.summary())

Prediction runs in inference mode (`torch.inference_mode`, the network in eval mode: dropout off, batch
norm on its moving statistics), in batches of `batch_size` (default 1024), so any number of examples fits
and one example gets the answer it gets inside a batch. Inputs are (N, *input_shape), or flattened
(N, prod(input_shape)); a single example of exactly `input_shape` gives a result without the batch axis.

`predict` returns what Keras's `model.predict` returns: softmax probabilities (N, k), the sigmoid
P(class 1) (N, 1), or the regression outputs (N, units). An export folder computes at its own precision:
int8 with PyTorch's dynamic quantization, float16/bfloat16 inputs and weights cast (logits back to
float32), so `evaluate` of an export measures that model, not the float32 run. MC dropout of a
float16/bfloat16 export runs its rounded weights in float32 (the batched MC kernels are float32).
`dnnconf predict` and `dnnconf evaluate` go through this class: the command line and Python agree.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dnnconf.data import load_data
from dnnconf.errors import BadInput, DataError, RunFolderError
from dnnconf.exporting.exporter import ExportedModel, export_run, is_export_folder, load_model, read_export_info
from dnnconf.nn.build import head_output, summary_lines
from dnnconf.train.loop import Split, evaluate
from dnnconf.uncertainty.mc_dropout import MCPrediction, mc_predict

BATCH_SIZE = 1024
SPLITS = ("train", "valid", "test")


def load(path: str | Path, device: str = "cpu") -> Model:
    """The trained run or export folder at `path` as a `Model` (see the module docstring)."""
    return Model.load(path, device)


class Model:
    """A trained network with its input normalization, config and metadata (module docstring).

    Attributes: `config` (the resolved Config), `network` (what computes: a `Network`, or for an export
    an `ExportedModel` at its precision), `folder`, `kind` ("run" or "export"), `dtype` (float32, float16,
    bfloat16 or int8), `info` (export.json of an export, metrics.json of a run, {} without), `head`
    (softmax, sigmoid or linear), `input_shape`, `class_names` (None until the data is loaded).
    """

    def __init__(self, config: Any, network: torch.nn.Module, folder: Path | None = None, kind: str = "run",
                 dtype: str = "float32", info: dict[str, Any] | None = None):
        self.config = config
        self.network = network.eval()
        self.folder = folder
        self.kind = kind
        self.dtype = dtype
        self.info = info or {}
        self.head = network.head
        self.input_shape = tuple(config.model.input_shape)
        self.class_names: list[str] | None = None

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> Model:
        folder = Path(path)
        config, network = load_model(folder, device)
        if is_export_folder(folder):
            info = read_export_info(folder)
            dtype = "int8" if info.get("quantization") else info.get("dtype", "float32")
            return cls(config, network, folder, "export", dtype, info)
        try:
            info = json.loads((folder / "metrics.json").read_text())
        except (OSError, ValueError):
            info = {}
        return cls(config, network, folder, "run", "float32", info if isinstance(info, dict) else {})

    # --- inputs ---

    def _inputs(self, x: Any) -> tuple[torch.Tensor, bool]:
        """(x as float32 (N, *input_shape) on the model's device, whether it was one example)."""
        if isinstance(x, torch.Tensor):
            tensor = x.detach().to("cpu", torch.float32)
        else:
            try:
                tensor = torch.from_numpy(np.asarray(x, dtype=np.float32).copy())
            except (TypeError, ValueError) as error:
                raise BadInput(f"x: not an array of numbers ({str(error).splitlines()[0]})") from None
        shape, size = self.input_shape, math.prod(self.input_shape)
        single = tuple(tensor.shape) == shape and not (len(shape) == 1 and shape[0] == 1 and tensor.dim() == 1)
        if single:
            tensor = tensor.unsqueeze(0)
        elif tensor.dim() == 1 and size == 1:
            tensor = tensor[:, None]
        if tensor.dim() >= 2 and (tuple(tensor.shape[1:]) == shape or tuple(tensor.shape[1:]) == (size,)):
            tensor = tensor.reshape(len(tensor), *shape)
        elif not single:
            flat = f" or flattened (N, {size})" if len(shape) > 1 else ""
            raise DataError(f"x: examples of shape {tuple(tensor.shape)}, but the model expects "
                            f"(N, {', '.join(map(str, shape))}{',' if len(shape) == 1 else ''}){flat} or one "
                            f"example {shape}")
        if not bool(torch.isfinite(tensor).all()):
            raise DataError("x: NaN or Inf in the inputs; only finite numbers work")
        return tensor, single

    def _device(self) -> torch.device:
        tensor = next(iter(self.network.parameters()), None)
        return tensor.device if tensor is not None else torch.device("cpu")

    # --- prediction ---

    def logits(self, x: Any, batch_size: int = BATCH_SIZE) -> np.ndarray:
        """The output layer's pre-activations (float32 numpy), raw inputs in."""
        tensor, single = self._inputs(x)
        out = self._logits(tensor, batch_size).numpy()
        return out[0] if single else out

    def _logits(self, x: torch.Tensor, batch_size: int) -> torch.Tensor:
        if batch_size < 1:
            raise BadInput(f"batch_size: {batch_size} must be at least 1")
        device = self._device()
        network = self.network
        was_training = network.training
        network.eval()
        try:
            with torch.inference_mode():
                parts = [network(x[i:i + batch_size].to(device)).float().cpu() for i in range(0, len(x), batch_size)]
        finally:
            network.train(was_training)
        return torch.cat(parts) if parts else torch.zeros((0, self._units()))

    def _units(self) -> int:
        return int(self.config.model.output.units or 1)

    def predict(self, x: Any, batch_size: int = BATCH_SIZE) -> np.ndarray:
        """The output layer's activations (Keras's `model.predict`): softmax (N, k), sigmoid (N, 1),
        linear (N, units); float32. One example without the batch axis gives one row without it."""
        tensor, single = self._inputs(x)
        out = head_output(self._logits(tensor, batch_size), self.head).numpy()
        return out[0] if single else out

    def predict_proba(self, x: Any, batch_size: int = BATCH_SIZE) -> np.ndarray:
        """Class probabilities (N, k), scikit-learn's convention: a binary model gives P(class 0), P(class 1)."""
        if self.head == "linear":
            raise BadInput("predict_proba: a regression model has no class probabilities; use predict")
        tensor, single = self._inputs(x)
        out = _probabilities(self._logits(tensor, batch_size), self.head).numpy()
        return out[0] if single else out

    def predict_classes(self, x: Any, batch_size: int = BATCH_SIZE) -> np.ndarray:
        """The predicted class of each example (int64): the most probable one (binary: P(1) > 0.5)."""
        proba = self.predict_proba(x, batch_size)
        return np.asarray(proba.argmax(axis=-1), dtype=np.int64)

    def mc_predict(self, x: Any, samples: int = 100, seed: int = 0, batch_size: int = BATCH_SIZE,
                   **options: Any) -> Any:
        """MC dropout (the note's §5.4): `samples` predictions with only the dropout layers sampling (batch
        norm stays on its moving statistics); an `MCPrediction` (mean, std, entropy, mutual_information,
        pred) from `dnnconf.uncertainty.mc_dropout.mc_predict`, whose keyword options it passes on."""
        tensor, _ = self._inputs(x)
        return mc_predict(self.layered_network(), tensor, samples, seed, batch_size=batch_size, **options)

    def plain_predict(self, x: Any, batch_size: int = BATCH_SIZE) -> Any:
        """The deterministic prediction as an `MCPrediction` without samples (what `dnnconf predict` prints)."""
        tensor, _ = self._inputs(x)
        logits = self._logits(tensor, batch_size)
        if self.head == "linear":
            return MCPrediction(logits.double().numpy(), None, None, None, self.head, 0)
        proba = _probabilities(logits, self.head).double().numpy()
        positive = proba > 0
        entropy = -np.where(positive, proba * np.log(np.where(positive, proba, 1.0)), 0.0).sum(axis=1)
        return MCPrediction(proba, None, entropy, None, self.head, 0)

    def layered_network(self) -> torch.nn.Module:
        """A network with `layers` and `normalization` for the MC kernels: an export's float16/bfloat16
        weights (rounded) in float32, its int8 network as it is."""
        if not isinstance(self.network, ExportedModel):
            return self.network
        inner = self.network.network
        if self.network.compute_dtype in (torch.float16, torch.bfloat16):
            inner = copy.deepcopy(inner).float()
        return inner

    # --- evaluation ---

    def evaluate(self, data: str | tuple[Any, Any] = "test", batch_size: int | None = None) -> dict[str, float]:
        """Loss and metric on a split of the run's data ("train", "valid", "test") or on raw `(x, y)`:
        {"loss": …, "accuracy" | "mae": …}. An export measures itself at its precision (its loss has no
        l1/l2 penalty term)."""
        batch_size = batch_size or self.config.training.eval_batch_size
        if isinstance(data, str):
            x, y = self._split(data)
        else:
            try:
                raw_x, raw_y = data
            except (TypeError, ValueError):
                raise BadInput("evaluate: give a split name (train, valid, test) or an (x, y) pair") from None
            x, _ = self._inputs(raw_x)
            y = self._labels(raw_y, len(x))
        device = self._device()
        with torch.inference_mode():
            return evaluate(self.network, Split(x.to(device), y.to(device)), self.config.loss, batch_size)

    def _split(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        if name not in SPLITS:
            raise BadInput(f"split: {name!r} is not one of {', '.join(SPLITS)}")
        dataset = load_data(self.config.data)  # raw inputs: the network normalizes them
        self.class_names = dataset.class_names
        x, y = getattr(dataset, f"x_{name}"), getattr(dataset, f"y_{name}")
        if not len(y):
            raise RunFolderError(f"--split {name}: this run's data has no {name} examples")
        return x, (y.float() if dataset.task == "binary" else y)

    def _labels(self, y: Any, count: int) -> torch.Tensor:
        labels = torch.as_tensor(np.asarray(y.detach().cpu() if isinstance(y, torch.Tensor) else y))
        if labels.dim() != 1 or len(labels) != count:
            raise DataError(f"y: {tuple(labels.shape)} labels for {count} examples; give one label per example")
        if self.head == "linear":
            return labels.float()
        if self.head == "sigmoid":
            return labels.float()
        if labels.is_floating_point() and not bool((labels == labels.round()).all()):
            raise DataError("y: class labels must be whole numbers")
        units = self._units()
        labels = labels.long()
        if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= units):
            raise DataError(f"y: labels must be 0..{units - 1} for this {units}-class model")
        return labels

    # --- the rest ---

    def export(self, **options: Any) -> Any:
        """Export this run (`dnnconf.exporting.exporter.export_run`: fold_bn, threshold, sparsity, dtype, onnx,
        out, …); returns its `ExportResult`."""
        if self.kind != "run" or self.folder is None:
            raise BadInput(f"{self.folder}: is an export folder; export the run it came from "
                           f"({self.info.get('source', 'see export.json')})")
        return export_run(self.folder, **options)

    def summary(self) -> str:
        """The layers (Keras's summary), the input normalization and the precision, as text."""
        network = self.layered_network()
        layer = getattr(network, "normalization", None)
        lines = [f"{self.kind} {self.folder}" if self.folder else self.kind,
                 f"input {list(self.input_shape)}, raw; normalization: "
                 + (describe_layer(layer) if layer is not None else "none"),
                 f"output: {self.head}, precision {self.dtype}"]
        try:
            lines += summary_lines(network)
        except AttributeError:  # a network without a summary (should not happen for loaded folders)
            pass
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"Model({self.kind} {str(self.folder)!r}, input_shape={self.input_shape}, head={self.head!r}, "
                f"dtype={self.dtype!r})")


def describe_layer(layer: Any) -> str:
    if layer.method == "none":
        return "none"
    count = layer.shift.numel()
    return f"{layer.method} per {layer.axis} ({count} statistic{'s' if count != 1 else ''}, in the weights)"


def _probabilities(logits: torch.Tensor, head: str) -> torch.Tensor:
    """(N, k) class probabilities; a sigmoid head's as P(class 0), P(class 1)."""
    if head == "sigmoid":
        z = logits[:, :1]
        return torch.cat([torch.sigmoid(-z), torch.sigmoid(z)], dim=1)
    return torch.softmax(logits, dim=-1)


def evaluate_run(folder: Path | str, split: str = "test") -> dict[str, float]:
    """Loss and metric of a run (or export) folder on a split of its data, raw inputs in: the figures
    `dnnconf evaluate` prints (`dnnconf.model.Model.evaluate`; an export measures itself at its precision)."""
    return Model.load(Path(folder)).evaluate(split)
