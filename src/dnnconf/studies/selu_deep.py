"""`dnnconf study selu-deep`: a 100-layer SELU + LeCun stack against ReLU + He, 5 epochs (note §1.2).

The book's run: 100 dense layers of 100 units, standardized inputs, plain SGD with η = 1e-3 (no
momentum), batch 32, 5 epochs; published final validation accuracy (one run): SELU + LeCun .8046,
ReLU + He .7054. SELU self-normalizes only in a plain dense stack with LeCun normal initialization and
standardized inputs, which is what this builds. `--depth` changes the number of layers; `--quick`:
digits, 300 images, 2 epochs (CI).
"""

from __future__ import annotations

import argparse

from dnnconf.arguments import at_most
from dnnconf.limits import MAX_LAYERS
from dnnconf.studies.claims import Claim, against_published
from dnnconf.studies.framework import Options, Profile, Study, Variant, add_common_arguments
from dnnconf.studies.language import BOOK_NOTEBOOK_ZH
from dnnconf.studies.runner import run_command

HELP = "a 100-layer SELU + LeCun stack vs ReLU + He, 5 epochs (note §1.2, the published run)"
FULL = Profile(seeds=5, epochs=5, dataset="fashion_mnist")
QUICK = Profile(seeds=2, epochs=2, dataset="digits", train_size=300)
PUBLISHED = {"selu": 0.8046, "relu": 0.7054}  # the book's notebook, one run, TF 2
BASE = {"data": {"normalize": "standardize", "normalize_axis": "feature"},  # SELU: each feature mean 0, std 1
        "optimizer": {"name": "sgd", "learning_rate": 1e-3},
        "schedule": {"name": "constant"}, "training": {"batch_size": 32, "early_stopping": None}}


QUICK_VARIANTS = ()  # --quick: a few cells, for CI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser, FULL, QUICK, "runs/study-selu-deep")
    parser.add_argument("--depth", type=at_most(MAX_LAYERS), default=100,
                        help="hidden layers of 100 units (default 100)")


def build(options: Options, depth: int = 100) -> Study:
    from dnnconf.errors import ConfigError

    if depth < 1:
        raise ConfigError(f"--depth: {depth} must be at least 1")
    pairs = {"selu": "lecun_normal", "relu": "he_normal"}
    variants = [Variant(f"{activation}-{init}", {"activation": activation, "initializer": init},
                        {"model": {"hidden": [100] * depth, "activation": activation, "kernel_initializer": init}},
                        PUBLISHED[activation] if depth == 100 else None)
                for activation, init in pairs.items()]
    claims = [Claim(f"SELU + LeCun beats ReLU + He in a {depth}-layer stack", "selu-lecun_normal", "relu-he_normal",
                    claim_zh=f"在 {depth} 层的堆叠中，SELU + LeCun 胜过 ReLU + He"),
              *against_published(variants, "the book's 100-layer runs", claim_zh="原书的 100 层运行")]
    return Study("selu-deep", f"{depth}-layer SELU + LeCun vs ReLU + He", BASE, variants,
                 quick_variants=QUICK_VARIANTS, claims=claims, parameters={"depth": depth},
                 published_source="the book's notebook (Hands-On ML, 3rd ed., ch. 11), one run each, TF 2, full "
                 "Fashion-MNIST, 5 epochs",
                 published_source_zh=BOOK_NOTEBOOK_ZH + "5 个 epoch")


def run(args: argparse.Namespace) -> int:
    return run_command(args, lambda options: build(options, args.depth), FULL, QUICK)
