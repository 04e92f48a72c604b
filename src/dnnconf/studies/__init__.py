"""Studies: re-measure one of the note's claims over several seeds (`dnnconf study NAME`).

`STUDIES` maps a study's name to its module path; a study module defines `HELP` (one line),
`add_arguments(parser)` and `run(args) -> exit code`, and keeps its top-level imports light (torch is
imported inside `run`), so `dnnconf --help` stays instant. Register a new study by adding its module here.
"""

from __future__ import annotations

import importlib
from types import ModuleType

STUDIES: dict[str, str] = {
    "transfer": "dnnconf.studies.transfer",  # the note's section 2: task B from scratch vs on task A
    "pretraining": "dnnconf.studies.pretraining",  # section 2: few labels, from scratch vs a pretrained autoencoder
    "init": "dnnconf.studies.init",  # §1.1: random / Glorot / He / LeCun × activations, shallow and deep
    "activations": "dnnconf.studies.activations",  # §1.2: ReLU … Mish, accuracy and time per epoch
    "batch-norm": "dnnconf.studies.batch_norm",  # §1.3: none / before / after the activation
    "optimizers": "dnnconf.studies.optimizers",  # §3: the nine optimizers, the published table
    "schedules": "dnnconf.studies.schedules",  # §4: every schedule, 1cycle with the lr-find suggestion
    "regularization": "dnnconf.studies.regularization",  # §5: none, early stopping, l2, dropout, max-norm
    "selu-deep": "dnnconf.studies.selu_deep",  # §1.2: 100-layer SELU vs ReLU, 5 epochs
    "mc-dropout": "dnnconf.studies.mc_dropout",  # §5.4: MC dropout vs eval mode: accuracy, NLL, ECE
}


def get_study(name: str) -> ModuleType:
    """The module of study `name` (a KeyError names the known studies)."""
    if name not in STUDIES:
        raise KeyError(f"unknown study {name!r}; known: {', '.join(STUDIES)}")
    return importlib.import_module(STUDIES[name])
