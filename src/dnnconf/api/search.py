"""The API's searches over configs: `sweep` (Optuna over config keys) and `study` (the note's claims
re-measured over seeds)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dnnconf.api.inputs import as_config, optional_path, silenced, silent
from dnnconf.errors import BadInput, RunFolderError
from dnnconf.registry import nearest
from dnnconf.safe_write import write_atomic

if TYPE_CHECKING:
    from dnnconf.results import StudySummary, SweepSummary

# Every import of dnnconf's heavy parts is inside a function: `import dnnconf.api` must not import torch.


def sweep(config: Any, space: str | Path | dict, trials: int, *, overrides: Sequence[str] = (),
          out: str | Path | None = None, storage: str | None = None, study_name: str | None = None, jobs: int = 1,
          metric: str = "val_loss", direction: str = "auto", pruner: str = "median", threshold: float | None = None,
          seed: int | None = None, quiet: bool = False) -> SweepSummary:
    """An Optuna search over config keys, as `dnnconf sweep`: `space` maps key paths to ranges (a YAML path
    or a mapping: `{"optimizer.learning_rate": {"type": "float", "low": 1e-4, "high": 0.1, "log": True}}`);
    each of `trials` trains into OUT/trial-NNNN/; OUT gets best.yaml, trials.csv, plots/. A config or space
    given as data is written into OUT (base.yaml, space.yaml) for the trials to read. Returns a `SweepSummary`."""
    import yaml

    from dnnconf.config import dump_config
    from dnnconf.results import SweepSummary, read_csv_rows
    from dnnconf.sweeps.search import SweepOptions, default_out
    from dnnconf.sweeps.search import sweep as search

    resolved = as_config(config, overrides)
    folder = optional_path(out, "out") or default_out(resolved.name)
    config_path = space_path = None
    if isinstance(config, str | Path) and not Path(config).is_dir():
        config_path = str(config)
    if isinstance(space, str | Path):
        space_path = str(space)
    elif not isinstance(space, dict):
        raise BadInput(f"space (--space): expected a YAML path or a mapping (received {type(space).__name__})")
    if config_path is None or space_path is None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise RunFolderError(f"out (--out) {folder}: cannot create the folder ({error.strerror})") from None
    if config_path is None:
        config_path = str(folder / "base.yaml")
        write_atomic(Path(config_path), dump_config(resolved))
        overrides = ()  # applied already
    if space_path is None:
        space_path = str(folder / "space.yaml")
        write_atomic(Path(space_path), yaml.safe_dump(space, sort_keys=False))
    options = SweepOptions(config=config_path, space=space_path, trials=trials, out=folder, storage=storage,
                           study_name=study_name, jobs=jobs, sets=list(overrides), metric=metric,
                           direction=direction, pruner=pruner, threshold=threshold, seed=seed,
                           log=silent if quiet else print)
    with silenced(quiet):
        result = search(options)
    best = None if result.best is None else {"number": result.best.number, "value": result.best.value,
                                             "params": dict(result.best.params)}
    best_yaml = folder / "best.yaml"
    return SweepSummary(folder, metric, best, best_yaml if best_yaml.is_file() else None,
                        read_csv_rows(folder / "trials.csv"), [p for p in result.written if p.suffix == ".png"],
                        result.notes, result.seconds, result.study)


class _RaisingParser(argparse.ArgumentParser):
    """argparse for Python callers: a bad option raises BadInput instead of exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise BadInput(f"{self.prog}: {message}")


def study(name: str, *, quiet: bool = False, **options: Any) -> StudySummary:
    """Re-measure one of the note's claims over several seeds, as `dnnconf study NAME`: the options are the
    study's flags as keywords (seeds, epochs, dataset, train_size, out, jobs, threads, quick=True, …;
    `dnnconf study NAME --help` lists them). Finished runs in `out` are read back, not redone. Returns a
    `StudySummary` (`rows`, one a run; `summary`, the markdown table; `plots`)."""
    from dnnconf.results import StudySummary
    from dnnconf.studies import STUDIES, get_study

    if name not in STUDIES:
        raise BadInput(f"study {name!r}: not one of the known studies{nearest(name, list(STUDIES))}; "
                       f"known: {', '.join(STUDIES)}")
    module = get_study(name)
    chosen = _RaisingParser(prog=f"dnnconf study {name}")
    module.add_arguments(chosen)
    accepted = {action.dest: action for action in chosen._actions if action.option_strings and action.dest != "help"}
    argv: list[str] = []
    for key, value in options.items():
        if key not in accepted:
            raise BadInput(f"study {name}: unknown option {key!r}{nearest(key, list(accepted))}; accepted: "
                           f"{', '.join(accepted)}")
        flag = accepted[key].option_strings[-1]
        if isinstance(value, bool) and accepted[key].nargs == 0:
            argv += [flag] if value else []
        elif value is not None:
            argv += [flag, *(map(str, value) if isinstance(value, list | tuple) else [str(value)])]
    args = chosen.parse_args(argv)
    with silenced(quiet):
        module.run(args)
    return StudySummary.read(name, Path(args.out))
