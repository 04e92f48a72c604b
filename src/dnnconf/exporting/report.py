"""The results of `dnnconf export`: one `Stage` per model measured, the `ExportResult`, and their tables
(terminal, export_report.md, the section appended to the run's report.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from dnnconf.exporting.onnx_file import ONNX_OPSET
from dnnconf.safe_write import write_atomic

if TYPE_CHECKING:
    from dnnconf.exporting.precision import ExportedModel
    from dnnconf.nn.build import Network


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
