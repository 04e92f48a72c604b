"""`dnnconf study batch-norm`: no batch norm, batch norm before or after the activation, shallow vs deep (§1.3).

The note: batch norm matters in deep networks (its summary: none if shallow, batch norm if deep), and
placing it before the activation is its recommended form (examples/techniques/batch_norm_*.yaml).
Networks: shallow = the note's 300-100, deep = 20 × 100; ReLU + He, SGD η = 0.01, no schedule, no early
stopping, standardized inputs. Reports accuracy, epochs to a target validation accuracy and seconds per
epoch (batch norm's cost). No published numbers. `--quick`: digits, 300 images, 2 epochs, a few cells (CI).
"""

from __future__ import annotations

import argparse

from dnnconf.studies.claims import Claim
from dnnconf.studies.framework import Options, Profile, Study, Variant, add_common_arguments
from dnnconf.studies.runner import run_command

HELP = "batch norm: none / before / after the activation, in a shallow and a deep net (note §1.3)"
FULL = Profile(seeds=5, epochs=10, dataset="fashion_mnist", train_size=5000)
QUICK = Profile(seeds=2, epochs=2, dataset="digits", train_size=300)
DEPTHS = {"shallow": [300, 100], "deep": [100] * 20}
POSITIONS = ("none", "before_activation", "after_activation")
TARGET = {"fashion_mnist": 0.80, "digits": 0.90}
BASE = {"data": {"normalize": "standardize"},
        "model": {"activation": "relu", "kernel_initializer": "he_normal"},
        "optimizer": {"name": "sgd", "learning_rate": 0.01}, "schedule": {"name": "constant"},
        "training": {"batch_size": 32, "early_stopping": None}}


QUICK_VARIANTS = ("none-shallow", "before-shallow", "none-deep", "before-deep")  # --quick: a few cells, for CI
CLAIMS = [
    *[Claim("batch norm helps a deep net (20 × 100)", f"{position}-deep", "none-deep",
            claim_zh="批量归一化有助于深层网络（20 × 100）")
      for position in ("before", "after")],
    Claim("batch norm goes before the activation", "before-deep", "after-deep",
          claim_zh="批量归一化放在激活函数之前"),
    *[Claim("a shallow net needs no batch norm (no change beyond ±1 point)", f"{position}-shallow", "none-shallow",
            "within", tolerance=0.01, claim_zh="浅层网络不需要批量归一化（变化不超过 ±1 个百分点）")
      for position in ("before", "after")],
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser, FULL, QUICK, "runs/study-batch-norm")


def build(options: Options) -> Study:
    variants = [Variant(f"{position.replace('_activation', '')}-{depth}", {"batch_norm": position, "depth": depth},
                        {"model": {"hidden": hidden, "batch_norm": position}})
                for depth, hidden in DEPTHS.items() for position in POSITIONS]
    return Study("batch-norm", "Batch normalization: none / before / after the activation", BASE, variants,
                 quick_variants=QUICK_VARIANTS, claims=list(CLAIMS),
                 target=TARGET[options.dataset], panel_by="depth")


def run(args: argparse.Namespace) -> int:
    return run_command(args, build, FULL, QUICK)
