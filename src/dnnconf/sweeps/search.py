"""Hyperparameter sweeps with Optuna over any config keys (the same key paths as `--set`).

The parts: the search space in `dnnconf.sweeps.space`, the options and the Optuna study in
`sweep_study`, the trials (objective, pruning, workers) in `sweep_trials`, the summary files in
`sweep_summary`. This module runs the sweep (`sweep`: validate, run the trials in --jobs processes,
write the summary) and re-exports their public names.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dnnconf.config import load_config
from dnnconf.errors import DnnconfError, RunFolderError
from dnnconf.sweeps.space import FIELDS, TYPES, Param, check_space, parse_param, read_space, yaml_text
from dnnconf.sweeps.study import (
    DIRECTIONS,
    METRICS,
    PRUNERS,
    SQLITE_TIMEOUT_S,
    SweepOptions,
    check_compatible,
    check_options,
    make_pruner,
    make_storage,
    open_study,
    require_optuna,
    resolve_direction,
    safe_url,
    study_exists,
)
from dnnconf.sweeps.summary import (
    best_config_yaml,
    best_table,
    best_trial_of,
    trials_rows,
    write_atomic_text,
    write_plots,
    write_summary,
    write_trials_csv,
)
from dnnconf.sweeps.trials import (
    Objective,
    PrintTrial,
    ReportToTrial,
    best_of,
    format_params,
    run_worker,
    trial_folder,
    worker_main,
)
from dnnconf.train.run_folder.naming import timestamped_folder

__all__ = [
    "DIRECTIONS", "FIELDS", "METRICS", "PRUNERS", "SQLITE_TIMEOUT_S", "TYPES", "Objective", "Param", "PrintTrial",
    "ReportToTrial", "SweepOptions", "SweepResult", "best_config_yaml", "best_of", "best_table", "check_compatible",
    "check_options", "check_space", "default_out", "format_params", "make_pruner", "make_storage", "open_study",
    "parse_param", "read_space", "resolve_direction", "run_worker", "split_trials", "sweep", "trial_folder",
    "trials_rows", "write_atomic_text", "write_plots", "write_summary", "write_trials_csv", "yaml_text",
]


@dataclass
class SweepResult:
    study: Any
    best: Any | None  # FrozenTrial of the best complete trial
    written: list[Path]
    notes: list[str]
    seconds: float


def default_out(name: str, root: Path = Path("runs")) -> Path:
    return timestamped_folder(f"sweep-{name}", root)


def split_trials(trials: int, jobs: int) -> list[int]:
    """`trials` shared among `jobs` workers (the first ones take one more); no worker gets zero."""
    jobs = min(jobs, trials)
    return [trials // jobs + (1 if i < trials % jobs else 0) for i in range(jobs)]


def sweep(options: SweepOptions) -> SweepResult:
    """Validate everything up front, run the trials (in --jobs processes), write the summary files."""
    require_optuna()
    import optuna


    check_options(options)
    params = read_space(options.space)
    check_space(options.config, options.sets, params, options.space)
    base = load_config(options.config, options.sets)
    study_name = options.study_name or base.name
    try:
        options.out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RunFolderError(f"--out {options.out}: cannot create the folder ({error.strerror})") from None
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    existed = study_exists(options, study_name)
    if not existed and any(options.out.glob("trial-*")):
        raise RunFolderError(f"--out {options.out}: holds the trials of another study; choose another --out, "
                             f"or the same --storage and --study-name to continue that study")
    study = open_study(options, study_name, options.seed)
    check_compatible(study, params, options.space)
    shares = split_trials(options.trials, options.jobs)
    jobs = len(shares)  # each worker's trials take the free cores / jobs (train/threads.py) unless training.threads
    before = len(study.get_trials(deepcopy=False))
    options.log(f"sweep {study_name}: {options.trials} trials in {len(shares)} worker(s), {options.metric} "
                f"({study.direction.name.lower()}), pruner {options.pruner}, {before} earlier trial(s) in "
                f"{safe_url(options.storage_url)}")
    for param in params:
        options.log(f"  {param.key:<32} {param.type:<12} {param.describe()}")
    started = time.perf_counter()
    if len(shares) == 1:
        run_worker(options, params, study_name, shares[0], 0, jobs)
    else:
        _run_processes(options, params, study_name, shares, jobs)
    seconds = time.perf_counter() - started
    study = optuna.load_study(study_name=study_name, storage=make_storage(options.storage_url))
    written, notes = write_summary(study, options, params)
    return SweepResult(study, best_trial_of(study), written, notes, seconds)


def _run_processes(options: SweepOptions, params: list[Param], study_name: str, shares: list[int],
                   jobs: int) -> None:
    """Spawn (not fork: torch's thread pools do not survive a fork) one process per worker but the
    first, which runs here."""
    context = multiprocessing.get_context("spawn")
    child = dataclasses.replace(options, log=None)  # a caller's logger may not pickle; workers print
    processes = [context.Process(target=worker_main, args=(child, params, study_name, n, i, jobs),
                                 name=f"sweep-worker-{i}") for i, n in enumerate(shares) if i > 0]
    for process in processes:
        process.start()
    try:
        run_worker(options, params, study_name, shares[0], 0, jobs)
    finally:
        for process in processes:
            process.join()
    failed = [p for p in processes if p.exitcode != 0]
    if failed:
        codes = ", ".join(f"{p.name}: {p.exitcode}" for p in failed)
        raise DnnconfError(f"{len(failed)} worker process(es) failed ({codes}); see their lines above")
