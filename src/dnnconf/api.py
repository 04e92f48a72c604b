"""The whole tool from Python: one function a command, each returning an object with the figures as
attributes (`dnnconf.results`).

Where a configuration is meant, each function takes a YAML path (`str` or `Path`), a run folder (its
config.yaml), a plain mapping (as the YAML would hold) or a `Config`, plus `overrides`, the command
line's `--set` assignments (`["training.epochs=5"]`). Where a trained run is meant: its folder (`str`
or `Path`) or the `FitResult` of `fit`. Bad input raises the `dnnconf.errors` exception the command
line turns into its one-line message (`ConfigError`, `DataError`, `RunFolderError`, `BadInput`), with
that same message; options are named as the Python keyword (the command line's flag in brackets where
the message comes from the shared check).

The model functions (`load`, `predict`, `evaluate` without MC samples) go through `dnnconf.model`, the
`Model` class: raw inputs in, the model's own preprocessing, inference mode.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
from collections.abc import Iterator, Sequence
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args, get_type_hints

from dnnconf.errors import BadInput, ConfigError, DnnconfError, RunFolderError
from dnnconf.registry import nearest

if TYPE_CHECKING:
    from dnnconf.config import Config
    from dnnconf.results import (
        Diagnosis,
        Export,
        Findings,
        FitResult,
        LRFind,
        Recommendation,
        StudySummary,
        SweepSummary,
    )


# ------------------------------------------------------------------------------------------- arguments


def as_config(config: Any, overrides: Sequence[str] = (), what: str = "config") -> Config:
    """A validated, resolved `Config` from a YAML path, a run folder, a mapping or a `Config`, with the
    `--set`-style `overrides` applied."""
    import yaml

    from dnnconf.config import Config, config_from_dict, dump_config, load_config
    from dnnconf.config.load import apply_override

    if isinstance(overrides, str):  # a lone "a.b=v" would be read letter by letter
        overrides = [overrides]
    if isinstance(config, str | Path):
        path = Path(config)
        if path.is_dir() and (path / "config.yaml").is_file():
            path = path / "config.yaml"  # a run folder: the resolved config it was trained with
        return load_config(path, list(overrides))
    if isinstance(config, Config) and not overrides:
        return config
    if isinstance(config, Config):
        raw, source = yaml.safe_load(dump_config(config)), config.name
    elif isinstance(config, dict):
        raw, source = yaml.safe_load(yaml.safe_dump(config)), ""  # a deep copy: overrides leave the caller's alone
    else:
        raise ConfigError(f"{what}: expected a YAML path, a run folder, a mapping or a Config "
                          f"(received {type(config).__name__})")
    for assignment in overrides:
        apply_override(raw, assignment)
    return config_from_dict(raw, source)


def run_folder(run: Any, what: str = "run") -> Path:
    """The folder of a trained run: a path (`str` or `Path`) or a result with a `folder`."""
    folder = getattr(run, "folder", run)
    if not isinstance(folder, str | Path):
        raise RunFolderError(f"{what}: expected a run folder (a path) or the result of dnnconf.fit "
                             f"(received {type(run).__name__})")
    folder = Path(folder)
    if not folder.is_dir():
        raise RunFolderError(f"{folder}: no such run folder")
    return folder


def optional_path(value: Any, what: str) -> Path | None:
    if value is None or isinstance(value, Path):
        return value
    if isinstance(value, str):
        return Path(value)
    raise BadInput(f"{what}: expected a path (received {type(value).__name__})")


@contextlib.contextmanager
def silenced(quiet: bool) -> Iterator[None]:
    """With `quiet`, what the command would print (per-epoch lines, tables) is dropped."""
    if not quiet:
        yield
        return
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def _silent(*_: Any, **__: Any) -> None:
    return None


# ------------------------------------------------------------------------------------------------- fit


def fit(config: Any, out: str | Path | None = None, *, overrides: Sequence[str] = (), resume: str | Path | None = None,
        force: bool = False, quiet: bool = False, check: bool = True, listeners: tuple = (),
        plots: bool = True) -> FitResult:
    """Train `config` into a run folder, as `dnnconf train` does; returns a `FitResult`.

    `out`: the run folder (default runs/<name>-<timestamp>); `resume`: continue the run in that folder
    from its last checkpoint; `force`: write into a non-empty `out`, resume a changed config, train
    despite the check's errors. `check`: first lint the config against the note's rules (errors raise
    `DnnconfError` unless `force`; warnings print unless `quiet`). `quiet`: print nothing.
    `listeners`: your own `dnnconf.train.callbacks.Listener`s, after dnnconf's. `plots=False` skips the PNGs.
    Raises `Diverged` when the loss or weights become NaN or infinite (weights rolled back).
    """
    from dnnconf.results import FitResult
    from dnnconf.run import train

    resolved = as_config(config, overrides)
    resume_path = optional_path(resume, "resume")
    if check and resume_path is None:
        findings = _findings(resolved)
        shown = [f for f in findings if f.severity != "info"]
        if shown and not quiet:
            print(type(findings)(shown, findings.source, findings.lang).text, file=sys.stderr)
        if findings.has_errors and not force:
            first = findings.errors[0]
            raise DnnconfError(f"{resolved.name}: the check found {len(findings.errors)} error(s), first "
                               f"{first.id} at {first.path}: {first.message}; fix them or pass force=True")
    with silenced(quiet):
        result = train(resolved, optional_path(out, "out"), resume=resume_path, force=force, quiet=quiet,
                       log=_silent if quiet else print, listeners=tuple(listeners), plots=plots)
    return FitResult.of(result)


# ------------------------------------------------------------------------------------ the trained model


def load(run: Any, **options: Any) -> Any:
    """The `dnnconf.model.Model` of a run folder or an export folder (or a `FitResult`): the network with
    its input preprocessing, config and metadata; `predict`, `predict_proba`, `evaluate`, `mc_predict`,
    `export`, `summary` take raw inputs. `options` go to `dnnconf.model.load`."""
    from dnnconf.model import load as load_model

    return load_model(run_folder(run), **options)


def predict(run: Any, x: Any, *, mc_samples: int | None = None) -> Any:
    """`load(run).predict(x)` on raw inputs (NumPy or torch, any batch size); with `mc_samples`, MC dropout:
    `load(run).mc_predict(x, mc_samples)` (the samples' mean probabilities with their spread). For more
    than one call, load the model once with `load`."""
    if mc_samples is None:
        return load(run).predict(x)
    _check_samples(mc_samples)
    return load(run).mc_predict(x, mc_samples)


def evaluate(run: Any, data: str | tuple = "test", *, mc_samples: int | None = None, seed: int = 0) -> dict:
    """The metrics of a trained run (a dict: loss, accuracy, …) on a split of its data ("train", "valid",
    "test") or on raw `(x, y)`. With `mc_samples`, on a split: MC dropout metrics with and without
    (accuracy, NLL, Brier, ECE), as `dnnconf evaluate --mc-samples`, which also writes mc_metrics.json
    and the reliability plots into the run folder."""
    if mc_samples is None:
        return load(run).evaluate(data)
    _check_samples(mc_samples)
    if not isinstance(data, str):
        raise BadInput("mc_samples: MC dropout metrics are measured on a split (data='test', 'valid' or 'train')")
    from dnnconf.uncertainty.mc_dropout import evaluate_mc

    folder = run_folder(run)
    return evaluate_mc(load(folder), folder, mc_samples, seed, data)


def _check_samples(samples: Any) -> None:
    if not isinstance(samples, int) or isinstance(samples, bool) or samples < 1:
        raise BadInput(f"mc_samples (--mc-samples): must be a whole number >= 1 (received {samples!r})")


def load_run(run: Any, device: str = "cpu") -> tuple[Config, Any]:
    """The resolved config and the trained network of a run folder (`str`, `Path` or `FitResult`).
    Prefer `load`, whose `Model` takes raw inputs and predicts in inference mode."""
    from dnnconf.train.run_folder.loading import load_run as load_network

    return load_network(run_folder(run), device)


def evaluate_run(run: Any, split: str = "test") -> dict[str, float]:
    """The metrics of a run folder (`str`, `Path` or `FitResult`) on one split of its data."""
    from dnnconf.model import evaluate_run as evaluate_folder

    return evaluate_folder(run_folder(run), split)


def export(run: Any, out: str | Path | None = None, *, fold_bn: bool = False, prune: float | None = None,
           sparsity: float | None = None, dtype: str = "float32", onnx: str | Path | None = None,
           latency: bool = True, repeats: int = 15, threads: int | None = None, quiet: bool = True) -> Export:
    """The note's low-latency model, as `dnnconf export`: fold batch norm (`fold_bn`), zero the kernel
    weights below `prune` or the `sparsity` share of each kernel's smallest, convert to `dtype` (float32,
    float16, bfloat16, int8), write `onnx` (a relative path goes into the export folder); measure each
    step on the test split (`latency=False` skips the timings). `out`: the export folder (default
    RUN/export). Returns an `Export` (its `stages` table, `folder`, `files`)."""
    from dnnconf.exporting.exporter import export_run
    from dnnconf.results import Export

    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise BadInput(f"threads (--threads): must be at least 1 (received {threads!r})")
    if not isinstance(repeats, int) or repeats < 1:
        raise BadInput(f"repeats (--repeats): must be at least 1 (received {repeats!r})")
    result = export_run(run_folder(run), fold_bn=fold_bn, threshold=prune, sparsity=sparsity, dtype=dtype,
                        onnx=onnx, out=optional_path(out, "out"), measure_latency=latency, repeats=repeats,
                        threads=threads, log=None if quiet else print)
    return Export.of(result)


# --------------------------------------------------------------------------------- the config's tools


def lr_find(config: Any, *, overrides: Sequence[str] = (), min_lr: float = 1e-6, max_lr: float = 10.0,
            steps: int | None = None, repeats: int = 1, out: str | Path | None = None) -> LRFind:
    """The learning-rate range test on what `config` builds (network, optimizer, data, batch size), as
    `dnnconf lr-find`: the rate grows exponentially from `min_lr` to `max_lr` over `steps` steps (default:
    an epoch, within 100–1000), the loss is recorded, the suggestions are read off the curve. The weights,
    optimizer and random generators are as before. With `out`, lr_find.png/.csv/.json are written there.
    Returns an `LRFind` (`suggestion`, `suggestions`, `lrs`, `losses`, `plot`)."""
    from dnnconf.lr_finder.finder import lr_find as range_test
    from dnnconf.lr_finder.finder import write_outputs
    from dnnconf.results import LRFind

    resolved = as_config(config, overrides)
    result = range_test(resolved, min_lr=min_lr, max_lr=max_lr, steps=steps, repeats=repeats)
    folder = optional_path(out, "out")
    plot = None
    if folder is not None:
        plot = write_outputs(result, folder, resolved.name)[0]
    return LRFind.of(result, plot)


def diagnose(target: Any, *, overrides: Sequence[str] = (), data: Any = None, batches: int = 4,
             train_steps: int = 0, probe_every: int | None = None, out: str | Path | None = None) -> Diagnosis:
    """Per-layer activation and gradient health with verdicts and the note's remedies, as `dnnconf diagnose`.

    `target`: a config (path, mapping, `Config`: built and seeded as `fit` would) or a trained run (its
    folder or `FitResult`: its weights on its own training data), or a built network (with `data`).
    The probe runs at initialization and, with `train_steps`, along that many training steps (on a copy
    of a trained run's network). With `out`, the plots are written there. Returns a `Diagnosis`.
    """
    from dnnconf.diagnosis.diagnostics import diagnose as probe
    from dnnconf.diagnosis.diagnostics import diagnose_run
    from dnnconf.results import Diagnosis
    from dnnconf.train.run_folder.result import RunResult

    options = {"batches": batches, "train_steps": train_steps, "probe_every": probe_every}
    folder = target.folder if isinstance(target, RunResult) else None
    if isinstance(target, str | Path) and Path(target).is_dir():
        folder = target
    if folder is not None:
        if overrides:
            raise ConfigError(f"overrides: {folder} is a run folder, probed as it was trained; overrides apply "
                              f"to a config")
        if data is not None:
            raise ConfigError(f"data: {folder} is a run folder, probed on its own training data")
        report = diagnose_run(run_folder(folder), **options)
    elif _is_network(target):
        report = probe(target, data, **options)
    else:
        report = probe(as_config(target, overrides), data, **options)
    plots = optional_path(out, "out")
    if plots is not None:
        from dnnconf.diagnosis.plots import write_plots

        plots.mkdir(parents=True, exist_ok=True)
        report.plots = [str(path) for path in write_plots(report, plots)]
    return Diagnosis.of(report)


def _is_network(value: Any) -> bool:
    import torch

    return isinstance(value, torch.nn.Module)


def check(config: Any, *, overrides: Sequence[str] = (), lang: str | None = None) -> Findings:
    """Lint a configuration against the note's rules, as `dnnconf check`: a `Findings` list (errors first;
    each with id, severity, message, fix, the note's section and the config key). `lang`: en or zh
    (default: the locale)."""
    from dnnconf.advice.messages import LANGS

    if lang is not None and lang not in LANGS:
        raise BadInput(f"lang (--lang): {lang!r}; accepted: {', '.join(LANGS)}")
    resolved = as_config(config, overrides)
    return _findings(resolved, lang, str(config) if isinstance(config, str | Path) else resolved.name)


def _findings(config: Config, lang: str | None = None, source: str | None = None) -> Findings:
    from dnnconf.advice import check_config, default_lang
    from dnnconf.results import Findings

    chosen = lang or default_lang()
    return Findings(check_config(config, chosen), source or config.name, chosen)


def recommend(**options: Any) -> Recommendation:
    """A complete configuration from the note's summary tables, as `dnnconf recommend`: the options are its
    flags as keywords — deep, self_normalizing, regularize, sparse, low_latency, risk_sensitive (booleans),
    schedule (performance | one_cycle), optimizer (nesterov | adamw), task (classification | binary |
    regression), dataset, input_shape, classes, hidden (lists of sizes), name. Returns a `Recommendation`
    (`config` ready for `fit`, `yaml` with every choice commented, `save(path)`)."""
    from dnnconf.advice.recommend import Options, recommend_config
    from dnnconf.advice.recommend import recommend as commented
    from dnnconf.results import Recommendation

    known = {f.name for f in fields(Options)}
    hints = get_type_hints(Options)
    for key, value in options.items():
        if key not in known:
            raise BadInput(f"recommend: unknown option {key!r}{nearest(key, sorted(known))}; accepted: "
                           f"{', '.join(f.name for f in fields(Options))}")
        choices = get_args(hints[key]) if getattr(hints[key], "__origin__", None) is Literal else ()
        if choices and value not in choices:
            raise BadInput(f"recommend: {key}={value!r}; accepted: {', '.join(choices)}")
        if key in ("input_shape", "hidden") and isinstance(value, list):
            options[key] = tuple(value)
    chosen = Options(**options)
    return Recommendation(recommend_config(chosen), commented(chosen), chosen.flags())


# ------------------------------------------------------------------------------- sweeps and studies


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
        Path(config_path).write_text(dump_config(resolved), encoding="utf-8")
        overrides = ()  # applied already
    if space_path is None:
        space_path = str(folder / "space.yaml")
        Path(space_path).write_text(yaml.safe_dump(space, sort_keys=False), encoding="utf-8")
    options = SweepOptions(config=config_path, space=space_path, trials=trials, out=folder, storage=storage,
                           study_name=study_name, jobs=jobs, sets=list(overrides), metric=metric,
                           direction=direction, pruner=pruner, threshold=threshold, seed=seed,
                           log=_silent if quiet else print)
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
