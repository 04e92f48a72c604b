"""`dnnconf study activations`: ReLU, leaky ReLU, ELU, SELU, GELU, Swish, Mish: accuracy and time (§1.2).

One network for all: 10 hidden layers of 100 units (deep enough for the activation to matter; the note
recommends Swish for deep nets), each activation with the initialization the note pairs it with (He;
LeCun for SELU), standardized inputs, Nesterov SGD η = 0.01 (the note's default optimizer), no schedule,
no early stopping. Leaky ReLU uses α = 0.2 as in the note. Reports the accuracies and the seconds per
epoch (the note: ReLU is the fastest). No published numbers. `--quick`: digits, 300 images, 2 epochs, a few cells (CI).
"""

from __future__ import annotations

import argparse
from typing import Any

from dnnconf.studies.claims import Claim
from dnnconf.studies.framework import Options, Profile, Study, Variant, add_common_arguments
from dnnconf.studies.keras_study import add_reference_argument
from dnnconf.studies.runner import run_command

HELP = "ReLU, leaky ReLU, ELU, SELU, GELU, Swish, Mish: accuracy and seconds per epoch (note §1.2)"
FULL = Profile(seeds=5, epochs=10, dataset="fashion_mnist", train_size=5000)
QUICK = Profile(seeds=2, epochs=2, dataset="digits", train_size=300)
ACTIVATIONS: dict[str, tuple[Any, str]] = {
    "relu": ("relu", "he_normal"),
    "leaky_relu": ({"name": "leaky_relu", "alpha": 0.2}, "he_normal"),
    "elu": ("elu", "he_normal"),
    "selu": ("selu", "lecun_normal"),
    "gelu": ("gelu", "he_normal"),
    "swish": ("swish", "he_normal"),
    "mish": ("mish", "he_normal"),
}
BASE = {"data": {"normalize": "standardize"}, "model": {"hidden": [100] * 10},
        "optimizer": {"name": "sgd", "learning_rate": 0.01, "momentum": 0.9, "nesterov": True},
        "schedule": {"name": "constant"}, "training": {"batch_size": 32, "early_stopping": None}}


QUICK_VARIANTS = ("relu", "selu", "swish")  # --quick: a few cells, for CI
CLAIMS = [Claim("in a deep net ReLU's variants do better than ReLU (the book: SELU > ELU > leaky ReLU > ReLU; the "
                "note: Swish for deep nets)", name, "relu",
                claim_zh="在深层网络中，ReLU 的各种变体比 ReLU 更好（原书：SELU > ELU > leaky ReLU > ReLU；"
                "笔记：深层网络用 Swish）") for name in ACTIVATIONS if name != "relu"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser, FULL, QUICK, "runs/study-activations")
    add_reference_argument(parser)


def build(options: Options) -> Study:
    variants = [Variant(name, {"activation": name, "initializer": init},
                        {"model": {"activation": activation, "kernel_initializer": init}})
                for name, (activation, init) in ACTIVATIONS.items()]
    return Study("activations", "Activations: 10 × 100 dense layers", BASE, variants,
                 quick_variants=QUICK_VARIANTS, claims=list(CLAIMS))


def run(args: argparse.Namespace) -> int:
    return run_command(args, build, FULL, QUICK)
