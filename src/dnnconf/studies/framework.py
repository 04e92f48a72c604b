"""What every measured study shares: variants × seeds → one run folder each → results.csv, summary.md, plots.

A study module builds a `Study` (a base config, its `Variant`s, the published numbers) from the
`Options` of the command line; `run_study` turns every (variant, seed) into a `Task` (a raw config and a
folder, `OUT/<variant>/seed-<s>/`) and `run_one` trains it with `dnnconf.run.train` into an ordinary
run folder and returns its row. `run_one` is the one place a run happens (a batched-seeds mode plugs in
there). Finished runs leave `study-row.json` and are read back, not redone; an interrupted one resumes
from its checkpoint. A run that diverges (`Diverged`) is a row with `diverged` 1, not a crash.
`--jobs J` runs tasks in J spawned processes, each with `--threads` torch threads (default 1).
`--vectorize` trains a variant's seeds together, as one batched computation (`training.parallel_seeds`:
each member equals its solo run within float rounding and lands in the same `seed-<s>/` folder); a
variant whose config cannot be batched (see `dnnconf.train.parallel_seeds.check_supported`) runs its seeds
one by one, as without the option.

A study may measure more of each finished run (`Study.measure`: `dnnconf.studies.run_measure`).

A study lists the note's claims as data (`Study.claims`, `dnnconf.studies.claims`): summary.md reports
each comparison's difference, paired by seed, with its 95% interval and verdict. study.json holds the
folder's profile and a record of every invocation (`dnnconf.studies.metadata`), which `dnnconf study
report` turns into the studies page (`dnnconf.studies.page`). Full profiles: 5 seeds; `--train-size all`
(or a profile without a size) trains on the whole training split.

Per run: the final and best validation accuracy, the test accuracy (of the weights the run ended with:
the best epoch's when early stopping restores them), the epochs run, the seconds per epoch (median of
history.csv's `time`), and the epochs to a target validation accuracy, interpolated linearly between
the epoch before and the epoch that reaches it (epoch 0 counts as chance, 1/classes): 2.5 means halfway
through the third epoch. Empty when the target is never reached.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dnnconf.arguments import at_most
from dnnconf.limits import MAX_JOBS, MAX_STUDY_SEEDS, MAX_THREADS
from dnnconf.studies.claims import Claim
from dnnconf.studies.run_measure import RunMeasure, measured

ROW_FILE = "study-row.json"
DATASETS = ("fashion_mnist", "digits")
DATA = {"fashion_mnist": {"dataset": "fashion_mnist", "valid_size": 5000},
        "digits": {"dataset": "digits", "valid_size": 0.15, "test_size": 0.2}}
CLASSES = {"fashion_mnist": 10, "digits": 10}
METRICS = ("final_val_accuracy", "best_val_accuracy", "test_accuracy", "epochs_to_target", "seconds_per_epoch")
RUN_COLUMNS = ("seed", "epochs_run", "final_val_accuracy", "best_val_accuracy", "final_val_loss", "test_accuracy",
               "epochs_to_target", "diverged", "seconds_per_epoch", "stop_reason", "folder")


@dataclass(frozen=True)
class Profile:
    """Defaults of a study's options: the full profile (the docs' numbers) or --quick (CI, seconds)."""

    seeds: int
    epochs: int
    dataset: str
    train_size: int | None = None


@dataclass(frozen=True)
class Options:
    seeds: int
    epochs: int
    dataset: str
    train_size: int | None
    out: Path
    jobs: int
    quick: bool
    threads: int = 1
    vectorize: bool = False
    read_only: bool = False  # `study report`: rebuild the study from a folder without measuring anything


@dataclass(frozen=True)
class Variant:
    """One cell of the study: `labels` become CSV columns, `overrides` are merged into the base config."""

    name: str
    labels: dict[str, str]
    overrides: dict[str, Any] = field(default_factory=dict)
    published: float | None = None
    published_metric: str | None = None  # when not the study's (e.g. a published test accuracy)


@dataclass
class Study:
    name: str
    title: str
    base: dict[str, Any]
    variants: list[Variant]
    published_metric: str = "final_val_accuracy"  # our column the published numbers compare with
    published_source: str = ""
    target: float | None = None  # the validation accuracy of `epochs_to_target`
    panel_by: str | tuple[str, ...] | None = None  # the label(s) whose values split the learning curves into panels
    notes: list[str] = field(default_factory=list)
    notes_zh: list[str] = field(default_factory=list)  # `notes` in Chinese (`dnnconf study report --lang zh`)
    published_source_zh: str = ""  # `published_source` in Chinese
    quick_variants: tuple[str, ...] = ()  # --quick runs only these (all when empty): CI needs seconds
    extra_summary: Callable[..., list[str]] | None = None  # (study, rows, lang="en") → more summary lines
    claims: list[Claim] = field(default_factory=list)  # the note's comparisons (`dnnconf.studies.claims`)
    parameters: dict[str, Any] = field(default_factory=dict)  # the study's own options, saved in study.json
    measure: RunMeasure | None = None  # more columns of each finished run (see the module docstring)


@dataclass(frozen=True)
class Task:
    study: str
    variant: str
    labels: dict[str, str]
    seed: int
    raw: dict[str, Any]
    folder: str
    target: float | None
    chance: float
    measure: RunMeasure | None = None


def add_common_arguments(parser: Any, full: Profile, quick: Profile, out: str) -> None:
    """--seeds --epochs --dataset --train-size --out --jobs --quick (defaults: `full`, or `quick`)."""
    def show(profile: Profile) -> str:
        size = f", {profile.train_size} training images" if profile.train_size else ""
        return f"{profile.seeds} seeds, {profile.epochs} epochs, {profile.dataset}{size}"

    parser.add_argument("--seeds", type=at_most(MAX_STUDY_SEEDS), default=None,
                        help=f"seeds 0..N-1 per variant (full: {full.seeds})")
    parser.add_argument("--epochs", type=at_most(), default=None,
                        help=f"epochs per run (full: {full.epochs})")
    parser.add_argument("--dataset", choices=DATASETS, default=None, help=f"the data (full: {full.dataset})")
    parser.add_argument("--train-size", type=train_size_argument, default=None,
                        help="keep the first N training images, or `all` (full: " + (str(full.train_size) if
                                                                                   full.train_size else "all") + ")")
    parser.add_argument("--out", default=out, help=f"study folder (default {out})")
    parser.add_argument("--jobs", type=at_most(MAX_JOBS), default=1,
                        help="runs in parallel processes (default 1)")
    parser.add_argument("--threads", type=at_most(MAX_THREADS), default=None,
                        help="torch threads per run (default 1: these small nets gain little from more, and on a "
                             "busy machine spinning threads cost many times that; jobs × threads ≤ cores)")
    parser.add_argument("--quick", action="store_true", help=f"the CI profile: {show(quick)} (full: {show(full)})")
    parser.add_argument("--vectorize", action="store_true",
                        help="train each variant's seeds at once as one batched computation (training.parallel_seeds);"
                             " variants it cannot batch run seed by seed")


def train_size_argument(text: str) -> int | str:
    """An argparse type: a whole number (checked by `options_from`) or `all` (the whole training split)."""
    import argparse

    if text.strip().lower() == "all":
        return "all"
    try:
        return at_most()(text)
    except argparse.ArgumentTypeError as error:
        raise argparse.ArgumentTypeError(str(error).replace("(accepted: ", "(accepted: all, or ")) from None


def options_from(args: Any, full: Profile, quick: Profile) -> Options:
    """The options, defaults filled from the chosen profile; bad values raise ConfigError (exit 2)."""
    from dnnconf.errors import ConfigError

    profile = quick if args.quick else full
    chosen = {"seeds": args.seeds, "epochs": args.epochs, "train_size": args.train_size, "jobs": args.jobs,
              "threads": args.threads}
    for option, value in chosen.items():
        if isinstance(value, int) and value < 1:
            raise ConfigError(f"--{option.replace('_', '-')}: {value} must be at least 1")
    cores = os.cpu_count() or 1
    if args.jobs * (args.threads or 1) > cores:
        raise ConfigError(f"--jobs {args.jobs} × --threads {args.threads or 1}: more than the {cores} cores here; "
                          "lower them so jobs × threads ≤ cores")
    train_size = args.train_size if args.train_size is not None else profile.train_size
    if args.dataset is not None and args.dataset != profile.dataset and args.train_size is None:
        train_size = None  # the profile's subset size belongs to the profile's dataset
    if train_size == "all":
        train_size = None
    return Options(seeds=args.seeds or profile.seeds, epochs=args.epochs or profile.epochs,
                   dataset=args.dataset or profile.dataset, train_size=train_size, out=Path(args.out),
                   jobs=args.jobs, quick=args.quick,
                   threads=args.threads or 1, vectorize=getattr(args, "vectorize", False))


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of `base` with `overrides` merged in (mappings merged key by key, anything else replaced)."""
    out = json.loads(json.dumps(base))
    for key, value in overrides.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) \
            else json.loads(json.dumps(value))
    return out


def run_config(study: Study, variant: Variant, seed: int, options: Options, threads: int) -> dict[str, Any]:
    """The raw config of one run: base ← options (data, epochs, seed, threads) ← the variant's overrides."""
    data = {**DATA[options.dataset], "train_limit": options.train_size}
    common = {"name": f"{study.name}-{variant.name}", "seed": seed, "data": data,
              "training": {"epochs": options.epochs, "threads": threads}}
    return merge(merge(study.base, common), variant.overrides)


def tasks_of(study: Study, options: Options) -> list[Task]:
    return [Task(study.name, v.name, v.labels, seed, run_config(study, v, seed, options, options.threads),
                 str(options.out / v.name / f"seed-{seed}"), study.target, 1 / CLASSES[options.dataset],
                 study.measure)
            for seed in range(options.seeds) for v in study.variants]  # seed-major: load drift spreads evenly


def run_one(task: Task) -> tuple[dict[str, Any], bool]:
    """Train one task into its folder (or read back its finished row); returns (row, trained now)."""
    import contextlib

    from dnnconf.config import config_from_dict
    from dnnconf.errors import Diverged
    from dnnconf.run import train
    from dnnconf.safe_write import write_atomic

    folder = Path(task.folder)
    if (folder / ROW_FILE).is_file():
        row = json.loads((folder / ROW_FILE).read_text())
        if task.measure is None or all(column in row for column in task.measure.columns):
            return row, False
        row = measured(task, folder, row)  # finished before the study measured this: measured now, not retrained
        write_atomic(folder / ROW_FILE, json.dumps(row))
        return row, False
    config = config_from_dict(task.raw, task.raw["name"])
    resume = folder if (folder / "checkpoint" / "LATEST").is_file() else None
    diverged = False
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the runs' epoch lines: the study prints its own
            train(config, None if resume else folder, resume=resume, force=True, quiet=True, plots=False)
    except Diverged:
        diverged = True
    row = measured(task, folder, row_of(task, folder, diverged))
    write_atomic(folder / ROW_FILE, json.dumps(row))
    return row, True


def run_group(tasks: list[Task]) -> list[tuple[dict[str, Any], bool]]:
    """Train tasks of one variant with consecutive seeds as one batched run (`training.parallel_seeds`) into
    their variant's folder, whose `seed-<s>/` member folders are the tasks' folders; each task's
    (row, trained now). Falls back to `run_one` per task when the config cannot be batched."""
    import contextlib

    from dnnconf.config import config_from_dict
    from dnnconf.errors import Diverged, NotBatchable
    from dnnconf.run import train
    from dnnconf.safe_write import write_atomic
    from dnnconf.train.loop import DIVERGED

    if len(tasks) == 1:
        return [run_one(tasks[0])]
    folder = Path(tasks[0].folder).parent
    raw = merge(tasks[0].raw, {"training": {"parallel_seeds": len(tasks)}})
    config = config_from_dict(raw, raw["name"])
    resume = folder if _same_group(folder, config) else None
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            train(config, None if resume else folder, resume=resume, force=True, quiet=True, plots=False)
    except Diverged:
        pass  # the diverged members' folders say so (their stop reason); the others finished
    except NotBatchable:
        return [run_one(task) for task in tasks]  # seed by seed
    out = []
    for task in tasks:
        member = Path(task.folder)
        metrics = json.loads((member / "metrics.json").read_text())
        row = measured(task, member, row_of(task, member, metrics.get("stop_reason") == DIVERGED))
        write_atomic(member / ROW_FILE, json.dumps(row))
        out.append((row, True))
    return out


def _same_group(folder: Path, config: Any) -> bool:
    """Whether `folder` holds an interrupted batched run of exactly these seeds (then it is resumed)."""
    import yaml

    if not (folder / "checkpoint" / "LATEST").is_file() or not (folder / "config.yaml").is_file():
        return False
    saved = yaml.safe_load((folder / "config.yaml").read_text())
    return saved.get("seed") == config.seed and saved.get("training", {}).get("parallel_seeds") == \
        config.training.parallel_seeds


def groups_of(tasks: list[Task], indices: list[int], vectorize: bool) -> list[list[int]]:
    """The units of work: one task each, or with `vectorize` a variant's consecutive seeds together."""
    if not vectorize:
        return [[index] for index in indices]
    by_variant: dict[str, list[int]] = {}
    for index in indices:
        by_variant.setdefault(tasks[index].variant, []).append(index)
    groups = []
    for members in by_variant.values():
        members.sort(key=lambda index: tasks[index].seed)
        group = [members[0]]
        for index in members[1:]:
            if tasks[index].seed == tasks[group[-1]].seed + 1:
                group.append(index)
            else:
                groups.append(group)
                group = [index]
        groups.append(group)
    return groups


def read_history(folder: Path) -> list[dict[str, float]]:
    path = folder / "history.csv"
    if not path.is_file():
        return []
    with path.open() as handle:
        return [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(handle)]


def epochs_to_target(accuracies: list[float], target: float, chance: float) -> float | None:
    """Fractional epochs until the validation accuracy first reaches `target` (linear between epochs)."""
    before = chance
    for epoch, accuracy in enumerate(accuracies, start=1):
        if math.isfinite(accuracy) and accuracy >= target:
            return epoch - 1 + (target - before) / (accuracy - before) if accuracy > before else float(epoch)
        before = accuracy if math.isfinite(accuracy) else before
    return None


def row_of(task: Task, folder: Path, diverged: bool) -> dict[str, Any]:
    history = read_history(folder)
    metrics = json.loads((folder / "metrics.json").read_text()) if (folder / "metrics.json").is_file() else {}
    accuracies = [r.get("val_accuracy", math.nan) for r in history]
    finite = [a for a in accuracies if math.isfinite(a)]
    times = [r["time"] for r in history if "time" in r]
    reached = epochs_to_target(accuracies, task.target, task.chance) if task.target is not None else None
    loss = history[-1].get("val_loss", math.nan) if history else math.nan
    return {"study": task.study, "variant": task.variant, **task.labels, "seed": task.seed,
            "epochs_run": metrics.get("epochs", len(history)),
            "final_val_accuracy": finite[-1] if finite else None, "best_val_accuracy": max(finite, default=None),
            "final_val_loss": loss if math.isfinite(loss) else None,
            "test_accuracy": metrics.get("test", {}).get("accuracy"),
            "epochs_to_target": reached, "diverged": int(diverged),
            "seconds_per_epoch": statistics.median(times) if times else None,
            "stop_reason": metrics.get("stop_reason", ""), "folder": str(folder)}


def run_tasks(tasks: list[Task], jobs: int, log: Callable[[str], None], vectorize: bool = False
              ) -> list[dict[str, Any]]:
    """Every task's row, in the tasks' order; runs in `jobs` spawned worker processes when jobs > 1, and
    with `vectorize` each variant's seeds as one batched run (`run_group`)."""
    rows: dict[int, dict[str, Any]] = {}
    todo = []
    for index, task in enumerate(tasks):
        if (Path(task.folder) / ROW_FILE).is_file():
            rows[index] = run_one(task)[0]
        else:
            todo.append(index)
    if len(rows):
        log(f"{len(rows)} of {len(tasks)} runs already finished (read back)")
    started = time.perf_counter()

    def report(index: int, row: dict[str, Any]) -> None:
        rows[index] = row
        done = len(rows)
        outcome = "DIVERGED" if row["diverged"] else f"val acc {format_cell(row['final_val_accuracy'])}"
        log(f"[{done}/{len(tasks)}] {row['variant']} seed {row['seed']}: {outcome}, "
            f"{row['epochs_run']} epochs ({time.perf_counter() - started:.0f} s elapsed)")

    groups = groups_of(tasks, todo, vectorize)
    if jobs == 1:
        for group in groups:
            for index, (row, _) in zip(group, run_group([tasks[i] for i in group]), strict=True):
                report(index, row)
    elif groups:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {pool.submit(run_group, [tasks[i] for i in group]): group for group in groups}
            for future in as_completed(futures):
                for index, (row, _) in zip(futures[future], future.result(), strict=True):
                    report(index, row)
    return [rows[index] for index in range(len(tasks))]


def format_cell(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)
