"""Which runs a `dnnconf compare` argument stands for, read back from their folders.

An argument is one of:
- a run folder (config.yaml; history.csv once an epoch finished): one group of one run;
- a parallel-seeds run (`seed-<s>/` run folders inside): one group, its seeds;
- a folder of those: a `dnnconf study` folder (`<variant>/seed-<s>/`), a `dnnconf sweep` folder
  (`trial-NNNN/`), or any folder of run folders: one group per sub-folder, the seeds of a group together.
A group's curves are drawn as the mean over its runs with a band of ± one standard deviation.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dnnconf.errors import RunFolderError

MAX_HISTORY_BYTES = 64 * 1024 * 1024  # a history.csv is a few KB an epoch-thousand; more is not a history


@dataclass
class RunData:
    folder: Path
    config: dict[str, Any]
    history: list[dict[str, float]]
    metrics: dict[str, Any] = field(default_factory=dict)  # metrics.json: test, epochs, stop_reason

    @property
    def metric(self) -> str:
        columns = self.history[0] if self.history else {}
        return "mae" if "mae" in columns or self.config.get("loss") == "mse" else "accuracy"


@dataclass
class Group:
    label: str
    runs: list[RunData]


def is_run(folder: Path) -> bool:
    return (folder / "config.yaml").is_file() and not _seed_folders(folder)


def _seed_number(folder: Path) -> int:
    try:
        return int(folder.name.removeprefix("seed-"))
    except ValueError:
        return math.inf  # type: ignore[return-value]


def _seed_folders(folder: Path) -> list[Path]:
    children = [child for child in folder.iterdir() if child.is_dir() and child.name.startswith("seed-")]
    return sorted((child for child in children if (child / "config.yaml").is_file()), key=_seed_number)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError):
        raise RunFolderError(f"{path}: malformed YAML") from None
    if not isinstance(raw, dict):
        raise RunFolderError(f"{path}: not a config (expected a mapping of keys)")
    return raw


def _number(text: str | None) -> float:
    try:
        return float(text) if text not in (None, "") else math.nan
    except ValueError:
        return math.nan


def read_history(path: Path) -> list[dict[str, float]]:
    """history.csv as rows of floats (an empty or unreadable cell is NaN); no file: no rows."""
    if not path.is_file():
        return []
    if path.stat().st_size > MAX_HISTORY_BYTES:
        raise RunFolderError(f"{path}: {path.stat().st_size:,} bytes; a history.csv holds at most "
                             f"{MAX_HISTORY_BYTES:,}")
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None:
            return []
        if "epoch" not in reader.fieldnames:
            raise RunFolderError(f"{path}: not a history (no epoch column; found {', '.join(reader.fieldnames[:5])})")
        rows = [{k: _number(v) for k, v in row.items() if k is not None} for row in reader]
    return [row for row in rows if math.isfinite(row["epoch"])]


def read_run(folder: Path) -> RunData:
    metrics: dict[str, Any] = {}
    if (folder / "metrics.json").is_file():
        try:
            metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise RunFolderError(f"{folder / 'metrics.json'}: malformed JSON") from None
        if not isinstance(metrics, dict):
            metrics = {}
    return RunData(folder, _read_yaml(folder / "config.yaml"), read_history(folder / "history.csv"), metrics)


def groups_of(argument: Path) -> list[Group]:
    """The groups one argument stands for (see the module docstring)."""
    if not argument.is_dir():
        raise RunFolderError(f"{argument}: no such folder (expected a run folder, a study or a sweep folder)")
    seeds = _seed_folders(argument)
    if seeds:
        return [Group(argument.name, [read_run(seed) for seed in seeds])]
    if (argument / "config.yaml").is_file():
        return [Group(argument.name, [read_run(argument)])]
    groups = []
    for child in sorted(child for child in argument.iterdir() if child.is_dir()):
        seeds = _seed_folders(child)
        if seeds:
            groups.append(Group(child.name, [read_run(seed) for seed in seeds]))
        elif (child / "config.yaml").is_file():
            groups.append(Group(child.name, [read_run(child)]))
    if not groups:
        raise RunFolderError(f"{argument}: not a run folder, a study or a sweep (no config.yaml in it or in its "
                             f"sub-folders)")
    return groups


def collect(arguments: list[Path]) -> list[Group]:
    """Every argument's groups, labels made unique (a repeated name gets its parent folder's name)."""
    groups = [group for argument in arguments for group in groups_of(argument)]
    seen: dict[str, int] = {}
    for group in groups:
        seen[group.label] = seen.get(group.label, 0) + 1
    for group in groups:
        if seen[group.label] > 1:
            group.label = f"{group.runs[0].folder.parent.name}/{group.label}" if len(group.runs) == 1 else \
                f"{group.runs[0].folder.parent.parent.name}/{group.label}"
    runs = sum(len(group.runs) for group in groups)
    if runs < 2:
        named = ", ".join(str(a) for a in arguments)
        raise RunFolderError(f"compare: needs at least 2 runs; {named} holds {runs}")
    return groups
