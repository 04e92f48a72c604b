"""dnnconf: the note's techniques for configuring deep networks, as configuration, on PyTorch.

The Python API, imported on first use so `import dnnconf` stays light:

    import dnnconf
    config = dnnconf.load_config("examples/fashion_mnist_default.yaml", ["training.epochs=5"])
    result = dnnconf.fit(config)                     # a run folder; result.test, result.state.history
    found = dnnconf.lr_find(config)                  # the learning-rate range test
    report = dnnconf.diagnose(config)                # per-layer gradient health with verdicts
    findings = dnnconf.check_config(config)          # the note's rules
    network, plan = dnnconf.pretrained_network(config)  # with a pretrain section: the encoder's layers
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
    "fit": "dnnconf.run",  # `dnnconf.run.train` (`dnnconf.train` is the subpackage of the loop)
    "load_run": "dnnconf.run",
    "load": "dnnconf.model",
    "evaluate_run": "dnnconf.run",
    "lr_find": "dnnconf.tools.lr_finder",
    "diagnose": "dnnconf.tools.diagnostics",
    "check_config": "dnnconf.advice",
    "pretrained_network": "dnnconf.tools.pretrain",
}


_ALIASES = {"fit": "train"}


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(import_module(_API[name]), _ALIASES.get(name, name))
    raise AttributeError(f"module 'dnnconf' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
