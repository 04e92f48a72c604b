"""What the Python API returns: objects with the figures as attributes, shown as a table (and a plot) in a
notebook.

Each result keeps the attributes of the object the command-line tool works with (a `FitResult` is a
`RunResult` of `dnnconf.train.run_folder.result`, an `LRFind` a `LRFindResult`, a `Diagnosis` a
`DiagnosisReport`, `Findings` a list of `Finding`), and adds:
- the figures by name (`FitResult.history["val_loss"]`, `LRFind.suggestion`, `Diagnosis.rows`, …);
- `_repr_html_`: an HTML table, with the plot embedded as a base64 PNG where the result has one, so a
  Jupyter cell that ends with a result shows it; `repr` stays one short line.
"""

from __future__ import annotations

import base64
import csv
import html
import math
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from dnnconf.advice import format_text
from dnnconf.diagnosis.report import DiagnosisReport
from dnnconf.exporting.report import ExportResult
from dnnconf.lr_finder.finder import LRFindResult
from dnnconf.lr_finder.outputs import plot_lr_find
from dnnconf.safe_write import write_atomic
from dnnconf.train.run_folder.result import RunResult

HTML_ROWS = 60  # rows a notebook table shows before it elides the middle


# ------------------------------------------------------------------------------------------ HTML parts


def cell(value: Any) -> str:
    """A value as table text: floats to 4 significant digits, None and NaN empty."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def html_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], caption: str = "") -> str:
    """An HTML table (values escaped); beyond HTML_ROWS rows the middle is elided."""
    shown: list[Sequence[Any] | None] = list(rows)
    if len(shown) > HTML_ROWS:
        shown = [*shown[: HTML_ROWS // 2], None, *shown[-HTML_ROWS // 2:]]
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = "".join(
        f"<tr><td colspan='{len(columns)}'>… {len(rows) - HTML_ROWS} more rows …</td></tr>" if row is None else
        "<tr>" + "".join(f"<td>{html.escape(cell(v))}</td>" for v in row) + "</tr>" for row in shown)
    title = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f"<table>{title}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def png_tag(path: str | Path | None) -> str:
    """An <img> with the PNG at `path` inlined as base64, or '' when there is no such file."""
    if path is None or not Path(path).is_file():
        return ""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f"<img src='data:image/png;base64,{data}' style='max-width:100%'/>"


def drawn_png_tag(draw: Callable[[Path], Any]) -> str:
    """Draw a plot into a temporary PNG with `draw(path)` and inline it."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "plot.png"
        draw(path)
        return png_tag(path)


# --------------------------------------------------------------------------------------------- history


class History(Mapping[str, list]):
    """A run's per-epoch logs as columns: `history["val_loss"]` lists one value an epoch.

    Iterating gives the column names (epoch, loss, accuracy, val_loss, val_accuracy, lr, grad_norm, …,
    as in history.csv); `rows` the epochs as dicts; `epochs` their count. A column an epoch lacks
    (a metric added later) holds NaN there.
    """

    def __init__(self, rows: Sequence[Mapping[str, Any]]):
        self.rows = [dict(row) for row in rows]
        columns = list(dict.fromkeys(key for row in self.rows for key in row))
        self.columns = sorted(columns, key=lambda c: c != "epoch")  # the epoch first, as in history.csv

    def __getitem__(self, column: str) -> list:
        if column not in self.columns:
            raise KeyError(f"{column!r}: not a history column; columns: {', '.join(self.columns)}")
        return [row.get(column, math.nan) for row in self.rows]

    def __iter__(self) -> Iterator[str]:
        return iter(self.columns)

    def __len__(self) -> int:
        return len(self.columns)

    @property
    def epochs(self) -> int:
        return len(self.rows)

    def best(self, column: str = "val_loss", mode: str = "auto") -> dict[str, Any]:
        """The epoch's row with the lowest `column` (highest for accuracies, or `mode: max`)."""
        values = self[column]
        biggest = mode == "max" or (mode == "auto" and "acc" in column)
        finite = [(v, i) for i, v in enumerate(values) if isinstance(v, int | float) and math.isfinite(v)]
        if not finite:
            raise ValueError(f"{column!r}: no finite value in the history")
        return self.rows[(max if biggest else min)(finite)[1]]

    def to_pandas(self) -> Any:
        """A pandas DataFrame, one row an epoch (needs pandas, which dnnconf does not install)."""
        import pandas

        return pandas.DataFrame(self.rows, columns=self.columns)

    def __repr__(self) -> str:
        return f"History({self.epochs} epochs; columns: {', '.join(self.columns)})"

    def _repr_html_(self) -> str:
        return html_table(self.columns, [[row.get(c) for c in self.columns] for row in self.rows])


# ------------------------------------------------------------------------------------------------ fit


def _fields_of(value: Any) -> dict[str, Any]:
    return {f.name: getattr(value, f.name) for f in fields(value)}


@dataclass
class FitResult(RunResult):
    """`dnnconf.fit`'s result: the run folder, its history as columns, test metrics, stop reason.

    `folder`, `config` (resolved), `test` (metrics on the test split; empty without one), `network` and
    `state` (the loop's TrainState) are those of `dnnconf.train.run_folder.result.RunResult`; `members`
    holds each seed's FitResult of a `training.parallel_seeds` run.
    """

    @classmethod
    def of(cls, run: RunResult) -> FitResult:
        values = _fields_of(run)
        values["members"] = [cls.of(member) for member in run.members] if run.members else run.members
        return cls(**values)

    @property
    def history(self) -> History:
        return History(self.state.history)

    @property
    def epochs(self) -> int:
        return self.state.epoch

    @property
    def stop_reason(self) -> str:
        """Why training ended before `training.epochs` (early stopping, divergence); '' when it ran them all."""
        return self.state.stop_reason or ""

    @property
    def plot(self) -> Path | None:
        path = Path(self.folder) / "plots" / "learning_curves.png"
        return path if path.is_file() else None

    def __repr__(self) -> str:
        test = ", ".join(f"{k} {v:.4f}" for k, v in self.test.items())
        return f"FitResult({str(self.folder)!r}, epochs={self.epochs}" + (f", test: {test})" if test else ")")

    def _repr_html_(self) -> str:
        facts = [("run folder", str(self.folder)), ("epochs", self.epochs),
                 ("stopped", self.stop_reason or "after the last epoch"),
                 *[(f"test {k}", v) for k, v in self.test.items()]]
        return (html_table(["", ""], facts, f"fit {self.config.name}") + self.history._repr_html_()
                + png_tag(self.plot))


# -------------------------------------------------------------------------------------------- lr_find


@dataclass
class LRFind(LRFindResult):
    """`dnnconf.lr_find`'s result: `suggestion` (the recommended rate), `suggestions` by rule, the curves
    `lrs[k]` and `losses[k]` of repeat k, `plot` (the PNG, when written with `out=`)."""

    plot: Path | None = None

    @classmethod
    def of(cls, result: LRFindResult, plot: Path | None = None) -> LRFind:
        return cls(**_fields_of(result), plot=plot)

    @property
    def suggestion(self) -> float:
        return self.recommended_lr

    def __repr__(self) -> str:
        return f"LRFind(suggestion={self.suggestion:.3g} ({self.recommended}), steps={len(self.lrs[0])})"

    def _repr_html_(self) -> str:
        rows = [(name + (" (recommended)" if name == self.recommended else ""), value, *self.band[name])
                for name, value in self.suggestions.items()]
        table = html_table(["rule", "learning rate", "lowest", "highest"], rows,
                           f"learning-rate range test: {self.why}")
        plot = png_tag(self.plot) if self.plot else drawn_png_tag(lambda path: plot_lr_find(self, path))
        return table + "".join(f"<p>{html.escape(w)}</p>" for w in self.warnings) + plot


# ------------------------------------------------------------------------------------------- diagnose


@dataclass
class Diagnosis(DiagnosisReport):
    """`dnnconf.diagnose`'s report: `rows` (one dict a layer at the first probe), `verdict` (a summary
    line), `verdicts` (each with its id, severity, message, evidence and the note's remedies), `healthy`."""

    @classmethod
    def of(cls, report: DiagnosisReport) -> Diagnosis:
        return cls(**_fields_of(report))

    @property
    def rows(self) -> list[dict[str, Any]]:
        return [_fields_of(row) for row in self.layers]

    @property
    def verdict(self) -> str:
        return "healthy" if self.healthy else ", ".join(f"{v.id} ({v.severity})" for v in self.verdicts)

    def __repr__(self) -> str:
        return f"Diagnosis({self.name!r}, {len(self.layers)} layers: {self.verdict})"

    def _repr_html_(self) -> str:
        rows = self.rows
        columns = list(rows[0]) if rows else []
        layers = html_table(columns, [list(row.values()) for row in rows], f"diagnose {self.name} ({self.source})")
        verdicts = html_table(["verdict", "severity", "message", "remedies"],
                              [(v.id, v.severity, v.message, "; ".join(v.remedies)) for v in self.verdicts])
        plots = "".join(png_tag(path) for path in self.plots if str(path).endswith(".png"))
        return layers + verdicts + plots


# ------------------------------------------------------------------------------------------------ check


class Findings(list):
    """`dnnconf.check`'s findings (a list of `dnnconf.advice.Finding`: id, severity, message, fix, section,
    path), errors first; `errors`, `warnings`, `has_errors`, `text` (the command's report)."""

    def __init__(self, findings: Sequence[Any], source: str = "config", lang: str = "en"):
        super().__init__(findings)
        self.source, self.lang = source, lang

    def of_severity(self, severity: str) -> list[Any]:
        return [f for f in self if f.severity == severity]

    @property
    def errors(self) -> list[Any]:
        return self.of_severity("error")

    @property
    def warnings(self) -> list[Any]:
        return self.of_severity("warning")

    @property
    def has_errors(self) -> bool:
        return bool(self.errors)

    @property
    def text(self) -> str:
        return format_text(list(self), self.source, self.lang)

    def __repr__(self) -> str:
        ids = ", ".join(f.id for f in self)
        return f"Findings({len(self.errors)} errors, {len(self.warnings)} warnings" + (f": {ids})" if ids else ")")

    def _repr_html_(self) -> str:
        return html_table(["id", "severity", "key", "message", "fix", "section"],
                          [(f.id, f.severity, f.path, f.message, f.fix, f.section) for f in self],
                          f"check {self.source}: {len(self)} findings")


# -------------------------------------------------------------------------------------------- recommend


@dataclass
class Recommendation:
    """`dnnconf.recommend`'s configuration: `config` (resolved, ready for `dnnconf.fit`), `yaml` (every
    choice commented with its reason and the note's section), `flags` (the same request on the command line)."""

    config: Any
    yaml: str
    flags: str

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        write_atomic(path, self.yaml)
        return path

    def __str__(self) -> str:
        return self.yaml

    def __repr__(self) -> str:
        return f"Recommendation({self.config.name!r}: {self.flags})"

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(self.yaml)}</pre>"


# --------------------------------------------------------------------------------------------- export


@dataclass
class Export(ExportResult):
    """`dnnconf.export`'s result: `folder` (the export folder), `stages` (each step's metric, largest logit
    difference, size and latency), `onnx` (the ONNX file or None), `files`."""

    @classmethod
    def of(cls, result: ExportResult) -> Export:
        return cls(**_fields_of(result))

    def __repr__(self) -> str:
        return f"Export({str(self.folder)!r}, {self.dtype}, steps={self.steps})"

    def _repr_html_(self) -> str:
        rows = [(s.name, s.metric, s.max_abs_diff, s.parameters, s.nonzero, s.bytes,
                 *[s.latency.get(b, math.nan) * 1e6 for b in self._batches()]) for s in self.stages]
        columns = ["stage", self.metric_name, "max |Δlogit|", "parameters", "nonzero", "bytes",
                   *[f"µs/example @{b}" for b in self._batches()]]
        return html_table(columns, rows, f"export {self.folder}")

    def _batches(self) -> list[int]:
        return sorted({b for s in self.stages for b in s.latency})


# ------------------------------------------------------------------------------------- sweep and study


def read_csv_rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@dataclass
class SweepSummary:
    """`dnnconf.sweep`'s result: `best` (trial number, value, params; None when no trial completed),
    `best_config` (OUT/best.yaml), `trials` (one dict a trial, trials.csv's columns), `plots`, `study` (Optuna's)."""

    folder: Path
    metric: str
    best: dict[str, Any] | None
    best_config: Path | None
    trials: list[dict[str, str]]
    plots: list[Path]
    notes: list[str]
    seconds: float
    study: Any = field(repr=False, default=None)

    def __repr__(self) -> str:
        best = f"best {self.metric} {self.best['value']:.4f} (trial {self.best['number']})" if self.best else "no best"
        return f"SweepSummary({str(self.folder)!r}, {len(self.trials)} trials, {best})"

    def _repr_html_(self) -> str:
        columns = list(self.trials[0]) if self.trials else []
        table = html_table(columns, [list(t.values()) for t in self.trials], f"sweep {self.folder}: {self!r}")
        return table + "".join(png_tag(p) for p in self.plots)


@dataclass
class StudySummary:
    """`dnnconf.study`'s result: `rows` (one dict a run, results.csv's columns), `summary` (summary.md's
    markdown: the table with the note's numbers beside ours), `plots` (PNG paths), `folder`."""

    name: str
    folder: Path
    rows: list[dict[str, str]]
    summary: str
    plots: list[Path]

    @classmethod
    def read(cls, name: str, folder: Path) -> StudySummary:
        summary = folder / "summary.md"
        return cls(name, folder, read_csv_rows(folder / "results.csv"),
                   summary.read_text(encoding="utf-8") if summary.is_file() else "",
                   sorted(folder.glob("*.png")) + sorted((folder / "plots").glob("*.png")))

    def __repr__(self) -> str:
        return f"StudySummary({self.name!r}, {len(self.rows)} runs in {str(self.folder)!r})"

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(self.summary)}</pre>" + "".join(png_tag(p) for p in self.plots)
