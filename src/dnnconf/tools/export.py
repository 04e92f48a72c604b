"""A low-latency model from a trained run (the note's summary): batch norm folded into the adjacent layers,
tiny weights zeroed (a sparse model), lower float precision (16 bits) or int8, and an ONNX graph.

Folding (`fold_batch_norm`), in inference mode a batch-norm layer is the affine map BN(a) = s·a + t per
feature (per channel on feature maps), s = γ/√(σ² + ε), t = β − μ·s, so it merges into a neighbour:
- BN right after a dense/conv layer (the note's `before_activation`; dropout between is the identity at
  inference): into that layer, W' = diag(s)·W (per output unit / filter), b' = s·b + t;
- BN after an activation (the note's `after_activation`, and its input BN right after `flatten`): into the
  NEXT dense/conv, whose input is s·a + t: W' = W·diag(s) (per input feature; per input channel for a conv,
  repeated over H·W through a flatten), b' = b + W·t. On the way it may pass dropout, flatten, average
  pooling (affine maps commute with means) and max pooling when every s ≥ 0. A next conv that pads its
  input ('same' with a kernel > 1) cannot take it exactly (the zeros it pads are not BN(0) = t): that BN is
  kept, and `FoldReport.kept` says why.
Folds are computed in float64. Every dense/conv layer of the folded network has a bias, and the folded
network's module names are those the builder gives the folded layer list (`folded_layers`), so an export
folder's config.yaml rebuilds it with `dnnconf.run.load_run`.

Pruning (`prune`): `threshold=T` zeroes exactly the kernel weights with |w| < T; `sparsity=S` zeroes the
round(S·n) smallest-magnitude weights of each kernel (ties broken by position); biases are untouched.

Precision (`to_dtype`): float16 / bfloat16 cast the weights and the computation (inputs are cast on the
way in, logits back to float32 on the way out); int8 is PyTorch's dynamic quantization
(`torch.ao.quantization.quantize_dynamic`) of the dense layers: int8 weights, activations quantized per
batch at run time (conv layers stay float32). safetensors cannot hold its packed weights, so an int8
export stores the float32 weights with `"quantization": "dynamic_int8"` in export.json and
`load_model` quantizes them again when it loads (deterministic: the same weights give the same model).

An export folder (default RUN/export/): config.yaml (the resolved explicit layer list after folding),
model.safetensors (in the chosen float dtype; float32 for int8), normalization.json (copied from the run),
export.json (steps, dtype, quantization, fold and sparsity details, source run, measurements),
export_report.md, and the ONNX model on request (opset 17, dynamic batch axis, float32 graph of the
folded/pruned model; TorchScript-based exporter, which needs only the `onnx` package).
"""

from __future__ import annotations

import copy
import io
import json
import math
import os
import shutil
import statistics
import time
import warnings
import zlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from dnnconf.errors import BadInput, RunFolderError
from dnnconf.nn.build import LayerInfo, Network
from dnnconf.nn.layers import AvgPool2d, BatchNorm, GlobalAvgPool2d, GlobalMaxPool2d, MaxPool2d, MCDropout

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16, "int8": torch.float32}
QUANTIZATION = "dynamic_int8"
ONNX_OPSET = 17
EXPORT_FILES = ("config.yaml", "model.safetensors", "normalization.json", "export.json", "export_report.md")

KERNELS = (torch.nn.Linear, torch.nn.Conv2d)


# --- folding ---


@dataclass
class FoldReport:
    """What `fold_batch_norm` did: `folded[k]` says whether the k-th batch-norm module (in order) was
    folded; `into` names the layer each went into (or None), `kept` the reasons for those kept."""

    folded: list[bool] = field(default_factory=list)
    into: list[str | None] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"batch_norm_layers": len(self.folded), "folded": sum(self.folded),
                "into": [name for name in self.into if name], "kept": self.kept}


def _eval_identity(module: torch.nn.Module) -> bool:
    """Layers that are the identity at inference (MC dropout is not: it samples a mask every time)."""
    return isinstance(module, torch.nn.Dropout | torch.nn.AlphaDropout) and not isinstance(module, MCDropout)


def _scale_shift(bn: BatchNorm) -> tuple[torch.Tensor, torch.Tensor]:
    """(s, t) of BN(a) = s·a + t in float64."""
    mean, var = bn.running_mean.double(), bn.running_var.double()
    gamma = bn.weight.detach().double() if bn.weight is not None else torch.ones_like(mean)
    beta = bn.bias.detach().double() if bn.bias is not None else torch.zeros_like(mean)
    s = gamma / torch.sqrt(var + bn.epsilon)
    return s, beta - mean * s


def _set_kernel(kernel: torch.nn.Module, weight: torch.Tensor, bias: torch.Tensor) -> None:
    dtype = kernel.weight.dtype
    with torch.no_grad():
        kernel.weight.copy_(weight.to(dtype))
        if kernel.bias is None:
            kernel.bias = torch.nn.Parameter(bias.to(dtype), requires_grad=kernel.weight.requires_grad)
        else:
            kernel.bias.copy_(bias.to(dtype))


def _bias64(kernel: torch.nn.Module) -> torch.Tensor:
    if kernel.bias is None:
        return torch.zeros(kernel.weight.shape[0], dtype=torch.float64)
    return kernel.bias.detach().double()


def _fold_backward(kernel: torch.nn.Module, s: torch.Tensor, t: torch.Tensor) -> None:
    """BN(kernel(x)) = kernel'(x): scale each output unit/filter by s, bias s·b + t."""
    weight = kernel.weight.detach().double()
    shape = [-1] + [1] * (weight.dim() - 1)
    _set_kernel(kernel, weight * s.view(shape), _bias64(kernel) * s + t)


def _fold_forward(kernel: torch.nn.Module, s: torch.Tensor, t: torch.Tensor) -> None:
    """kernel(s·a + t) = kernel'(a): scale each input feature/channel by s, bias b + W·t."""
    weight = kernel.weight.detach().double()
    if isinstance(kernel, torch.nn.Linear):
        repeat = weight.shape[1] // s.numel()  # through a flatten of (C, H, W) maps: each channel H·W times
        s, t = s.repeat_interleave(repeat), t.repeat_interleave(repeat)
        _set_kernel(kernel, weight * s.view(1, -1), _bias64(kernel) + weight @ t)
    else:
        _set_kernel(kernel, weight * s.view(1, -1, 1, 1), _bias64(kernel) + weight.sum(dim=(2, 3)) @ t)


def _pads(conv: torch.nn.Conv2d) -> bool:
    padding = conv.padding if isinstance(conv.padding, tuple) else (conv.padding,)
    explicit = getattr(conv, "pad", None)
    return conv.padding == "same" or any(p != 0 for p in padding) or bool(explicit and any(explicit))


def _forward_target(modules: list[tuple[str, torch.nn.Module]], start: int, s: torch.Tensor) -> tuple[int, str]:
    """The index of the dense/conv module that can absorb the BN at `start` from its input, or -1 and why."""
    for index in range(start + 1, len(modules)):
        name, module = modules[index]
        if _eval_identity(module) or isinstance(module, torch.nn.Flatten | AvgPool2d | GlobalAvgPool2d):
            continue
        if isinstance(module, MaxPool2d | GlobalMaxPool2d):
            if bool((s >= 0).all()):
                continue
            return -1, f"{name} (max pooling) follows and some BN scales are negative"
        if isinstance(module, torch.nn.Conv2d) and _pads(module):
            return -1, f"the next layer {name} pads its input, which BN(0) ≠ 0 would change"
        if isinstance(module, KERNELS):
            return index, ""
        return -1, f"{name} ({type(module).__name__}) comes before the next dense/conv layer"
    return -1, "no dense/conv layer follows"


def _backward_target(modules: list[tuple[str, torch.nn.Module]], start: int) -> int:
    """The index of the dense/conv module whose output the BN at `start` normalizes directly, or -1."""
    for index in range(start - 1, -1, -1):
        module = modules[index][1]
        if _eval_identity(module):
            continue
        return index if isinstance(module, KERNELS) else -1
    return -1


def _kind(name: str) -> str:
    return name.rsplit("_", 1)[0]


def fold(network: Network) -> tuple[Network, FoldReport]:
    """`fold_batch_norm` with its report."""
    copied = copy.deepcopy(network)
    modules = list(copied.layers.named_children())
    infos = {info.name: info for info in copied.summary}
    report = FoldReport()
    index = 0
    while index < len(modules):
        name, module = modules[index]
        if not isinstance(module, BatchNorm):
            index += 1
            continue
        s, t = _scale_shift(module)
        target = _backward_target(modules, index)
        if target >= 0:
            _fold_backward(modules[target][1], s, t)
        else:
            target, why = _forward_target(modules, index, s)
            if target >= 0:
                _fold_forward(modules[target][1], s, t)
            else:
                report.folded.append(False)
                report.into.append(None)
                report.kept.append(f"{name}: {why}")
                index += 1
                continue
        report.folded.append(True)
        report.into.append(f"{name} -> {modules[target][0]}")
        del modules[index]
    for _, module in modules:  # every dense/conv has a bias (config: use_bias true)
        if isinstance(module, KERNELS) and module.bias is None:
            _set_kernel(module, module.weight.detach().double(),
                        torch.zeros(module.weight.shape[0], dtype=torch.float64))
    renamed: OrderedDict[str, torch.nn.Module] = OrderedDict()
    summary: list[LayerInfo] = []
    counts: dict[str, int] = {}
    for name, module in modules:  # the builder's names: kind_1, kind_2, … counted per kind
        kind = _kind(name)
        counts[kind] = counts.get(kind, 0) + 1
        new = f"{kind}_{counts[kind]}"
        renamed[new] = module
        info = infos.get(name)
        if info is not None:
            summary.append(LayerInfo(new, info.kind, info.shape, sum(p.numel() for p in module.parameters())))
    folded = Network(renamed, copied.head, copied.input_shape, copied.penalties, copied.constraints, summary)
    return folded.train(network.training), report


def fold_batch_norm(network: Network) -> Network:
    """A new network with every batch-norm layer folded into the adjacent dense/conv layer (the original is
    untouched); equal to the original in inference mode. See the module docstring for the rules."""
    return fold(network)[0]


def folded_layers(layers: list[dict[str, Any]], report: FoldReport) -> list[dict[str, Any]]:
    """The explicit layer list (output last) of the network `fold` made from the network of `layers`:
    the folded batch_norm entries removed, every dense/conv2d with use_bias true. A dense/conv whose
    activation is followed by a kept batch_norm gets its activation as a layer of its own, so the builder
    keeps its bias (it drops the bias of a dense/conv directly followed by batch_norm)."""
    kept: list[dict[str, Any]] = []
    norms = iter(report.folded)
    for entry in layers:
        (kind, params), = entry.items()
        if kind == "batch_norm" and next(norms, False):
            continue
        kept.append(copy.deepcopy(entry))
    out: list[dict[str, Any]] = []
    for index, entry in enumerate(kept):
        (kind, params), = entry.items()
        if kind in ("dense", "conv2d"):
            params["use_bias"] = True
            activation = params.get("activation")
            following = next(iter(kept[index + 1])) if index + 1 < len(kept) else None
            if following == "batch_norm" and activation is not None and activation.get("name") != "linear":
                params["activation"] = None
                out += [{kind: params}, {"activation": activation}]
                continue
        out.append({kind: params})
    return out


# --- pruning ---


def prune(network: torch.nn.Module, threshold: float | None = None, sparsity: float | None = None) -> torch.nn.Module:
    """A copy with small kernel weights set to zero: |w| < threshold, or the `sparsity` share of each
    kernel's smallest-magnitude weights (biases untouched). Exactly one of the two."""
    if (threshold is None) == (sparsity is None):
        raise BadInput("prune: give either a threshold or a sparsity")
    check_prune(threshold, sparsity)
    copied = copy.deepcopy(network)
    with torch.no_grad():
        for module in copied.modules():
            if not isinstance(module, KERNELS):
                continue
            weight = module.weight
            if threshold is not None:
                weight.masked_fill_(weight.abs() < threshold, 0.0)
                continue
            count = round(sparsity * weight.numel())
            if count:
                order = torch.argsort(weight.detach().abs().flatten(), stable=True)
                weight.view(-1)[order[:count]] = 0.0
    return copied


def check_prune(threshold: float | None, sparsity: float | None) -> None:
    if threshold is not None and sparsity is not None:
        raise BadInput("--prune and --sparsity: give one of them, not both")
    if threshold is not None and (not math.isfinite(threshold) or threshold <= 0):
        raise BadInput(f"--prune {threshold}: the threshold must be a positive number (weights with |w| below "
                       f"it become 0), e.g. 0.01")
    if sparsity is not None and not (0 <= sparsity < 1):
        raise BadInput(f"--sparsity {sparsity}: must be in [0, 1), the share of each kernel's weights set to 0, "
                       f"e.g. 0.5")


def kernel_sparsity(network: torch.nn.Module) -> dict[str, float]:
    """The share of zero weights of each dense/conv kernel, by module name, and `total` over all of them."""
    out: dict[str, float] = {}
    zeros = total = 0
    for name, module in network.named_modules():
        if isinstance(module, KERNELS):
            n, z = module.weight.numel(), int((module.weight == 0).sum())
            out[name.removeprefix("layers.")] = z / n
            zeros, total = zeros + z, total + n
    out["total"] = zeros / total if total else 0.0
    return out


# --- precision ---


class ExportedModel(torch.nn.Module):
    """A network at a precision: takes float32 inputs, returns float32 logits; `predict` applies the head.

    `network` is the converted network (float16/bfloat16 weights, or dynamically quantized dense layers).
    It offers what the tools use of a `Network`: `head`, `input_shape`, `predict`, empty `penalties`.
    """

    def __init__(self, network: torch.nn.Module, dtype: str = "float32", quantization: str | None = None):
        super().__init__()
        self.network = network
        self.dtype_name = dtype
        self.quantization = quantization
        self.compute_dtype = DTYPES[dtype]
        self.head = getattr(network, "head", "linear")
        self.input_shape = getattr(network, "input_shape", None)
        self.penalties: list[Any] = []
        self.constraints: list[Any] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.is_floating_point() and x.dtype != self.compute_dtype:
            x = x.to(self.compute_dtype)
        return self.network(x).float()

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.forward(x)
        if self.head == "softmax":
            return torch.softmax(logits, dim=-1)
        if self.head == "sigmoid":
            return torch.sigmoid(logits)
        return logits

    def extra_repr(self) -> str:
        return f"dtype={self.dtype_name}, quantization={self.quantization}"


def quantize_int8(network: torch.nn.Module) -> torch.nn.Module:
    """PyTorch's dynamic int8 quantization of the dense layers (a copy; conv layers stay float32)."""
    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():  # torch.ao.quantization announces its move to torchao
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        return quantize_dynamic(copy.deepcopy(network).eval(), {torch.nn.Linear}, dtype=torch.qint8)


def to_dtype(network: torch.nn.Module, dtype: str) -> ExportedModel:
    """The network at `dtype` (float32, float16, bfloat16, int8), as a new `ExportedModel` in eval mode."""
    if dtype not in DTYPES:
        raise BadInput(f"--dtype {dtype}: accepted: {', '.join(DTYPES)}")
    if dtype == "int8":
        return ExportedModel(quantize_int8(network), "int8", QUANTIZATION).eval()
    converted = copy.deepcopy(network).to(DTYPES[dtype]).eval()
    return ExportedModel(converted, dtype).eval()


# --- measurements ---


def parameter_counts(network: torch.nn.Module) -> tuple[int, int]:
    """(parameters, non-zero parameters) of a float network."""
    params = list(network.parameters())
    return sum(p.numel() for p in params), sum(int(torch.count_nonzero(p)) for p in params)


def serialized(model: torch.nn.Module) -> bytes:
    """The model's weights as stored: safetensors for float models; torch.save for quantized ones (their
    packed int8 weights, as held in memory)."""
    state = model.state_dict()
    if all(isinstance(v, torch.Tensor) and not v.is_quantized for v in state.values()):
        from safetensors.torch import save

        return save({k: v.detach().cpu().contiguous() for k, v in state.items()})
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def sizes(model: torch.nn.Module) -> tuple[int, int]:
    """(bytes of the stored weights, bytes zlib-compressed: what zeroed weights save in a zipped download)."""
    data = serialized(model)
    return len(data), len(zlib.compress(data, 6))


def time_per_example(call: Callable[[], Any], batch: int, repeats: int = 15, target_s: float = 0.002,
                     warmup: int = 3) -> float:
    """Seconds per example: the median of `repeats` timings, each of enough calls to last ~target_s,
    after `warmup` calls."""
    for _ in range(warmup):
        call()
    started = time.perf_counter()
    call()
    once = max(time.perf_counter() - started, 1e-7)
    inner = max(1, min(1000, int(target_s / once)))
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(inner):
            call()
        times.append((time.perf_counter() - started) / inner)
    return statistics.median(times) / batch


def _batch_of(x: torch.Tensor, size: int) -> torch.Tensor:
    if len(x) >= size:
        return x[:size].contiguous()
    return x.repeat((math.ceil(size / len(x)),) + (1,) * (x.dim() - 1))[:size].contiguous()


def torch_latency(model: torch.nn.Module, x: torch.Tensor, batches: tuple[int, ...] = (1, 256),
                  repeats: int = 15, target_s: float = 0.002) -> dict[int, float]:
    """Seconds per example of `model` at each batch size (inference mode, eval)."""
    model.eval()
    out = {}
    with torch.inference_mode():
        for batch in batches:
            xb = _batch_of(x, batch)
            out[batch] = time_per_example(lambda xb=xb: model(xb), batch, repeats, target_s)
    return out


def machine_threads() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def logits(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
    model.eval()
    with torch.inference_mode():
        return torch.cat([model(x[i:i + batch_size]).float() for i in range(0, len(x), batch_size)])


# --- ONNX ---


def export_onnx(model: torch.nn.Module, example: torch.Tensor, path: Path) -> Path:
    """Write `model` (float32) as ONNX (opset 17, dynamic batch axis `batch`): input `input`, output
    `logits`. Needs the `onnx` package (pip install onnx)."""
    require_onnx()
    model = model.eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter is deprecated in favour of dynamo
        torch.onnx.export(model, (example[:1].float(),), str(path), opset_version=ONNX_OPSET, dynamo=False,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    return path


def require_onnx() -> None:
    try:
        import onnx  # noqa: F401 - the exporter needs it
    except ImportError:
        raise BadInput("--onnx: the onnx package is not installed (pip install onnx onnxruntime, or "
                       "pip install 'dnnconf[export]')") from None


def onnx_session(path: Path, threads: int | None = None) -> Any:
    """An onnxruntime CPU session for `path` (None when onnxruntime is not installed)."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def onnx_logits(session: Any, x: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
    import numpy as np

    outputs = [session.run(None, {"input": x[i:i + batch_size].float().numpy()})[0]
               for i in range(0, len(x), batch_size)]
    return torch.from_numpy(np.concatenate(outputs))


# --- export folders ---


@dataclass
class Stage:
    """One row of the report: a model after the steps so far, measured on the run's test split."""

    name: str
    metric: float
    loss: float
    max_abs_diff: float
    parameters: int
    nonzero: int
    bytes: int
    compressed_bytes: int
    latency: dict[int, float]  # batch size → seconds per example

    def as_dict(self) -> dict[str, Any]:
        return {"stage": self.name, "metric": self.metric, "loss": self.loss, "max_abs_logit_diff": self.max_abs_diff,
                "parameters": self.parameters, "nonzero": self.nonzero, "bytes": self.bytes,
                "compressed_bytes": self.compressed_bytes,
                "us_per_example": {str(b): s * 1e6 for b, s in self.latency.items()}}


@dataclass
class ExportResult:
    folder: Path  # the export folder
    source: Path  # the run
    config: Any  # the export's Config (explicit layers after folding)
    model: ExportedModel  # the exported model, as `load_model(folder)` gives it
    network: Network  # its float32 network (folded, pruned)
    steps: list[str]
    dtype: str
    quantization: str | None
    metric_name: str
    stages: list[Stage]
    fold: dict[str, Any] | None
    sparsity: dict[str, float] | None
    onnx: Path | None
    threads: int
    files: list[Path]

    def as_dict(self) -> dict[str, Any]:
        return {"source": str(self.source), "steps": self.steps, "dtype": self.dtype,
                "quantization": self.quantization, "metric": self.metric_name, "fold_bn": self.fold,
                "sparsity": self.sparsity, "onnx": str(self.onnx) if self.onnx else None,
                "onnx_opset": ONNX_OPSET if self.onnx else None, "threads": self.threads,
                "stages": [stage.as_dict() for stage in self.stages]}


def is_export_folder(folder: Path) -> bool:
    return (folder / "export.json").is_file()


def read_export_info(folder: Path) -> dict[str, Any]:
    path = folder / "export.json"
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        raise RunFolderError(f"{path}: unreadable export.json") from None
    if not isinstance(info, dict) or info.get("dtype", "float32") not in DTYPES:
        raise RunFolderError(f"{path}: dtype must be one of {', '.join(DTYPES)}")
    if info.get("quantization") not in (None, QUANTIZATION):
        raise RunFolderError(f"{path}: unknown quantization {info.get('quantization')!r}; known: {QUANTIZATION}")
    return info


def load_model(folder: Path | str, device: str = "cpu") -> tuple[Any, torch.nn.Module]:
    """(config, model in eval mode) of a run folder or of an export folder.

    A run folder gives its `Network` (as `dnnconf.run.load_run`). An export folder gives an
    `ExportedModel` at the export's precision: float16/bfloat16 weights as stored, or the float32 weights
    dynamically quantized to int8 again (CPU only). Both take float32 inputs and return float32 logits,
    and have `predict`, `head` and `input_shape`.
    """
    from dnnconf.run import load_run

    folder = Path(folder)
    if not is_export_folder(folder):
        config, network = load_run(folder, device)
        return config, network.eval()
    info = read_export_info(folder)
    quantization = info.get("quantization")
    if quantization and device not in ("cpu", "auto"):
        raise BadInput(f"{folder}: an int8 export runs on the CPU only (dynamic quantization); use device cpu")
    config, network = load_run(folder, "cpu" if quantization else device)
    network.eval()
    if quantization:
        return config, ExportedModel(quantize_int8(network), "int8", quantization).eval()
    dtype = info.get("dtype", "float32")
    return config, ExportedModel(network.to(DTYPES[dtype]), dtype).eval()


def export_config(config: Any, layers: list[dict[str, Any]]) -> Any:
    """The run's config with the model in explicit form: `layers` (output last) minus the output layer."""
    from dnnconf.config import config_from_dict

    raw = config.model_dump(mode="json")
    model = raw["model"]
    raw["model"] = {"input_shape": model["input_shape"], "output": model["output"], "layers": layers[:-1]}
    return config_from_dict(raw, "export config")


def check_options(threshold: float | None = None, sparsity: float | None = None, dtype: str = "float32") -> None:
    check_prune(threshold, sparsity)
    if dtype not in DTYPES:
        raise BadInput(f"--dtype {dtype}: accepted: {', '.join(DTYPES)}")


def export_run(folder: Path | str, *, fold_bn: bool = False, threshold: float | None = None,
               sparsity: float | None = None, dtype: str = "float32", onnx: Path | str | None = None,
               out: Path | str | None = None, measure_latency: bool = True, repeats: int = 15,
               batches: tuple[int, ...] = (1, 256), threads: int | None = None,
               log: Callable[[str], Any] | None = None) -> ExportResult:
    """Export the run in `folder`: fold, prune, convert, write the export folder (default folder/export),
    measure every stage on the run's test split, append an "Export" section to the run's report.md.

    `onnx`: a relative path is placed in the export folder. `threads`: torch's (and onnxruntime's)
    threads while measuring (default: the cores of this machine).
    """
    from safetensors.torch import save_file

    from dnnconf.config import dump_config
    from dnnconf.data import load_data
    from dnnconf.nn.build import model_layers
    from dnnconf.run import load_run
    from dnnconf.train import setup
    from dnnconf.train.checkpoint import write_atomic
    from dnnconf.train.losses import loss_function, metric_name, metric_sum

    check_options(threshold, sparsity, dtype)
    if onnx is not None:
        require_onnx()
    source = Path(folder)
    if is_export_folder(source):
        raise RunFolderError(f"{source}: is an export folder; export the run it came from "
                             f"({read_export_info(source).get('source', 'see export.json')})")
    config, original = load_run(source)
    original.eval()
    target = Path(out) if out is not None else source / "export"
    if target.resolve() == source.resolve():
        raise RunFolderError(f"--out {target}: is the run folder itself; choose another folder")
    if target.exists() and not target.is_dir():
        raise RunFolderError(f"--out {target}: exists and is not a folder")
    onnx_path = None if onnx is None else (Path(onnx) if Path(onnx).is_absolute() else target / onnx)
    threads = threads or machine_threads()
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    say = log or (lambda message: None)
    try:
        dataset = load_data(config.data)
        splits = setup.to_splits(dataset, torch.device("cpu"))
        test = splits.test if len(splits.test) else splits.valid or splits.train
        x, y = test.x, test.y
        loss_fn, summed, metric = loss_function(config.loss), metric_sum(config.loss), metric_name(config.loss)
        reference = logits(original, x)

        def stage(name: str, model: torch.nn.Module, float_network: torch.nn.Module,
                  output: torch.Tensor | None = None, latency: dict[int, float] | None = None) -> Stage:
            output = logits(model, x) if output is None else output
            params, nonzero = parameter_counts(float_network)
            if latency is None:
                latency = torch_latency(model, x, batches, repeats) if measure_latency else {}
            row = Stage(name, float(summed(output, y)) / len(y), float(loss_fn(output, y)),
                        float((output - reference).abs().max()), params, nonzero, *sizes(model), latency)
            say(f"  {name}: {metric} {row.metric:.4f}, max |Δlogit| {row.max_abs_diff:.3g}")
            return row

        steps: list[str] = []
        stages = [stage("original", original, original)]
        network: Network = original
        fold_info = None
        layers = model_layers(config.model, config.model.output.units, config.model.output.activation)
        if fold_bn:
            network, report = fold(original)
            layers = folded_layers(layers, report)
            fold_info = report.as_dict()
            steps.append("fold_bn")
            stages.append(stage("folded", network, network))
        sparsity_info = None
        if threshold is not None or sparsity is not None:
            network = prune(network, threshold, sparsity)
            sparsity_info = kernel_sparsity(network)
            steps.append(f"prune(threshold={threshold})" if threshold is not None else f"prune(sparsity={sparsity})")
            stages.append(stage("pruned", network, network))
        export_cfg = export_config(config, layers)
        # the export must rebuild from its own config: same modules, same names
        rebuilt = setup.make_network(export_cfg)
        try:
            rebuilt.load_state_dict(network.state_dict())
        except RuntimeError as error:  # a bug, not bad input: say what differs
            raise RuntimeError(f"the folded network does not match its config: {error}") from None
        rebuilt.eval()
        model = to_dtype(rebuilt, dtype)
        if dtype != "float32":
            steps.append(f"dtype({dtype})" if dtype != "int8" else "quantize(dynamic_int8)")
            stages.append(stage(dtype, model, rebuilt))
        target.mkdir(parents=True, exist_ok=True)
        stored = model.network if dtype in ("float16", "bfloat16") else rebuilt
        files = [target / "config.yaml", target / "model.safetensors"]
        write_atomic(target / "config.yaml", dump_config(export_cfg))
        save_file({k: v.detach().cpu().contiguous() for k, v in stored.state_dict().items()},
                  str(target / "model.safetensors"))
        if (source / "normalization.json").is_file():
            shutil.copyfile(source / "normalization.json", target / "normalization.json")
            files.append(target / "normalization.json")
        if onnx_path is not None:
            export_onnx(rebuilt, x, onnx_path)
            files.append(onnx_path)
            steps.append("onnx")
            session = onnx_session(onnx_path, threads)
            if session is not None:
                output = onnx_logits(session, x)
                latency = {}
                if measure_latency:
                    for batch in batches:
                        feed = {"input": _batch_of(x, batch).float().numpy()}
                        latency[batch] = time_per_example(lambda feed=feed: session.run(None, feed), batch, repeats)
                row = stage("onnxruntime", rebuilt, rebuilt, output, latency)
                row.bytes = onnx_path.stat().st_size
                row.compressed_bytes = len(zlib.compress(onnx_path.read_bytes(), 6))
                stages.append(row)
        result = ExportResult(target, source, export_cfg, model, rebuilt, steps, dtype,
                              QUANTIZATION if dtype == "int8" else None, metric, stages, fold_info, sparsity_info,
                              onnx_path, threads, files)
        info = result.as_dict()
        info["files"] = {path.name: path.stat().st_size for path in files}
        if dtype == "int8":
            info["note"] = ("model.safetensors holds the float32 weights; load_model quantizes them to int8 "
                            "again (torch.ao.quantization.quantize_dynamic), as safetensors cannot hold them packed")
        write_atomic(target / "export.json", json.dumps(info, indent=1))
        markdown = report_markdown(result)
        write_atomic(target / "export_report.md", markdown)
        result.files += [target / "export.json", target / "export_report.md"]
        append_report(source / "report.md", markdown, target, source)
        return result
    finally:
        torch.set_num_threads(previous_threads)


# --- reports ---


def _size(n: int) -> str:
    return f"{n / 1024:,.1f} KiB" if n < 1024 ** 2 else f"{n / 1024 ** 2:,.2f} MiB"


def table_rows(result: ExportResult) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the stage table (strings), shared by the terminal and the markdown."""
    first = result.stages[0]
    batches = list(first.latency)
    header = ["stage", result.metric_name, "Δ", "max Δlogit", "params", "non-zero", "size", "zipped",
              *[f"µs/ex @{b}" for b in batches], *[f"speed-up @{b}" for b in batches]]
    rows = []
    for stage in result.stages:
        latency = [f"{stage.latency[b] * 1e6:,.2f}" if b in stage.latency else "–" for b in batches]
        ratio = [f"{first.latency[b] / stage.latency[b]:.2f}×" if stage.latency.get(b) else "–" for b in batches]
        rows.append([stage.name, f"{stage.metric:.4f}", f"{stage.metric - first.metric:+.4f}",
                     f"{stage.max_abs_diff:.2e}", f"{stage.parameters:,}", f"{stage.nonzero:,}",
                     _size(stage.bytes), _size(stage.compressed_bytes), *latency, *ratio])
    return header, rows


def report_markdown(result: ExportResult) -> str:
    header, rows = table_rows(result)
    lines = [f"## Export → `{result.folder}`", "",
             f"- steps: {', '.join(result.steps) or 'none'}; dtype {result.dtype}"
             + (f", quantization {result.quantization} (re-applied at load)" if result.quantization else ""),
             f"- measured on the test split ({result.metric_name}); latency: median of repeated timings after "
             f"warm-up, torch.inference_mode, {result.threads} thread(s)"]
    if result.fold is not None:
        lines.append(f"- batch norm: {result.fold['folded']} of {result.fold['batch_norm_layers']} layers folded"
                     + (f"; kept: {'; '.join(result.fold['kept'])}" if result.fold["kept"] else ""))
    if result.sparsity is not None:
        per_layer = ", ".join(f"{k} {v:.1%}" for k, v in result.sparsity.items() if k != "total")
        lines.append(f"- sparsity achieved: {result.sparsity['total']:.1%} of kernel weights ({per_layer})")
    if result.onnx is not None:
        lines.append(f"- ONNX: `{result.onnx}` (opset {ONNX_OPSET}, float32 graph, dynamic batch axis)")
    lines += ["- max Δlogit: the largest absolute difference of an output (logit) from the original model's; "
              "size: the weights as stored (int8: packed, in memory); zipped: the same bytes zlib-compressed; "
              "speed-up: the original's latency over the stage's",
              "", "| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def append_report(report: Path, markdown: str, target: Path, source: Path) -> None:
    """Put the export section into the run's report.md, replacing an earlier one for the same folder."""
    from dnnconf.train.checkpoint import write_atomic

    try:
        shown = target.resolve().relative_to(source.resolve())
    except ValueError:
        shown = target
    section = markdown.replace(f"## Export → `{target}`", f"## Export → `{shown}`", 1)
    text = report.read_text() if report.is_file() else ""
    marker = f"## Export → `{shown}`"
    start = text.find(marker)
    if start >= 0:
        end = text.find("\n## ", start + len(marker))
        text = text[:start] + text[end + 1:] if end >= 0 else text[:start]
    write_atomic(report, text.rstrip("\n") + "\n\n" + section)


def print_table(result: ExportResult, console: Any = None) -> None:
    from rich.console import Console
    from rich.table import Table

    if console is None:
        console = Console()
        if not console.is_terminal:  # a log or a pipe: the whole table on one line a row
            console = Console(width=160)
    header, rows = table_rows(result)
    table = Table(title=f"dnnconf export {result.source} → {result.folder}")
    for index, name in enumerate(header):
        table.add_column(name, justify="left" if index == 0 else "right")
    for row in rows:
        table.add_row(*row)
    console.print(table)
