"""The API's tools on a config: `lr_find`, `diagnose`, `check`, `recommend`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args, get_type_hints

from dnnconf.api.inputs import as_config, optional_path, run_folder
from dnnconf.errors import BadInput, ConfigError
from dnnconf.registry import nearest

if TYPE_CHECKING:
    from dnnconf.config import Config
    from dnnconf.results import Diagnosis, Findings, LRFind, Recommendation

# Every import of dnnconf's heavy parts is inside a function: `import dnnconf.api` must not import torch.


def lr_find(config: Any, *, overrides: Sequence[str] = (), min_lr: float = 1e-6, max_lr: float = 10.0,
            steps: int | None = None, repeats: int = 1, out: str | Path | None = None) -> LRFind:
    """The learning-rate range test on what `config` builds (network, optimizer, data, batch size), as
    `dnnconf lr-find`: the rate grows exponentially from `min_lr` to `max_lr` over `steps` steps (default:
    an epoch, within 100–1000), the loss is recorded, the suggestions are read off the curve. The weights,
    optimizer and random generators are as before. With `out`, lr_find.png/.csv/.json are written there.
    Returns an `LRFind` (`suggestion`, `suggestions`, `lrs`, `losses`, `plot`)."""
    from dnnconf.lr_finder.finder import lr_find as range_test
    from dnnconf.lr_finder.outputs import write_outputs
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
    return config_findings(resolved, lang, str(config) if isinstance(config, str | Path) else resolved.name)


def config_findings(config: Config, lang: str | None = None, source: str | None = None) -> Findings:
    """The note's rules on a resolved config, in `lang` (default: the locale), as a `Findings` list."""
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
