"""`dnnconf diagnose CONFIG|RUN`: the command-line face of `dnnconf.diagnosis.diagnostics`.

    dnnconf diagnose CONFIG [--set k=v]… [--batches B] [--train-steps N] [--probe-every K]
                     [--format text|json] [--out DIR]
    dnnconf diagnose RUN    (a folder with config.yaml and model.safetensors: its trained weights,
                             probed on its own training data)

Prints a table (one row a layer: activation mean/std, dead and saturated shares, ‖∂J/∂W‖, ‖∂J/∂a‖,
‖ΔW‖/‖W‖) and the verdicts with their evidence and the note's remedies — or, with `--format json`,
only the JSON report (schema in `dnnconf.diagnosis.report`). Writes grad_norm_heatmap.png,
act_std_heatmap.png, profile.png and report.json into DIR (default runs/diagnose-<name>-<timestamp>/).

Exit codes: 0 healthy or warnings only; 1 an error verdict (vanishing or exploding gradients);
2 bad input (missing or invalid config, not a run folder, bad option).

Heavy imports (torch) happen inside the handler.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dnnconf.arguments import whole_number
from dnnconf.safe_write import write_atomic

if TYPE_CHECKING:
    from dnnconf.diagnosis.diagnostics import DiagnosisReport, LayerRow


def add_command(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `diagnose` subcommand to `subparsers` (the result of `add_subparsers`)."""
    parser = subparsers.add_parser(
        "diagnose", help="per-layer activation and gradient health, with verdicts and fixes",
        description="Probe a network at initialization (and along a short training run): per-layer activation "
                    "statistics, gradient norms and update ratios, with verdicts (vanishing/exploding gradients, "
                    "variance drift, saturation, dead units, broken self-normalization) and the note's remedies.")
    parser.add_argument("target", metavar="CONFIG|RUN", help="YAML config, or a run folder (config.yaml + "
                        "model.safetensors) whose trained weights are probed on its training data")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. model.activation=tanh (repeatable; CONFIG only)")
    parser.add_argument("--batches", type=whole_number(1), default=4, metavar="B",
                        help="probe batches (of training.batch_size examples) at each probe step (default 4)")
    parser.add_argument("--train-steps", type=whole_number(0), default=0, metavar="N",
                        help="also train N steps and probe along the way (default 0: initialization only)")
    parser.add_argument("--probe-every", type=whole_number(1), default=None, metavar="K",
                        help="steps between probes along training (default N/8)")
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="a table and verdicts (text), or the JSON report alone on stdout")
    parser.add_argument("--out", metavar="DIR", help="folder for the plots and report.json "
                        "(default runs/diagnose-<name>-<timestamp>)")
    parser.set_defaults(handler=cmd_diagnose)
    return parser


def default_folder(name: str, root: Path = Path("runs")) -> Path:
    from dnnconf.train.run_folder.naming import timestamped_folder

    return timestamped_folder(f"diagnose-{name}", root)


def cmd_diagnose(args: argparse.Namespace) -> int:
    from dnnconf.diagnosis.diagnostics import diagnose, diagnose_run
    from dnnconf.errors import ConfigError, RunFolderError

    target = Path(args.target)
    if args.out and Path(args.out).exists() and not Path(args.out).is_dir():
        raise RunFolderError(f"--out {args.out}: exists and is not a folder")
    options = {"batches": args.batches, "train_steps": args.train_steps, "probe_every": args.probe_every}
    if target.is_dir():
        if args.set:
            raise ConfigError(f"--set: {target} is a run folder, probed as it was trained; --set applies to a CONFIG")
        report = diagnose_run(target, **options)
    else:
        from dnnconf.config import load_config

        report = diagnose(load_config(target, args.set), **options)
    folder = Path(args.out) if args.out else default_folder(report.name)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RunFolderError(f"--out {folder}: cannot create the folder ({error.strerror})") from None
    from dnnconf.diagnosis.plots import write_plots

    report.plots = [str(path) for path in write_plots(report, folder)]
    write_atomic(folder / "report.json", report.to_json() + "\n")
    if args.format == "json":
        print(report.to_json())
    else:
        render(report, folder)
    return report.exit_code


# --- text output ---


def _number(value: float | None, style: str = "{:.3g}") -> str:
    if value is None:
        return "—"
    return style.format(value) if value == value and abs(value) != float("inf") else str(value)


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}" if value == value else "nan"


def layer_table(report: DiagnosisReport, rows: list[LayerRow], step: int) -> Any:
    from rich.table import Table

    where = "initialization" if step == 0 and report.source != "run" else f"step {step}"
    table = Table(title=f"{report.name}: probe at {where} ({report.batches} batches of {report.batch_size}, "
                        f"loss {_number(report.loss[report.steps.index(step)], '{:.4g}')})",
                  title_justify="left", header_style="bold")
    for column, justify in (("#", "right"), ("layer", "left"), ("activation", "left"), ("mean", "right"),
                            ("std", "right"), ("dead", "right"), ("saturated", "right"), ("‖∂J/∂W‖", "right"),
                            ("‖∂J/∂a‖", "right"), ("‖ΔW‖/‖W‖", "right")):
        table.add_column(column, justify=justify, no_wrap=True)
    for row in rows:
        table.add_row(str(row.index), row.name, row.activation + (" (out)" if row.role == "output" else ""),
                      _number(row.act_mean), _number(row.act_std), _share(row.dead_share),
                      _share(row.saturated_share), _number(row.weight_grad_norm, "{:.2e}"),
                      _number(row.output_grad_norm, "{:.2e}"), _number(row.update_ratio, "{:.2e}"))
    return table


def _rows_at(report: DiagnosisReport, column: int) -> list[LayerRow]:
    from dataclasses import replace

    from dnnconf.diagnosis.diagnostics import METRICS

    return [replace(row, **{m: report.series[m][i][column] for m in METRICS}) for i, row in enumerate(report.layers)]


def render(report: DiagnosisReport, folder: Path | None = None, console: Any = None) -> None:
    """The tables (first and last probe step) and the verdicts, with rich."""
    from rich.console import Console
    from rich.markup import escape

    if console is None:
        console = Console()
        if not console.is_terminal:
            console = Console(width=140)
    console.print(layer_table(report, report.layers, report.steps[0]))
    if len(report.steps) > 1:
        console.print(layer_table(report, _rows_at(report, -1), report.steps[-1]))
    if report.stopped:
        console.print(f"[yellow]{escape(report.stopped)}[/yellow]")
    colors = {"error": "bold red", "warning": "yellow", "info": "green"}
    for verdict in report.verdicts:
        color = colors[verdict.severity]
        console.print(f"[{color}]{verdict.severity.upper()}[/{color}] {escape(verdict.message)} "
                      f"[dim]({verdict.id})[/dim]")
        evidence = {k: v for k, v in verdict.evidence.items() if v not in (None, [], {})}
        if evidence:
            shown = ", ".join(f"{k}={_evidence(v)}" for k, v in evidence.items())
            console.print(f"  evidence: {escape(shown)}", style="dim")
        for remedy in verdict.remedies:
            console.print(f"  → {escape(remedy)}")
    if folder is not None:
        console.print(f"plots and report.json: {escape(str(folder))}")


def _evidence(value: Any) -> str:
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, list) and len(value) > 6:
        return "[" + ", ".join(_evidence(v) for v in value[:6]) + ", …]"
    if isinstance(value, list):
        return "[" + ", ".join(_evidence(v) for v in value) + "]"
    return str(value)
