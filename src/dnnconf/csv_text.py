"""CSV text of result rows (one dict a row): the one writer behind the studies' results.csv and a
parallel-seeds run's members.csv (history.csv has its own: a float per cell, every column numeric)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from typing import Any


def plain_cell(value: Any) -> str:
    """The default cell: a float to 6 decimals, None (a value that does not exist) as empty, else str."""
    if value is None:
        return ""
    return f"{value:.6f}" if isinstance(value, float) else str(value)


def csv_text(rows: Sequence[dict[str, Any]], fieldnames: Sequence[str] | None = None,
             cell: Callable[[Any], str] = plain_cell) -> str:
    """The rows as CSV (header first, "\\n" line ends); columns: `fieldnames` (keys not named are left out)
    or the first row's keys; each value written as `cell` formats it."""
    names = list(fieldnames if fieldnames is not None else (rows[0] if rows else []))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=names, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: cell(value) for key, value in row.items()})
    return buffer.getvalue()
