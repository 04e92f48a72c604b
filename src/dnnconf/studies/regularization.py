"""`dnnconf study regularization`: none, early stopping, l2, dropout, max-norm (note §5), over seeds.

The note's settings (examples/techniques/{l2_dense_stack,dropout,max_norm}.yaml): 100-100 ReLU/He,
pixels in [0, 1], SGD η = 0.01 with momentum 0.9, batch 32; l2 = 0.01 on every kernel; dropout 0.2 on
the inputs and after both hidden layers; max-norm 1.0 on the hidden kernels. `none` trains every epoch
with nothing; every other variant adds early stopping (val_loss, patience 5, best weights restored), and
`early_stopping` is that alone. Published (the book, one run, 10 epochs, no early stopping): dropout
test accuracy .8700, max-norm validation accuracy .8578. `--quick`: digits, 300 images, 2 epochs, a few cells (CI).
"""

from __future__ import annotations

import argparse
from typing import Any

from dnnconf.studies.claims import Claim, against_published
from dnnconf.studies.framework import Options, Profile, Study, Variant, add_common_arguments
from dnnconf.studies.language import BOOK_NOTEBOOK_ZH
from dnnconf.studies.runner import run_command

HELP = "regularization: none, early stopping, l2, dropout, max-norm, with early stopping (note §5)"
FULL = Profile(seeds=5, epochs=20, dataset="fashion_mnist", train_size=10000)
QUICK = Profile(seeds=2, epochs=2, dataset="digits", train_size=300)
EARLY_STOPPING = {"monitor": "val_loss", "patience": 5, "restore_best_weights": True}
# name → (model keys, early stopping, published number, its metric when not the final validation accuracy)
VARIANTS: dict[str, tuple[dict[str, Any], bool, float | None, str | None]] = {
    "none": ({}, False, None, None),
    "early_stopping": ({}, True, None, None),
    "l2": ({"kernel_regularizer": {"l2": 0.01}}, True, None, None),
    "dropout": ({"dropout": {"rate": 0.2, "top_layers": 3}}, True, 0.8700, "test_accuracy"),
    "max_norm": ({"kernel_constraint": {"max_norm": 1.0}}, True, 0.8578, None),
}
BASE = {"data": {"normalize": "minmax"},
        "model": {"hidden": [100, 100], "activation": "relu", "kernel_initializer": "he_normal"},
        "optimizer": {"name": "sgd", "learning_rate": 0.01, "momentum": 0.9}, "schedule": {"name": "constant"},
        "training": {"batch_size": 32}}


QUICK_VARIANTS = ("none", "dropout", "max_norm")  # --quick: a few cells, for CI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser, FULL, QUICK, "runs/study-regularization")


def build(options: Options) -> Study:
    variants = [Variant(name, {"regularization": name, "early_stopping": "yes" if stopping else "no"},
                        {"model": model, "training": {"early_stopping": dict(EARLY_STOPPING) if stopping else None}},
                        published, metric)
                for name, (model, stopping, published, metric) in VARIANTS.items()]
    claims = [Claim("regularization improves the test accuracy over none", name, "none",
                    claim_zh="正则化比不加正则化提高测试准确率")
              for name in VARIANTS if name != "none"]
    claims += against_published(variants, "the book's dropout and max-norm runs",
                                claim_zh="原书的 dropout 和最大范数运行")
    return Study("regularization", "Regularization: 100-100 ReLU/He, SGD momentum 0.9", BASE, variants,
                 quick_variants=QUICK_VARIANTS, claims=claims,
                 published_source="the book's notebook (Hands-On ML, 3rd ed., ch. 11), one run each, TF 2, full "
                 "Fashion-MNIST, 10 epochs without early stopping; dropout's number is a test accuracy",
                 published_source_zh=BOOK_NOTEBOOK_ZH + "10 个 epoch，不用提前停止；dropout 的数字是测试准确率",
                 notes=["final val acc is the last epoch's; with early stopping the test accuracy is that of the "
                        "restored best epoch"],
                 notes_zh=["最终验证准确率取最后一个 epoch 的；使用提前停止时，测试准确率是恢复的最佳 epoch 的权重的"])


def run(args: argparse.Namespace) -> int:
    return run_command(args, build, FULL, QUICK)
