"""`dnnconf study optimizers`: the note's nine optimizers on its 3 × 100 ReLU/He net (note §3), over seeds.

The book's comparison: 3 hidden layers of 100 ReLU units with He initialization, pixels scaled to [0, 1],
batch 32, η = 1e-3 for every optimizer, 10 epochs, no schedule; the published number is the final
validation accuracy of one run. The settings are those of examples/techniques/optimizer_*.yaml; plain SGD
(no momentum) is added as the baseline of the note's stars table. `--quick`: digits, 300 images, 2
epochs, a few cells (CI).
"""

from __future__ import annotations

import argparse
from typing import Any

from dnnconf.studies.claims import Claim, against_published
from dnnconf.studies.framework import Options, Profile, Study, Variant, add_common_arguments
from dnnconf.studies.keras_study import add_reference_argument
from dnnconf.studies.language import BOOK_NOTEBOOK_ZH
from dnnconf.studies.runner import run_command

HELP = "the nine optimizers on the 3×100 ReLU/He net, 10 epochs, η = 1e-3 (note §3, the published table)"
FULL = Profile(seeds=5, epochs=10, dataset="fashion_mnist")  # the whole training split, as published
QUICK = Profile(seeds=2, epochs=2, dataset="digits", train_size=300)
ETA = 1e-3
ADAM = {"beta_1": 0.9, "beta_2": 0.999}
# name → (optimizer section, published final validation accuracy: the book's notebook, one run, TF 2)
OPTIMIZERS: dict[str, tuple[dict[str, Any], float | None]] = {
    "sgd": ({"name": "sgd"}, None),
    "momentum": ({"name": "sgd", "momentum": 0.9}, 0.8672),
    "nesterov": ({"name": "sgd", "momentum": 0.9, "nesterov": True}, 0.8708),
    "adagrad": ({"name": "adagrad"}, 0.8424),
    "rmsprop": ({"name": "rmsprop", "rho": 0.9}, 0.8636),
    "adam": ({"name": "adam", **ADAM}, 0.8696),
    "adamax": ({"name": "adamax", **ADAM}, 0.8780),
    "nadam": ({"name": "nadam", **ADAM}, 0.8740),
    "adamw": ({"name": "adamw", "weight_decay": 1e-5, **ADAM}, 0.8702),
}
BASE = {"data": {"normalize": "minmax"},
        "model": {"hidden": [100, 100, 100], "activation": "relu", "kernel_initializer": "he_normal"},
        "schedule": {"name": "constant"}, "training": {"batch_size": 32, "early_stopping": None}}


QUICK_VARIANTS = ("sgd", "momentum", "adam")  # --quick: a few cells, for CI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser, FULL, QUICK, "runs/study-optimizers")
    add_reference_argument(parser)


def build(options: Options) -> Study:
    variants = [Variant(name, {"optimizer": name}, {"optimizer": {**section, "learning_rate": ETA}}, published)
                for name, (section, published) in OPTIMIZERS.items()]
    claims = [Claim("every optimizer of the table does better than plain SGD (its stars: SGD *)", name, "sgd",
                    claim_zh="表中每个优化器都比普通 SGD 更好（表中的星级：SGD *）")
              for name in OPTIMIZERS if name != "sgd"]
    claims += against_published(variants, "the book's table: each optimizer's final validation accuracy",
                                claim_zh="原书的表：每个优化器的最终验证准确率")
    return Study("optimizers", "Optimizers: 3×100 ReLU/He, η = 1e-3", BASE, variants,
                 quick_variants=QUICK_VARIANTS, claims=claims,
                 published_source="the book's notebook (Hands-On ML, 3rd ed., ch. 11), one run each, TF 2, full "
                 "Fashion-MNIST, 10 epochs, ±1 point",
                 published_source_zh=BOOK_NOTEBOOK_ZH + "10 个 epoch，±1 个百分点")


def run(args: argparse.Namespace) -> int:
    return run_command(args, build, FULL, QUICK)
