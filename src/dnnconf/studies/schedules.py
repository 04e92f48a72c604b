"""`dnnconf study schedules`: every learning-rate schedule of the note (§4), 1cycle also at lr-find's rate.

The schedules' settings are examples/techniques/schedule_*.yaml (the book's), on the network of the book's
notebook (its build_model, as in the optimizer table): 3 × 100 ReLU/He, pixels in [0, 1], batch 32, no
early stopping.
- constant: SGD η = 0.01 (the baseline).
- power: InverseTimeDecay(0.01, decay_steps 10 000, rate 1).
- exponential: ExponentialDecay(0.01, 20 000 steps, 0.1).
- piecewise constant: 0.01 / 0.005 / 0.001 at steps 50 000 and 80 000 (beyond 10 epochs of the full
  data: as published, the run never leaves 0.01).
- performance: SGD momentum 0.9, η = 0.01, ReduceLROnPlateau(0.5, patience 5).
- cosine: SGD momentum 0.9 from 0.001 warmed up to 0.05 over 1 epoch, then cosine decay to the end.
- one_cycle (the book's): max_lr 0.1, batch 128, 2.5 × the epochs (25 for 10).
- one_cycle_lrfind: the same with max_lr = `dnnconf lr-find`'s recommended rate for that network and
  batch (for one_cycle, the note's rule: a little below where the loss climbs; measured once, on seed 0,
  saved as lr-find.json in the study folder).
The book's step counts are given here in its epochs (÷ 1,719 steps: 55,000 images at batch 32), so a
--train-size subset sees the same rate at the same epoch. Published: final validation accuracies, one
run each. `--quick`: digits, 300 images, 2 epochs (5 for 1cycle), a few schedules: CI only.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from dnnconf.studies.claims import Claim, against_published
from dnnconf.studies.framework import (
    Options,
    Profile,
    Study,
    Variant,
    add_common_arguments,
    run_config,
)
from dnnconf.studies.keras_study import add_reference_argument
from dnnconf.studies.language import BOOK_NOTEBOOK_ZH
from dnnconf.studies.runner import run_command

HELP = "every learning-rate schedule, 1cycle also with the lr-find suggestion (note §4, the published table)"
FULL = Profile(seeds=5, epochs=10, dataset="fashion_mnist")  # the whole training split, as published
QUICK = Profile(seeds=2, epochs=2, dataset="digits", train_size=300)
SGD = {"name": "sgd", "learning_rate": 0.01}
MOMENTUM = {"name": "sgd", "learning_rate": 0.01, "momentum": 0.9}
# name → (optimizer, schedule, published final validation accuracy: the book's notebook, one run)
# The book's step counts, in epochs of its 55,000 images at batch 32 (1,719 steps an epoch), so that a
# --train-size subset sees the same rate at the same epoch.
BOOK_STEPS_PER_EPOCH = 1719
SCHEDULES: dict[str, tuple[dict[str, Any], dict[str, Any], float | None]] = {
    "constant": (SGD, {"name": "constant"}, None),
    "power": (SGD, {"name": "power", "decay_epochs": 10000 / BOOK_STEPS_PER_EPOCH, "decay_rate": 1.0,
                    "staircase": False}, 0.8714),
    "exponential": (SGD, {"name": "exponential", "decay_epochs": 20000 / BOOK_STEPS_PER_EPOCH, "decay_rate": 0.1},
                    0.8662),
    "piecewise_constant": (SGD, {"name": "piecewise_constant",
                                 "boundaries_epochs": [50000 / BOOK_STEPS_PER_EPOCH, 80000 / BOOK_STEPS_PER_EPOCH],
                                 "values": [0.01, 0.005, 0.001]}, 0.8716),
    "performance": (MOMENTUM, {"name": "performance", "factor": 0.5, "patience": 5}, 0.8868),
    "cosine": ({**MOMENTUM, "learning_rate": 0.001}, {"name": "cosine", "warmup_target": 0.05, "warmup_epochs": 1},
               None),
    "one_cycle": (MOMENTUM, {"name": "one_cycle", "max_lr": 0.1}, 0.8920),
}
BASE = {"data": {"normalize": "minmax"},
        "model": {"hidden": [100, 100, 100], "activation": "relu", "kernel_initializer": "he_normal"},
        "training": {"batch_size": 32, "early_stopping": None}}


QUICK_VARIANTS = ("constant", "power", "performance", "one_cycle", "one_cycle_lrfind")  # --quick: a few cells, for CI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser, FULL, QUICK, "runs/study-schedules")
    add_reference_argument(parser)


def _variant(name: str, options: Options, max_lr: float | None = None) -> Variant:
    key = "one_cycle" if name.startswith("one_cycle") else name
    optimizer, schedule, published = SCHEDULES[key]
    training: dict[str, Any] = {}
    if key == "one_cycle":
        training = {"epochs": round(2.5 * options.epochs), "batch_size": 128}
        schedule = {**schedule, "max_lr": max_lr or schedule["max_lr"]}
    if key == "cosine":
        schedule = {**schedule, "decay_epochs": max(1, options.epochs - 1)}
    label = f"{max_lr:.3g} (lr-find)" if max_lr else str(schedule.get("max_lr", ""))
    return Variant(name, {"schedule": key, "max_lr": label if key == "one_cycle" else ""},
                   {"optimizer": optimizer, "schedule": schedule, "training": training},
                   None if max_lr else published)


def lr_find_max_lr(options: Options, one_cycle: Variant, study: Study) -> float:
    """lr-find's recommended rate for the 1cycle network and batch (seed 0), cached in OUT/lr-find.json."""
    from dnnconf.config import config_from_dict
    from dnnconf.errors import RunFolderError
    from dnnconf.lr_finder.finder import lr_find
    from dnnconf.safe_write import write_atomic

    path = options.out / "lr-find.json"
    if path.is_file():
        return json.loads(path.read_text())["max_lr"]
    if options.read_only:
        raise RunFolderError(f"{path}: missing; a schedules study folder keeps lr-find's rate for one_cycle_lrfind")
    raw = run_config(study, one_cycle, 0, options, threads=1)  # one_cycle: lr-find recommends the note's rule
    result = lr_find(config_from_dict(raw, "schedules lr-find"))
    options.out.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps({"max_lr": result.recommended_lr, "rule": result.recommended,
                                   "suggestions": result.suggestions}, indent=1))
    print(f"lr-find: recommended {result.recommended_lr:.3g} ({result.recommended}) for 1cycle's max_lr")
    return result.recommended_lr


def build(options: Options) -> Study:
    variants = [_variant(name, options) for name in SCHEDULES]
    study = Study("schedules", "Learning-rate schedules: 3×100 ReLU/He", BASE, variants,
                  quick_variants=QUICK_VARIANTS,
                  published_source="the book's notebook (Hands-On ML, 3rd ed., ch. 11), one run each, TF 2, full "
                  "Fashion-MNIST, 10 epochs (1cycle: 25 epochs, batch 128)",
                  published_source_zh=BOOK_NOTEBOOK_ZH + "10 个 epoch（1cycle：25 个 epoch，批量 128）")
    study.variants.append(_variant("one_cycle_lrfind", options, lr_find_max_lr(options, variants[-1], study)))
    study.claims = [Claim("a schedule does better than a constant rate (the book: 1cycle and performance best)", name,
                          "constant", claim_zh="学习率调度比恒定学习率更好（原书：1cycle 和 performance 最好）")
                    for name in SCHEDULES if name != "constant"]
    study.claims.append(Claim("1cycle with lr-find's max_lr does as well as the book's 0.1 (within ±1 point)",
                              "one_cycle_lrfind", "one_cycle", "within", tolerance=0.01,
                              claim_zh="用 lr-find 给出的 max_lr 的 1cycle 与原书的 0.1 一样好（在 ±1 个百分点内）"))
    study.claims += against_published(variants, "the book's table: each schedule's final validation accuracy",
                                      claim_zh="原书的表：每种学习率调度的最终验证准确率")
    return study


def run(args: argparse.Namespace) -> int:
    return run_command(args, build, FULL, QUICK)
