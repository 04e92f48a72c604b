"""The summary of `dnnconf sweep`: trials.csv, best.yaml (the best trial's config), the table of the best
trials, and Optuna's plots.
"""

from __future__ import annotations

import csv
import io
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dnnconf.config import dump_config, load_config
from dnnconf.plots import plt  # matplotlib with the Agg backend
from dnnconf.safe_write import write_atomic, write_figure
from dnnconf.sweeps.space import yaml_text
from dnnconf.sweeps.trials import format_params
from dnnconf.train.run_folder.loading import load_run_config

if TYPE_CHECKING:
    from dnnconf.sweeps.space import Param
    from dnnconf.sweeps.study import SweepOptions


def best_trial_of(study: Any) -> Any | None:
    try:
        return study.best_trial
    except ValueError:
        return None


def write_atomic_text(path: Path, text: str) -> None:
    """Several sweeps may write the same summary: each write goes through its own unguessable temporary
    (`dnnconf.safe_write.write_atomic`), so readers see one whole version."""
    write_atomic(path, text, durable=False)


def best_config_yaml(study: Any, best: Any, options: SweepOptions, params: list[Param]) -> str:
    """The best trial's resolved config (its run folder's config.yaml, validated and dumped again); when the
    folder is on another machine, this command's config with the trial's parameters."""
    folder = Path(best.user_attrs.get("folder", ""))
    source = f"run folder {folder}"
    if (folder / "config.yaml").is_file():
        config = load_run_config(folder)
    else:
        by_key = {p.key: p for p in params}
        overrides = [by_key[k].override(v) if k in by_key else f"{k}={yaml_text(v)}" for k, v in best.params.items()]
        config = load_config(options.config, [*options.sets, *overrides])
        source = f"{options.config} with the trial's parameters (its run folder is not here)"
    header = [f"# Best trial {best.number} of the sweep {study.study_name}: {options.metric} {best.value:.6g} "
              f"(epoch {best.user_attrs.get('best_epoch', '?')})",
              f"# from {source}", "# " + format_params(best.params),
              f"# train it: dnnconf train {options.out / 'best.yaml'}"]
    return "\n".join(header) + "\n" + dump_config(config)


def trials_rows(study: Any) -> tuple[list[str], list[list[Any]]]:
    """Optuna's trials dataframe columns, without pandas."""
    trials = study.get_trials(deepcopy=False)
    param_keys = sorted({k for t in trials for k in t.params})
    attr_keys = sorted({k for t in trials for k in t.user_attrs})
    header = ["number", "value", "datetime_start", "datetime_complete", "duration",
              *[f"params_{k}" for k in param_keys], *[f"user_attrs_{k}" for k in attr_keys], "state"]
    rows = []
    for t in trials:
        duration = t.duration.total_seconds() if t.duration else ""
        rows.append([t.number, "" if t.value is None else t.value, t.datetime_start or "", t.datetime_complete or "",
                     duration, *[t.params.get(k, "") for k in param_keys],
                     *[t.user_attrs.get(k, "") for k in attr_keys], t.state.name])
    return header, rows


def write_trials_csv(study: Any, path: Path) -> None:
    try:
        import pandas  # noqa: F401
    except ImportError:
        header, rows = trials_rows(study)
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        write_atomic_text(path, buffer.getvalue())
        return
    write_atomic_text(path, study.trials_dataframe().to_csv(index=False))


def write_plots(study: Any, folder: Path, metric: str = "") -> tuple[list[Path], list[str]]:
    """Optuna's optimization history, intermediate values and parameter importances (matplotlib)."""
    from optuna.visualization import matplotlib as optuna_plots

    folder.mkdir(parents=True, exist_ok=True)
    trials = study.get_trials(deepcopy=False)
    complete = sum(t.state.name == "COMPLETE" for t in trials)
    reported = sum(bool(t.intermediate_values) for t in trials)
    written, notes = [], []
    plots = [("optimization_history", optuna_plots.plot_optimization_history, 1, complete, "complete trial"),
             ("intermediate_values", optuna_plots.plot_intermediate_values, 1, reported, "trial with a report"),
             ("param_importances", optuna_plots.plot_param_importances, 2, complete, "complete trial")]
    for name, plot, needed, have, what in plots:
        if have < needed:
            notes.append(f"{name}.png skipped: needs {needed} {what}{'s' if needed > 1 else ''}, the study has {have}")
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
                axes = plot(study)
            first = axes.flat[0] if hasattr(axes, "flat") else axes
            if name == "intermediate_values":
                first.set_xlabel("step (epoch - 1)")
                first.set_ylabel(metric or "reported value")
            figure = first.figure
            figure.set_size_inches(8, 5)
            figure.tight_layout()
            path = folder / f"{name}.png"
            write_figure(figure, path, dpi=110)
            plt.close(figure)
            written.append(path)
        except Exception as error:  # noqa: BLE001 - a plot that cannot be drawn is a note, not a failed sweep
            plt.close("all")
            message = str(error).splitlines()[0] if str(error) else error.__class__.__name__
            notes.append(f"{name}.png skipped: {message}")
    return written, notes


def best_table(study: Any, metric: str, top: int = 5) -> list[str]:
    """The best complete trials, best first: number, value, best epoch and each parameter (last key part)."""
    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    complete.sort(key=lambda t: t.value, reverse=study.direction.name == "MAXIMIZE")
    keys = sorted({k for t in complete for k in t.params})

    def cell(value: Any) -> str:
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    header = ["trial", metric, "epoch", *[k.rsplit(".", 1)[-1] for k in keys]]
    rows = [[str(t.number), f"{t.value:.4f}", str(t.user_attrs.get("best_epoch", "")),
             *[cell(t.params.get(k, "")) for k in keys]] for t in complete[:top]]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return ["  ".join(text.rjust(width) for text, width in zip(row, widths, strict=True)) for row in [header, *rows]]


def write_summary(study: Any, options: SweepOptions, params: list[Param]) -> tuple[list[Path], list[str]]:
    out = options.out
    trials = study.get_trials(deepcopy=False)
    counts: dict[str, int] = {}
    for t in trials:
        counts[t.state.name.lower()] = counts.get(t.state.name.lower(), 0) + 1
    options.log(f"study {study.study_name}: {len(trials)} trials (" + ", ".join(f"{n} {s}" for s, n in
                                                                                 sorted(counts.items())) + ")")
    written: list[Path] = []
    csv_path = out / "trials.csv"
    write_trials_csv(study, csv_path)
    written.append(csv_path)
    best = best_trial_of(study)
    if best is not None:
        options.log(f"best trials ({options.metric}, {study.direction.name.lower()}):")
        for line in best_table(study, options.metric):
            options.log("  " + line)
        path = out / "best.yaml"
        write_atomic_text(path, best_config_yaml(study, best, options, params))
        written.append(path)
    plots, notes = write_plots(study, out / "plots", options.metric)
    written += plots
    for note in notes:
        options.log(f"note: {note}")
    options.log(f"wrote {out}/: " + ", ".join(str(p.relative_to(out)) for p in written))
    return written, notes
