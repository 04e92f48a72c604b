"""A low-latency model from a trained run (the note's summary): batch norm folded into the adjacent layers,
tiny weights zeroed (a sparse model), lower float precision (16 bits) or int8, and an ONNX graph.

Each step has its module: folding in `dnnconf.exporting.fold`, pruning in `export_prune`, precision in
`export_precision`, the ONNX graph in `export_onnx`, the measurements in `export_measure`, the stage table
and reports in `export_report`. This module runs them (`export_run`), writes and reads export folders
(`load_model`), and re-exports their public names.

Every exported model keeps the run's input normalization (the network's first layer, in
model.safetensors with the weights), so it takes raw inputs, the ONNX graph included.

An export folder (default RUN/export/): config.yaml (the resolved explicit layer list after folding),
model.safetensors (in the chosen float dtype; float32 for int8; the input layer's statistics included),
normalization.json (copied from the run, for people and older tools),
export.json (steps, dtype, quantization, fold and sparsity details, source run, measurements),
export_report.md, and the ONNX model on request (opset 17, dynamic batch axis, float32 graph of the
folded/pruned model; TorchScript-based exporter, which needs only the `onnx` package).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from dnnconf.config import config_from_dict, dump_config
from dnnconf.config.layers import model_layers
from dnnconf.data import load_data
from dnnconf.errors import BadInput, RunFolderError
from dnnconf.exporting.fold import KERNELS, FoldReport, fold, fold_batch_norm, folded_layers
from dnnconf.exporting.measure import (
    batch_of,
    logits,
    machine_threads,
    parameter_counts,
    serialized,
    sizes,
    time_per_example,
    torch_latency,
)
from dnnconf.exporting.onnx_file import ONNX_OPSET, export_onnx, onnx_logits, onnx_session, require_onnx
from dnnconf.exporting.precision import DTYPES, QUANTIZATION, ExportedModel, quantize_int8, to_dtype
from dnnconf.exporting.prune import check_prune, kernel_sparsity, prune
from dnnconf.exporting.report import ExportResult, Stage, append_report, print_table, report_markdown, table_rows
from dnnconf.nn.build import Network
from dnnconf.safe_write import write_atomic, write_tensors
from dnnconf.train import setup
from dnnconf.train.losses import loss_function, metric_name, metric_sum
from dnnconf.train.run_folder import lock as run_lock
from dnnconf.train.run_folder.loading import load_run
from dnnconf.train.threads import choose as choose_threads

__all__ = [
    "DTYPES", "EXPORT_FILES", "KERNELS", "ONNX_OPSET", "QUANTIZATION", "ExportResult", "ExportedModel", "FoldReport",
    "Stage", "append_report", "check_options", "check_prune", "export_config", "export_onnx", "export_run", "fold",
    "fold_batch_norm", "folded_layers", "is_export_folder", "kernel_sparsity", "load_model", "logits",
    "machine_threads", "onnx_logits", "onnx_session", "parameter_counts", "print_table", "prune", "quantize_int8",
    "read_export_info", "report_markdown", "require_onnx", "serialized", "sizes", "table_rows", "time_per_example",
    "to_dtype", "torch_latency",
]

EXPORT_FILES = ("config.yaml", "model.safetensors", "normalization.json", "export.json", "export_report.md")


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

    A run folder gives its `Network` (as `dnnconf.train.run_folder.loading.load_run`). An export folder gives an
    `ExportedModel` at the export's precision: float16/bfloat16 weights as stored, or the float32 weights
    dynamically quantized to int8 again (CPU only). Both take float32 inputs and return float32 logits,
    and have `predict`, `head` and `input_shape`.
    """
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
    check_options(threshold, sparsity, dtype)
    if onnx is not None:
        require_onnx()
    source = Path(folder)
    if is_export_folder(source):
        raise RunFolderError(f"{source}: is an export folder; export the run it came from "
                             f"({read_export_info(source).get('source', 'see export.json')})")
    config, original = load_run(source)
    original.eval()
    target = _export_target(source, out)
    onnx_path = None if onnx is None else (Path(onnx) if Path(onnx).is_absolute() else target / onnx)
    threads = threads or choose_threads()[0]  # the cores free now (train/threads.py), as training does
    previous_threads = torch.get_num_threads()
    locks: list[Any] = []  # run_lock holds, released in the finally
    torch.set_num_threads(threads)
    try:
        stage = _Stages(config, original, batches, repeats, measure_latency, log or (lambda message: None))
        steps: list[str] = []
        network, layers, fold_info, sparsity_info = _fold_and_prune(config, original, fold_bn, threshold, sparsity,
                                                                    stage, steps)
        export_cfg = export_config(config, layers)
        rebuilt = _rebuilt(export_cfg, network)
        model = to_dtype(rebuilt, dtype)
        if dtype != "float32":
            steps.append(f"dtype({dtype})" if dtype != "int8" else "quantize(dynamic_int8)")
            stage(dtype, model, rebuilt)
        target.mkdir(parents=True, exist_ok=True)
        # one writer at a time: the run folder (its report.md is appended to) and the export folder
        locks.append(run_lock.acquire(source))
        if not target.resolve().is_relative_to(source.resolve()):
            locks.append(run_lock.acquire(target))
        files = _write_model(source, target, export_cfg, model.network if dtype in ("float16", "bfloat16") else rebuilt)
        if onnx_path is not None:
            _onnx_stage(rebuilt, onnx_path, threads, stage)
            files.append(onnx_path)
            steps.append("onnx")
        result = ExportResult(target, source, export_cfg, model, rebuilt, steps, dtype,
                              QUANTIZATION if dtype == "int8" else None, stage.metric, stage.rows, fold_info,
                              sparsity_info, onnx_path, threads, files)
        _write_reports(result, files)
        return result
    finally:
        for lock in locks:
            lock.release()
        torch.set_num_threads(previous_threads)


def _export_target(source: Path, out: Path | str | None) -> Path:
    """The export folder: `out`, default source/export; never the run folder itself, never a file."""
    target = Path(out) if out is not None else source / "export"
    if target.resolve() == source.resolve():
        raise RunFolderError(f"--out {target}: is the run folder itself; choose another folder")
    if target.exists() and not target.is_dir():
        raise RunFolderError(f"--out {target}: exists and is not a folder")
    return target


class _Stages:
    """Measures each stage of the export on the run's test split (or its validation or training split when
    the test split is empty) against the original network's logits, and keeps the rows in order."""

    def __init__(self, config: Any, original: torch.nn.Module, batches: tuple[int, ...], repeats: int,
                 measure_latency: bool, say: Callable[[str], Any]) -> None:
        splits = setup.to_splits(load_data(config.data), torch.device("cpu"))
        test = splits.test if len(splits.test) else splits.valid or splits.train
        self.x, self.y = test.x, test.y
        self.loss_fn, self.summed = loss_function(config.loss), metric_sum(config.loss)
        self.metric = metric_name(config.loss)
        self.batches, self.repeats, self.measure_latency, self.say = batches, repeats, measure_latency, say
        self.reference = logits(original, self.x)
        self.rows: list[Stage] = []
        self("original", original, original)

    def __call__(self, name: str, model: torch.nn.Module, float_network: torch.nn.Module,
                 output: torch.Tensor | None = None, latency: dict[int, float] | None = None) -> Stage:
        x, y = self.x, self.y
        output = logits(model, x) if output is None else output
        params, nonzero = parameter_counts(float_network)
        if latency is None:
            latency = torch_latency(model, x, self.batches, self.repeats) if self.measure_latency else {}
        row = Stage(name, float(self.summed(output, y)) / len(y), float(self.loss_fn(output, y)),
                    float((output - self.reference).abs().max()), params, nonzero, *sizes(model), latency)
        self.say(f"  {name}: {self.metric} {row.metric:.4f}, max |Δlogit| {row.max_abs_diff:.3g}")
        self.rows.append(row)
        return row


def _fold_and_prune(config: Any, original: Network, fold_bn: bool, threshold: float | None,
                    sparsity: float | None, stage: _Stages, steps: list[str]
                    ) -> tuple[Network, list[dict[str, Any]], dict[str, Any] | None, dict[str, Any] | None]:
    """The network after folding batch norm and pruning (each measured), its explicit layer list, and the
    fold and sparsity details for export.json."""
    network: Network = original
    fold_info = sparsity_info = None
    layers = model_layers(config.model, config.model.output.units, config.model.output.activation)
    if fold_bn:
        network, report = fold(original)
        layers = folded_layers(layers, report)
        fold_info = report.as_dict()
        steps.append("fold_bn")
        stage("folded", network, network)
    if threshold is not None or sparsity is not None:
        network = prune(network, threshold, sparsity)
        sparsity_info = kernel_sparsity(network)
        steps.append(f"prune(threshold={threshold})" if threshold is not None else f"prune(sparsity={sparsity})")
        stage("pruned", network, network)
    return network, layers, fold_info, sparsity_info


def _rebuilt(export_cfg: Any, network: Network) -> Network:
    """The export must rebuild from its own config: same modules, same names; in eval mode."""
    rebuilt = setup.make_network(export_cfg)
    try:
        rebuilt.load_state_dict(network.state_dict())
    except RuntimeError as error:  # a bug, not bad input: say what differs
        raise RuntimeError(f"the folded network does not match its config: {error}") from None
    return rebuilt.eval()


def _write_model(source: Path, target: Path, export_cfg: Any, stored: torch.nn.Module) -> list[Path]:
    """config.yaml, model.safetensors and (when the run has one) normalization.json in `target`."""
    files = [target / "config.yaml", target / "model.safetensors"]
    write_atomic(target / "config.yaml", dump_config(export_cfg))
    write_tensors(target / "model.safetensors", stored.state_dict())
    if (source / "normalization.json").is_file():
        write_atomic(target / "normalization.json", (source / "normalization.json").read_bytes())
        files.append(target / "normalization.json")
    return files


def _onnx_stage(rebuilt: Network, onnx_path: Path, threads: int, stage: _Stages) -> None:
    """Write the ONNX graph; measure it under onnxruntime when that is installed."""
    export_onnx(rebuilt, stage.x, onnx_path)
    session = onnx_session(onnx_path, threads)
    if session is None:
        return
    output = onnx_logits(session, stage.x)
    latency = {}
    if stage.measure_latency:
        for batch in stage.batches:
            feed = {"input": batch_of(stage.x, batch).float().numpy()}
            latency[batch] = time_per_example(lambda feed=feed: session.run(None, feed), batch, stage.repeats)
    row = stage("onnxruntime", rebuilt, rebuilt, output, latency)
    row.bytes = onnx_path.stat().st_size
    row.compressed_bytes = len(zlib.compress(onnx_path.read_bytes(), 6))


def _write_reports(result: ExportResult, files: list[Path]) -> None:
    """export.json and export_report.md in the export folder; the "Export" section of the run's report.md."""
    target, source = result.folder, result.source
    info = result.as_dict()
    info["files"] = {path.name: path.stat().st_size for path in files}
    if result.dtype == "int8":
        info["note"] = ("model.safetensors holds the float32 weights; load_model quantizes them to int8 "
                        "again (torch.ao.quantization.quantize_dynamic), as safetensors cannot hold them packed")
    write_atomic(target / "export.json", json.dumps(info, indent=1))
    markdown = report_markdown(result)
    write_atomic(target / "export_report.md", markdown)
    result.files += [target / "export.json", target / "export_report.md"]
    append_report(source / "report.md", markdown, target, source)
