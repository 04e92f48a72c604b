"""The options of `dnnconf sweep` and its Optuna study: option checks, the pruner, the storage (one per URL
and process, shared by the workers) and the study, created or continued.
"""

from __future__ import annotations

import importlib.util
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dnnconf.errors import BadInput, ConfigError, RunFolderError
from dnnconf.registry import nearest

if TYPE_CHECKING:
    import optuna

    from dnnconf.sweeps.space import Param

METRICS = ("val_loss", "val_accuracy", "val_mae", "loss", "accuracy", "mae")
PRUNERS = ("median", "threshold", "none")
DIRECTIONS = ("auto", "minimize", "maximize")
SQLITE_TIMEOUT_S = 60  # workers sharing one SQLite file wait this long for its lock


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
        _STORAGES[url] = optuna.storages.RDBStorage(with_installed_driver(url), engine_kwargs=engine)
    return _STORAGES[url]


def require_optuna() -> None:
    """`dnnconf sweep` needs Optuna, an optional dependency (the `sweep` extra)."""
    try:
        import optuna  # noqa: F401
    except ImportError:
        raise BadInput("needs Optuna, which is not installed: pip install 'optuna>=5,<6' "
                       "(or, in a clone of dnnconf, pip install -e '.[sweep]', which adds the PostgreSQL "
                       "driver for --storage postgresql://)") from None


# the pip package of each database driver SQLAlchemy may name (its dialect's `driver`)
DRIVER_PACKAGES = {"psycopg": "psycopg[binary]", "psycopg2": "psycopg2-binary", "pg8000": "pg8000",
                   "asyncpg": "asyncpg", "pymysql": "pymysql", "mysqldb": "mysqlclient",
                   "mysqlconnector": "mysql-connector-python", "mariadbconnector": "mariadb",
                   "oracledb": "oracledb", "cx_oracle": "cx_Oracle", "pyodbc": "pyodbc", "pymssql": "pymssql"}
# for postgresql:// without a driver: the drivers tried in turn (SQLAlchemy 2.0 defaults to psycopg2,
# 2.1 to psycopg 3; either works, so the URL works as written with whichever is installed)
POSTGRES_DRIVERS = (("psycopg", "psycopg"), ("psycopg2", "psycopg2"), ("pg8000", "pg8000"))


def with_installed_driver(url: str) -> str:
    """`postgresql://…` naming the first installed PostgreSQL driver when SQLAlchemy's default for the
    bare scheme is missing; any other URL unchanged."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return url  # reported by open_study, with the cause
    if parsed.drivername != "postgresql":
        return url
    if installed(parsed.get_dialect().driver):
        return url
    for driver, module in POSTGRES_DRIVERS:
        if installed(module):
            return parsed.set(drivername=f"postgresql+{driver}").render_as_string(hide_password=False)
    return url


def installed(module: str) -> bool:
    """Whether `module` can be imported (found without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or a module stubbed out as None
        return False


def missing_driver_hint(url: str) -> str:
    """What to install for the URL's database driver, from the driver SQLAlchemy actually picks."""
    import sqlalchemy
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
        driver = parsed.get_dialect().driver
    except Exception:  # noqa: BLE001 - an unknown dialect: say what we know
        return "its database driver is not installed"
    package = DRIVER_PACKAGES.get(driver, driver)
    hint = (f"SQLAlchemy {sqlalchemy.__version__} opens {parsed.drivername}:// with the {driver} driver, which "
            f"is not installed: pip install '{package}'")
    if parsed.get_backend_name() == "postgresql":
        hint += (" (or pip install -e '.[sweep]' in a clone of dnnconf; postgresql+psycopg:// takes "
                 "psycopg[binary], postgresql+psycopg2:// psycopg2-binary)")
    return hint


def open_study(options: SweepOptions, study_name: str, seed: int | None) -> optuna.Study:
    """Create the study, or load it when the storage already holds one of that name (shared sweeps)."""
    import optuna
    import sqlalchemy.exc

    direction = resolve_direction(options.metric, options.direction)
    where = safe_url(options.storage_url)  # messages never show a password
    last: Exception | None = None
    for attempt in range(5):  # processes started together race to create the tables and the study
        try:
            storage = make_storage(options.storage_url)
            study = optuna.create_study(storage=storage, study_name=study_name, direction=direction,
                                        load_if_exists=True, pruner=make_pruner(options),
                                        sampler=optuna.samplers.TPESampler(seed=seed))
            break
        except sqlalchemy.exc.DatabaseError as error:  # e.g. two workers creating the same table at once
            last = error
            time.sleep(0.5 + attempt)
        except sqlalchemy.exc.ArgumentError as error:
            raise BadInput(f"--storage {where}: not a database URL ({error})") from None
        except ImportError:  # the URL's database driver is not installed
            raise BadInput(f"--storage {where}: {missing_driver_hint(options.storage_url)}") from None
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


def safe_url(url: str) -> str:
    """The storage URL without its password."""
    head, sep, tail = url.partition("://")
    if "@" in tail:
        credentials, _, host = tail.rpartition("@")
        user = credentials.split(":")[0]
        return f"{head}{sep}{user}:***@{host}"
    return url


def study_exists(options: SweepOptions, study_name: str) -> bool:
    import optuna

    if options.storage is None and not (options.out / "study.db").exists():
        return False
    try:
        return study_name in optuna.get_all_study_names(make_storage(options.storage_url))
    except Exception:  # noqa: BLE001 - an unreachable storage is reported by open_study, with its cause
        return False
