"""dnnconf: the note's techniques for configuring deep networks, as configuration, on PyTorch.

The Python API (docs/python.md), imported on first use so `import dnnconf` stays light. A config is a
YAML path, a run folder, a mapping or a `Config`; a run is its folder or the result of `fit`:

    import dnnconf
    result = dnnconf.fit("examples/digits_default.yaml", overrides=["training.epochs=5"], quiet=True)
    result.history["val_accuracy"]                   # one value an epoch; result.test, result.stop_reason
    model = dnnconf.load(result.folder)              # raw inputs in: model.predict(x), model.evaluate("test")
    found = dnnconf.lr_find(config)                  # found.suggestion, found.lrs, found.losses
    report = dnnconf.diagnose(config_or_run)         # per-layer health: report.rows, report.verdict
    findings = dnnconf.check(config)                 # the note's rules
    recommended = dnnconf.recommend(deep=True)       # recommended.config, recommended.yaml

and `evaluate`, `predict`, `export`, `sweep`, `study`, one a command; in a notebook each result shows
itself as a table and a plot; `compare([run, run, …])` overlays runs in one HTML page.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_API = {
    "load_config": "dnnconf.config",
    "config_from_dict": "dnnconf.config",
    "dump_config": "dnnconf.config",
    "Config": "dnnconf.config",
    "fit": "dnnconf.api",
    "load": "dnnconf.api",
    "evaluate": "dnnconf.api",
    "predict": "dnnconf.api",
    "lr_find": "dnnconf.api",
    "diagnose": "dnnconf.api",
    "check": "dnnconf.api",
    "recommend": "dnnconf.api",
    "export": "dnnconf.api",
    "sweep": "dnnconf.api",
    "study": "dnnconf.api",
    "load_run": "dnnconf.api",
    "evaluate_run": "dnnconf.api",
    "check_config": "dnnconf.advice",
    "pretrained_network": "dnnconf.reuse.pretrain",
    "compare": "dnnconf.report.compare",
}


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(import_module(_API[name]), name)
    raise AttributeError(f"module 'dnnconf' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
