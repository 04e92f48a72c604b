"""More columns of each finished run of a study (`Study.measure`), e.g. MC dropout's test metrics.

A `RunMeasure` is a function of a finished run folder that returns more columns of its row. The framework
calls it where the run trained (in the --jobs worker; after the batched run with --vectorize), skips it
for a diverged run (empty cells: its weights say nothing), and keeps the columns in study-row.json, so a
finished run is measured once; a run finished before its study measured it is measured, not retrained.
results.csv carries the columns after the framework's own; `--reference keras` measures them on the Keras
runs too when the measure has a Keras form (`keras`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class RunMeasure:
    """`function(folder)` returns {column: value} for `columns` (a module-level function or a partial of
    one: --jobs pickles it into its worker processes). `keras`, when given, measures the same columns of
    a `--reference keras` run from `keras_reference.train_run`'s result."""

    columns: tuple[str, ...]
    function: Callable[[Path], dict[str, Any]]
    keras: Callable[[dict[str, Any]], dict[str, Any]] | None = None


def measured(task: Any, folder: Path, row: dict[str, Any]) -> dict[str, Any]:
    """`row` with the columns of the task's `RunMeasure` (`framework.Task.measure`); only those columns."""
    if task.measure is None:
        return row
    values = {} if row.get("diverged") else task.measure.function(folder)
    return {**row, **{column: values.get(column) for column in task.measure.columns}}
