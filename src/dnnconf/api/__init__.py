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

from dnnconf.api.inputs import as_config, optional_path, run_folder, silenced
from dnnconf.api.search import study, sweep
from dnnconf.api.tools import check, diagnose, lr_find, recommend
from dnnconf.api.training import evaluate, evaluate_run, export, fit, load, load_run, predict

__all__ = ["as_config", "check", "diagnose", "evaluate", "evaluate_run", "export", "fit", "load", "load_run",
           "lr_find", "optional_path", "predict", "recommend", "run_folder", "silenced", "study", "sweep"]
