"""Hyperparameter sweeps with Optuna over any config keys (the same key paths as `--set`).

The search space is a YAML mapping, one entry per key path:

    optimizer.learning_rate: {type: float, low: 1.0e-4, high: 1.0e-1, log: true}
    model.activation: {type: categorical, choices: [relu, elu, swish]}
    training.batch_size: {type: int, low: 16, high: 256, log: true}
    model.hidden: {type: categorical, choices: [[300, 100], [100, 50]]}   # lists/mappings work too

`float` and `int` take `low`, `high` and optionally `log` or `step`; `categorical` takes `choices`.
Every key path is checked up front: its lowest and highest value (each choice) are applied through
`load_config(CONFIG, [*--set, KEY=VALUE])`, so a misspelt key or an out-of-range value stops the sweep
before the first trial, with one line naming the key.

Each trial samples the space, builds its config through overrides and trains it with `dnnconf.run.train`
into `OUT/trial-NNNN/`, a normal run folder (plus train.log, the per-epoch lines). After every epoch the
monitored validation metric is reported to Optuna (step = epoch - 1, Optuna's 0-based convention); when
the pruner says so, training stops at the end of that epoch and the trial is recorded as PRUNED. A run
that diverges (NaN loss or weights) is recorded as PRUNED with the note `diverged: …`, so samplers such
as TPE rank it among the worst instead of ignoring it. A sampled combination that the config rejects is
recorded as FAIL with its note.

The objective value is the best value of the metric over the trial's epochs (lowest loss, highest
accuracy). With early stopping's `restore_best_weights` (the default) that is exactly the value of the
weights saved in the trial's folder; without it the folder holds the last epoch's weights, and the value
still measures what the configuration reached.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import math
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from dnnconf.errors import BadInput, ConfigError, DnnconfError, RunFolderError
from dnnconf.registry import nearest
from dnnconf.train.callbacks import Listener

if TYPE_CHECKING:
    import optuna

    from dnnconf.train.loop import Loop

TYPES = ("float", "int", "categorical")
FIELDS = {"float": ("type", "low", "high", "log", "step"), "int": ("type", "low", "high", "log", "step"),
          "categorical": ("type", "choices")}
METRICS = ("val_loss", "val_accuracy", "val_mae", "loss", "accuracy", "mae")
PRUNERS = ("median", "threshold", "none")
DIRECTIONS = ("auto", "minimize", "maximize")
SQLITE_TIMEOUT_S = 60  # workers sharing one SQLite file wait this long for its lock


# ------------------------------------------------------------------------------------------ space


def yaml_text(value: Any) -> str:
    """`value` as the YAML text of a `--set KEY=VALUE` override (loading it gives `value` back)."""
    text = yaml.safe_dump(value, default_flow_style=True, width=math.inf, allow_unicode=True).strip()
    return text.removesuffix("...").strip()


def _primitive(value: Any) -> bool:
    return value is None or isinstance(value, bool | int | float | str)


@dataclass
class Param:
    """One entry of the search space: a config key path and the values it may take."""

    key: str
    type: str
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: list[Any] = field(default_factory=list)

    @property
    def encoded(self) -> bool:
        """Categorical choices that are lists or mappings go to Optuna as their YAML text."""
        return self.type == "categorical" and not all(_primitive(c) for c in self.choices)

    def distribution(self) -> Any:
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        if self.type == "float":
            return FloatDistribution(self.low, self.high, log=self.log, step=self.step)
        if self.type == "int":
            return IntDistribution(self.low, self.high, log=self.log, step=self.step or 1)
        return CategoricalDistribution([yaml_text(c) for c in self.choices] if self.encoded else self.choices)

    def suggest(self, trial: optuna.Trial) -> Any:
        """The sampled value as Optuna stores it (the YAML text for encoded choices)."""
        if self.type == "float":
            return trial.suggest_float(self.key, self.low, self.high, log=self.log, step=self.step)
        if self.type == "int":
            return trial.suggest_int(self.key, self.low, self.high, log=self.log, step=self.step or 1)
        return trial.suggest_categorical(self.key, self.distribution().choices)

    def override(self, value: Any) -> str:
        return f"{self.key}={value if self.encoded else yaml_text(value)}"

    def samples(self) -> list[Any]:
        """The values checked up front: both ends of a range, every choice."""
        if self.type == "categorical":
            return [yaml_text(c) for c in self.choices] if self.encoded else list(self.choices)
        high = self.high
        if self.step:  # the highest value on the grid
            high = self.low + (self.high - self.low) // self.step * self.step
        return [self.low, high]

    def describe(self) -> str:
        if self.type == "categorical":
            return "{" + ", ".join(yaml_text(c) for c in self.choices) + "}"
        extra = " log" if self.log else (f" step {self.step:g}" if self.step else "")
        return f"[{self.low:g}, {self.high:g}]{extra}"


def _number(space: str, key: str, entry: dict[str, Any], name: str, integer: bool) -> float | int:
    value = entry.get(name)
    kind = "an integer" if integer else "a number"
    if value is None:
        raise ConfigError(f"{space}: {key}: `{name}` is missing; a {entry['type']} range needs low and high")
    if isinstance(value, str):  # PyYAML reads 1e-4 (no dot) as a string
        try:
            value = float(value)
        except ValueError:
            raise ConfigError(f"{space}: {key}.{name}: expected {kind} (received {value!r})") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{space}: {key}.{name}: expected {kind} (received {value!r})")
    if integer:
        if value != int(value):
            raise ConfigError(f"{space}: {key}.{name}: expected an integer for an int range (received {value!r})")
        return int(value)
    return float(value)


def parse_param(space: str, key: Any, entry: Any) -> Param:
    """Validate one entry of the space; every error is one line naming the file and the key."""
    if not isinstance(key, str) or not key or not all(key.split(".")):
        raise ConfigError(f"{space}: {key!r}: expected a config key path such as optimizer.learning_rate")
    if not isinstance(entry, dict):
        raise ConfigError(f"{space}: {key}: expected a mapping such as {{type: float, low: 1.0e-4, high: 0.1, "
                          f"log: true}} (received {entry!r})")
    kind = entry.get("type")
    if kind not in TYPES:
        hint = nearest(str(kind), list(TYPES)) if isinstance(kind, str) else ""
        missing = "`type` is missing" if kind is None else f"unknown type {kind!r}{hint}"
        raise ConfigError(f"{space}: {key}: {missing}; accepted: {', '.join(TYPES)}")
    unknown = [name for name in entry if name not in FIELDS[kind]]
    if unknown:
        raise ConfigError(f"{space}: {key}: unknown field {unknown[0]!r}{nearest(str(unknown[0]), FIELDS[kind])} "
                          f"for type {kind}; accepted: {', '.join(FIELDS[kind])}")
    if kind == "categorical":
        choices = entry.get("choices")
        if choices is None:
            raise ConfigError(f"{space}: {key}: categorical needs `choices`, a list such as [relu, elu, swish]")
        if not isinstance(choices, list) or not choices:
            raise ConfigError(f"{space}: {key}.choices: expected a non-empty list (received {choices!r})")
        texts = [yaml_text(c) for c in choices]
        duplicate = next((t for i, t in enumerate(texts) if t in texts[:i]), None)
        if duplicate is not None:
            raise ConfigError(f"{space}: {key}.choices: {duplicate} is listed twice")
        return Param(key, kind, choices=choices)
    integer = kind == "int"
    low, high = _number(space, key, entry, "low", integer), _number(space, key, entry, "high", integer)
    if low >= high:
        raise ConfigError(f"{space}: {key}: low must be below high (received low {low:g}, high {high:g})")
    log = entry.get("log", False)
    if not isinstance(log, bool):
        raise ConfigError(f"{space}: {key}.log: expected true or false (received {log!r})")
    if log and low <= 0:
        raise ConfigError(f"{space}: {key}: a log range needs low > 0 (received low {low:g})")
    step = None
    if entry.get("step") is not None:
        step = _number(space, key, entry, "step", integer)
        if step <= 0:
            raise ConfigError(f"{space}: {key}.step: expected a positive step (received {step:g})")
        if log and not (integer and step == 1):
            raise ConfigError(f"{space}: {key}: `step` and `log: true` cannot be combined; drop one")
        if step > high - low:
            raise ConfigError(f"{space}: {key}.step: {step:g} is wider than the range [{low:g}, {high:g}]")
    return Param(key, kind, low, high, log, step)


def read_space(path: str | Path) -> list[Param]:
    """Read and validate a search-space file (the values are not yet checked against a config)."""
    from dnnconf.config.load import read_yaml

    path = Path(path)
    raw = read_yaml(path, "file")  # a search space, not a config
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f"{path}: expected a mapping of config key paths to ranges, e.g. "
                          f"optimizer.learning_rate: {{type: float, low: 1.0e-4, high: 0.1, log: true}}")
    return [parse_param(str(path), key, entry) for key, entry in raw.items()]


def check_space(config_path: str | Path, sets: list[str], params: list[Param], space: str | Path) -> None:
    """Apply each key's extreme values (each choice) to the config, one at a time; errors name the key."""
    from dnnconf.config import load_config

    load_config(config_path, sets)  # the base config's own errors first, with their own message
    for param in params:
        for value in param.samples():
            override = param.override(value)
            try:
                load_config(config_path, [*sets, override])
            except ConfigError as error:
                raise ConfigError(f"{space}: {param.key}: the value {override.partition('=')[2]} does not fit "
                                  f"the config: {error}") from None


# ------------------------------------------------------------------------------------------ options


@dataclass
class SweepOptions:
    config: str
    space: str
    trials: int
    out: Path
    storage: str | None = None  # None: sqlite:///OUT/study.db
    study_name: str | None = None  # None: the config's name
    jobs: int = 1
    sets: list[str] = field(default_factory=list)
    metric: str = "val_loss"
    direction: str = "auto"
    pruner: str = "median"
    threshold: float | None = None
    seed: int | None = None
    log: Any = print

    @property
    def storage_url(self) -> str:
        return self.storage or f"sqlite:///{(self.out / 'study.db').resolve()}"


def resolve_direction(metric: str, direction: str) -> str:
    """auto: maximize accuracies, minimize everything else (losses, mae), as early stopping's mode auto."""
    if direction != "auto":
        return direction
    return "maximize" if "acc" in metric else "minimize"


def check_options(options: SweepOptions) -> None:
    if options.trials < 1:
        raise BadInput(f"--trials {options.trials}: expected at least 1")
    if options.jobs < 1:
        raise BadInput(f"--jobs {options.jobs}: expected at least 1")
    if options.metric not in METRICS:
        raise BadInput(f"--metric {options.metric!r}: not a logged metric{nearest(options.metric, list(METRICS))}; "
                       f"accepted: {', '.join(METRICS)}")
    if options.direction not in DIRECTIONS:
        raise BadInput(f"--direction {options.direction!r}: accepted: {', '.join(DIRECTIONS)}")
    if options.pruner not in PRUNERS:
        raise BadInput(f"--pruner {options.pruner!r}: accepted: {', '.join(PRUNERS)}")
    if options.pruner == "threshold" and (options.threshold is None or not math.isfinite(options.threshold)):
        raise BadInput("--pruner threshold needs --threshold VALUE (prune a trial whose metric is worse)")
    if options.storage is not None and ":memory:" in options.storage and options.jobs > 1:
        raise BadInput(f"--storage {options.storage}: --jobs {options.jobs} needs a file or database storage "
                       f"the workers share, e.g. sqlite:///sweep.db")
    if options.out.exists() and not options.out.is_dir():
        raise RunFolderError(f"--out {options.out}: exists and is not a folder")


def make_pruner(options: SweepOptions) -> Any:
    import optuna

    if options.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
    if options.pruner == "threshold":
        bound = options.threshold
        if resolve_direction(options.metric, options.direction) == "minimize":
            return optuna.pruners.ThresholdPruner(upper=bound)
        return optuna.pruners.ThresholdPruner(lower=bound)
    return optuna.pruners.NopPruner()


_STORAGES: dict[str, Any] = {}


def make_storage(url: str) -> Any:
    """One RDBStorage per URL and process (opening one checks the schema: ~0.5 s)."""
    import optuna

    if url not in _STORAGES:
        engine = {"connect_args": {"timeout": SQLITE_TIMEOUT_S}} if url.startswith("sqlite") else None
        _STORAGES[url] = optuna.storages.RDBStorage(url, engine_kwargs=engine)
    return _STORAGES[url]


def open_study(options: SweepOptions, study_name: str, seed: int | None) -> optuna.Study:
    """Create the study, or load it when the storage already holds one of that name (shared sweeps)."""
    import optuna
    import sqlalchemy.exc

    direction = resolve_direction(options.metric, options.direction)
    where = _safe_url(options.storage_url)  # messages never show a password
    last: Exception | None = None
    for attempt in range(5):  # processes started together race to create the tables and the study
        try:
            storage = make_storage(options.storage_url)
            study = optuna.create_study(storage=storage, study_name=study_name, direction=direction,
                                        load_if_exists=True, pruner=make_pruner(options),
                                        sampler=optuna.samplers.TPESampler(seed=seed))
            break
        except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.IntegrityError) as error:
            last = error
            time.sleep(0.5 + attempt)
        except sqlalchemy.exc.ArgumentError as error:
            raise BadInput(f"--storage {where}: not a database URL ({error})") from None
        except ImportError as error:  # e.g. postgresql:// without psycopg2
            raise BadInput(f"--storage {where}: its database driver is missing ({error}); e.g. "
                           f"pip install psycopg2-binary for postgresql://, pymysql for mysql+pymysql://") from None
    else:
        message = str(last).splitlines()[0] if last else "unknown error"
        raise BadInput(f"--storage {where}: cannot open the study ({message})")
    wanted = optuna.study.StudyDirection.MINIMIZE if direction == "minimize" else optuna.study.StudyDirection.MAXIMIZE
    if study.direction != wanted:
        raise BadInput(f"--study-name {study_name}: the study in {where} is set to "
                       f"{study.direction.name.lower()}, not {direction}; use another --study-name")
    return study


def check_compatible(study: optuna.Study, params: list[Param], space: str) -> None:
    """A study being continued must have seen each key with the same kind of distribution."""
    from optuna.distributions import check_distribution_compatibility

    seen: dict[str, Any] = {}
    for trial in study.get_trials(deepcopy=False):
        seen.update(trial.distributions)
    for param in params:
        if param.key in seen:
            try:
                check_distribution_compatibility(seen[param.key], param.distribution())
            except ValueError as error:
                raise ConfigError(f"{space}: {param.key}: the study {study.study_name} already sampled it "
                                  f"differently ({error}); use another --study-name or --out") from None


# ------------------------------------------------------------------------------------------ trials


class ReportToTrial(Listener):
    """After each epoch: report the monitored metric; stop training when the pruner says so (not after the
    last epoch: a trial that trained all its epochs completes with its value)."""

    def __init__(self, trial: optuna.Trial, metric: str, pruner_name: str):
        self.trial, self.metric, self.pruner_name = trial, metric, pruner_name
        self.pruned_at: int | None = None

    def on_epoch_end(self, loop: Loop, logs: dict[str, float]) -> None:
        if self.metric not in logs:
            known = ", ".join(k for k in logs if k not in ("epoch", "time", "lr", "grad_norm", "momentum"))
            raise BadInput(f"--metric {self.metric}: not logged by this run (no validation split, or another "
                           f"loss); logged: {known}")
        value = float(logs[self.metric])
        step = loop.state.epoch - 1
        self.trial.report(value, step)
        # after the last epoch nothing is left to save: the trial completes with its value
        if loop.state.epoch < loop.epochs and self.trial.should_prune():
            self.pruned_at = loop.state.epoch
            loop.state.stop = True
            loop.state.stop_reason = (f"pruned by the sweep's {self.pruner_name} pruner after epoch "
                                      f"{loop.state.epoch} ({self.metric} {value:.4f})")


def best_of(history: list[dict[str, float]], metric: str, direction: str) -> tuple[float, int]:
    """The best value of `metric` over the epochs, and its epoch."""
    pick = min if direction == "minimize" else max
    row = pick((r for r in history if metric in r and math.isfinite(r[metric])), key=lambda r: r[metric])
    return float(row[metric]), int(row["epoch"])


def trial_folder(out: Path, number: int) -> Path:
    return out / f"trial-{number:04d}"


class Objective:
    """Picklable: each worker process builds one from the options and the parsed space."""

    def __init__(self, options: SweepOptions, params: list[Param]):
        self.options, self.params = options, params
        self.direction = resolve_direction(options.metric, options.direction)

    def __call__(self, trial: optuna.Trial) -> float:
        import optuna

        from dnnconf.config import load_config
        from dnnconf.errors import Diverged
        from dnnconf.run import train

        options = self.options
        overrides = [param.override(param.suggest(trial)) for param in self.params]
        try:
            config = load_config(options.config, [*options.sets, *overrides])
        except ConfigError as error:
            trial.set_user_attr("note", f"invalid combination: {error}")
            raise
        folder = trial_folder(options.out, trial.number)
        trial.set_user_attr("folder", str(folder.resolve()))
        trial.set_user_attr("worker", f"{os.uname().nodename}:{os.getpid()}")
        listener = ReportToTrial(trial, options.metric, options.pruner)
        captured = io.StringIO()
        try:
            with contextlib.redirect_stdout(captured):
                result = train(config, folder, quiet=True, listeners=(listener,))
        except Diverged as error:
            trial.set_user_attr("note", str(error).removeprefix(f"{folder}: ").split(";")[0])  # training diverged …
            raise optuna.TrialPruned(f"diverged: {error}") from None
        finally:
            if folder.is_dir():
                (folder / "train.log").write_text(captured.getvalue())
        history = result.state.history
        value, epoch = best_of(history, options.metric, self.direction)
        trial.set_user_attr("epochs", result.state.epoch)
        trial.set_user_attr("best_epoch", epoch)
        for key, metric in result.test.items():
            trial.set_user_attr(f"test_{key}", float(metric))
        if listener.pruned_at is not None:
            trial.set_user_attr("note", f"pruned after epoch {listener.pruned_at}")
            raise optuna.TrialPruned(result.state.stop_reason)
        return value


def format_params(params: dict[str, Any]) -> str:
    parts = []
    for key, value in params.items():
        parts.append(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}")
    return " ".join(parts)


class PrintTrial:
    """One line per finished trial: number, state, value, params (and the best so far)."""

    def __init__(self, metric: str, log: Any = print):
        self.metric, self.log = metric, log

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        state = trial.state.name.lower()
        value = f"{self.metric} {trial.value:.4f}" if trial.value is not None else f"{self.metric} -"
        seconds = trial.duration.total_seconds() if trial.duration else 0.0
        line = f"trial {trial.number:>4}  {state:<8}  {value}  {format_params(trial.params)}  {seconds:.1f}s"
        note = trial.user_attrs.get("note")
        if note and trial.state.name != "COMPLETE":
            line += f"  ({note})"
        try:
            best = study.best_trial
            line += f"  [best: trial {best.number}, {best.value:.4f}]"
        except ValueError:
            pass  # no trial completed yet
        self.log(line)


def run_worker(options: SweepOptions, params: list[Param], study_name: str, n_trials: int, index: int,
               threads: int | None) -> None:
    """One Optuna worker: load the shared study and run `n_trials` trials in it."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # our own line per trial says it all
    if threads:
        import torch

        torch.set_num_threads(threads)
    try:
        from dnnconf.cli import _tune_malloc

        _tune_malloc()
    except ImportError:
        pass
    seed = None if options.seed is None else options.seed + index  # workers must not draw the same points
    study = open_study(options, study_name, seed)
    study.optimize(Objective(options, params), n_trials=n_trials, catch=(ConfigError,),
                   callbacks=[PrintTrial(options.metric, options.log)], gc_after_trial=True)


def _worker_main(options: SweepOptions, params: list[Param], study_name: str, n_trials: int, index: int,
                 threads: int | None) -> None:
    """Entry point of a spawned worker: errors become one line and the exit code."""
    options.log = _print_flush
    try:
        run_worker(options, params, study_name, n_trials, index, threads)
    except DnnconfError as error:
        print(f"dnnconf sweep (worker {index}): {error}", file=sys.stderr, flush=True)
        sys.exit(error.exit_code)


def _print_flush(*args: Any) -> None:
    print(*args, flush=True)


# ------------------------------------------------------------------------------------------ the sweep


@dataclass
class SweepResult:
    study: Any
    best: Any | None  # FrozenTrial of the best complete trial
    written: list[Path]
    notes: list[str]
    seconds: float


def default_out(name: str, root: Path = Path("runs")) -> Path:
    from dnnconf.run import timestamped_folder

    return timestamped_folder(f"sweep-{name}", root)


def split_trials(trials: int, jobs: int) -> list[int]:
    """`trials` shared among `jobs` workers (the first ones take one more); no worker gets zero."""
    jobs = min(jobs, trials)
    return [trials // jobs + (1 if i < trials % jobs else 0) for i in range(jobs)]


def sweep(options: SweepOptions) -> SweepResult:
    """Validate everything up front, run the trials (in --jobs processes), write the summary files."""
    import optuna

    from dnnconf.config import load_config

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
    existed = _study_exists(options, study_name)
    if not existed and any(options.out.glob("trial-*")):
        raise RunFolderError(f"--out {options.out}: holds the trials of another study; choose another --out, "
                             f"or the same --storage and --study-name to continue that study")
    study = open_study(options, study_name, options.seed)
    check_compatible(study, params, options.space)
    shares = split_trials(options.trials, options.jobs)
    threads = None
    if len(shares) > 1 and base.training.threads is None:
        threads = max(1, (os.cpu_count() or 1) // len(shares))
    before = len(study.get_trials(deepcopy=False))
    options.log(f"sweep {study_name}: {options.trials} trials in {len(shares)} worker(s), {options.metric} "
                f"({study.direction.name.lower()}), pruner {options.pruner}, {before} earlier trial(s) in "
                f"{_safe_url(options.storage_url)}")
    for param in params:
        options.log(f"  {param.key:<32} {param.type:<12} {param.describe()}")
    started = time.perf_counter()
    if len(shares) == 1:
        run_worker(options, params, study_name, shares[0], 0, threads)
    else:
        _run_processes(options, params, study_name, shares, threads)
    seconds = time.perf_counter() - started
    study = optuna.load_study(study_name=study_name, storage=make_storage(options.storage_url))
    written, notes = write_summary(study, options, params)
    return SweepResult(study, _best(study), written, notes, seconds)


def _safe_url(url: str) -> str:
    """The storage URL without its password."""
    head, sep, tail = url.partition("://")
    if "@" in tail:
        credentials, _, host = tail.rpartition("@")
        user = credentials.split(":")[0]
        return f"{head}{sep}{user}:***@{host}"
    return url


def _study_exists(options: SweepOptions, study_name: str) -> bool:
    import optuna

    if options.storage is None and not (options.out / "study.db").exists():
        return False
    try:
        return study_name in optuna.get_all_study_names(make_storage(options.storage_url))
    except Exception:  # noqa: BLE001 - an unreachable storage is reported by open_study, with its cause
        return False


def _run_processes(options: SweepOptions, params: list[Param], study_name: str, shares: list[int],
                   threads: int | None) -> None:
    """Spawn (not fork: torch's thread pools do not survive a fork) one process per worker but the
    first, which runs here."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    child = dataclasses.replace(options, log=None)  # a caller's logger may not pickle; workers print
    processes = [context.Process(target=_worker_main, args=(child, params, study_name, n, i, threads),
                                 name=f"sweep-worker-{i}") for i, n in enumerate(shares) if i > 0]
    for process in processes:
        process.start()
    try:
        run_worker(options, params, study_name, shares[0], 0, threads)
    finally:
        for process in processes:
            process.join()
    failed = [p for p in processes if p.exitcode != 0]
    if failed:
        codes = ", ".join(f"{p.name}: {p.exitcode}" for p in failed)
        raise DnnconfError(f"{len(failed)} worker process(es) failed ({codes}); see their lines above")


def _best(study: Any) -> Any | None:
    try:
        return study.best_trial
    except ValueError:
        return None


# ------------------------------------------------------------------------------------------ summary


def write_atomic_text(path: Path, text: str) -> None:
    """Write via a temporary name unique to this process: several sweeps may write the same summary."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def best_config_yaml(study: Any, best: Any, options: SweepOptions, params: list[Param]) -> str:
    """The best trial's resolved config (its run folder's config.yaml, validated and dumped again); when the
    folder is on another machine, this command's config with the trial's parameters."""
    from dnnconf.config import dump_config, load_config
    from dnnconf.run import load_run_config

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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
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
            figure.savefig(path, dpi=110)
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
    best = _best(study)
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
