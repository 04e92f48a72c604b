"""`dnnconf study init`: random normal, Glorot, He, LeCun × ReLU, tanh, SELU, shallow and deep (note §1.1).

The note's table: random initialization is slow and often diverges; Glorot trains about 3× faster, He
about 5×. This measures it: for every initializer × activation × depth, the epochs until the validation
accuracy first reaches a target (fractional, see `dnnconf.studies.framework`), the final accuracy and the
share of diverged runs; then the speed-ups, epochs(random) ÷ epochs(init), for each activation and depth.

Initializers: `random_normal` (Keras's RandomNormal, σ = 0.05), `random_normal_1` (N(0, 1), the
"random" of the pre-2010 papers), glorot_normal (variance 1/fan_avg), he_normal (2/fan_in), lecun_normal
(1/fan_in). Activations: relu (He's match), tanh (Glorot's), selu (LeCun's). Depths: shallow = 2 × 100,
deep = 20 × 100. Plain SGD η = 0.01 (no momentum, no schedule: momentum would hide part of what the
initialization does), batch 32, standardized inputs. `--quick`: digits, 300 images, 2 epochs, a few cells (CI).
"""

from __future__ import annotations

import argparse
import math
from typing import Any

from dnnconf.studies.claims import Claim
from dnnconf.studies.framework import Options, Profile, Study, Variant, add_common_arguments
from dnnconf.studies.keras_study import add_reference_argument
from dnnconf.studies.runner import run_command
from dnnconf.studies.stats import mean_std

HELP = "initialization: random / Glorot / He / LeCun × ReLU, tanh, SELU, shallow and deep (note §1.1, ×1/×3/×5)"
FULL = Profile(seeds=5, epochs=10, dataset="fashion_mnist", train_size=5000)
QUICK = Profile(seeds=2, epochs=2, dataset="digits", train_size=300)
INITIALIZERS: dict[str, Any] = {
    "random_normal": {"name": "random_normal", "stddev": 0.05},
    "random_normal_1": {"name": "random_normal", "stddev": 1.0},
    "glorot_normal": "glorot_normal",
    "he_normal": "he_normal",
    "lecun_normal": "lecun_normal",
}
MATCH = {"relu": "he_normal", "tanh": "glorot_normal", "selu": "lecun_normal"}
DEPTHS = {"shallow": [100, 100], "deep": [100] * 20}
TARGET = {"fashion_mnist": 0.80, "digits": 0.90}
QUICK_TARGET = 0.2  # what --quick's 2 epochs on 300 images reach: CI exercises the epochs-to-target path
BASELINE = "random_normal"
NOTE = {"random_normal": "×1", "glorot_normal": "×3", "he_normal": "×5"}
BASE = {"data": {"normalize": "standardize"},
        "optimizer": {"name": "sgd", "learning_rate": 0.01}, "schedule": {"name": "constant"},
        "training": {"batch_size": 32, "early_stopping": None}}


QUICK_VARIANTS = (  # --quick: a few cells, for CI
    "random_normal-relu-shallow", "glorot_normal-relu-shallow", "he_normal-relu-shallow",
    "random_normal-relu-deep", "glorot_normal-relu-deep", "he_normal-relu-deep",
)

DEPTHS_ZH = {"shallow": "浅层", "deep": "深层"}

CLAIMS = [Claim(f"Glorot, He and LeCun reach the target accuracy sooner than random initialization ({depth}: "
                f"{'×'.join(map(str, [len(hidden), hidden[0]]))})", f"{init}-{activation}-{depth}",
                f"{BASELINE}-{activation}-{depth}", "lower", "epochs_to_target",
                claim_zh=f"Glorot、He 和 LeCun 初始化比随机初始化更快达到目标准确率（{DEPTHS_ZH[depth]}："
                f"{'×'.join(map(str, [len(hidden), hidden[0]]))}）")
          for depth, hidden in DEPTHS.items() for activation in MATCH
          for init in ("glorot_normal", "he_normal", "lecun_normal")]
CLAIMS += [Claim("in a deep stack (20×100) random initialization is far behind Glorot, He and LeCun after the same "
                 "epochs (test accuracy)", f"{init}-{activation}-deep", f"{BASELINE}-{activation}-deep",
                 claim_zh="在深层堆叠（20×100）中，训练同样的 epoch 数后，随机初始化远远落后于 Glorot、He 和 LeCun"
                 "（测试准确率）")
           for activation in MATCH for init in ("glorot_normal", "he_normal", "lecun_normal")]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser, FULL, QUICK, "runs/study-init")
    add_reference_argument(parser)


def build(options: Options) -> Study:
    variants = [Variant(f"{init}-{activation}-{depth}",
                        {"initializer": init, "activation": activation, "depth": depth,
                         "matching": "yes" if MATCH[activation] == init else "no"},
                        {"model": {"hidden": hidden, "activation": activation, "kernel_initializer": spec}})
                for depth, hidden in DEPTHS.items() for activation in MATCH for init, spec in INITIALIZERS.items()]
    return Study("init", "Initialization × activation × depth: epochs to a target accuracy", BASE, variants,
                 quick_variants=QUICK_VARIANTS, claims=list(CLAIMS),
                 target=QUICK_TARGET if options.quick else TARGET[options.dataset],
                 panel_by=("activation", "depth"), extra_summary=speedups,
                 notes=[f"random_normal: N(0, 0.05²) (Keras's RandomNormal); random_normal_1: N(0, 1); the "
                        f"speed-ups below take random_normal as ×1, as the note's table takes random; "
                        f"{options.epochs} epochs bound the epochs of a run that never reached the target"],
                 notes_zh=[f"random_normal：N(0, 0.05²)（Keras 的 RandomNormal）；random_normal_1：N(0, 1)；"
                           "下面的加速比以 random_normal 为 ×1，与笔记的表以随机初始化为 ×1 一样；"
                           f"从未达到目标的运行按 "
                           f"{options.epochs} 个 epoch 计（下界）"])


def _epochs(rows: list[dict[str, Any]], epochs: int) -> tuple[float, bool]:
    """Mean epochs to target over the seeds, a run that never reached it counted as `epochs` (a lower bound),
    and whether any was censored that way. Diverged runs count as never reached."""
    values = [r["epochs_to_target"] if r["epochs_to_target"] is not None and not r["diverged"] else None
              for r in rows]
    censored = any(v is None for v in values)
    return mean_std([float(epochs) if v is None else v for v in values])[0], censored


def speedups(study: Study, rows: list[dict[str, Any]], lang: str = "en") -> list[str]:
    """The measured replacement of the note's ×1 / ×3 / ×5 table: epochs(random) ÷ epochs(init); in `lang`."""
    epochs = max((r["epochs_run"] for r in rows), default=0)
    zh = lang == "zh"
    head = "| 激活函数 | 深度 | " if zh else "| activation | depth | "
    lines = [f"## 相对随机初始化的加速比（达到 {study.target:g} 的 epoch 数，random_normal ÷ 初始化）" if zh else
             f"## Speed-up over random initialization (epochs to {study.target:g}, random_normal ÷ init)", "",
             head + " | ".join(INITIALIZERS) + " |", "|---|---|" + "---|" * len(INITIALIZERS)]
    inits = [init for init in INITIALIZERS if any(r["initializer"] == init for r in rows)]
    if BASELINE not in inits:
        return []
    lines[2:4] = [head + " | ".join(inits) + " |", "|---|---|" + "---|" * len(inits)]
    for depth in DEPTHS:
        for activation in MATCH:
            cell = {init: [r for r in rows if (r["initializer"], r["activation"], r["depth"]) ==
                           (init, activation, depth)] for init in inits}
            if not cell[BASELINE]:
                continue
            base, base_censored = _epochs(cell[BASELINE], epochs)
            texts = []
            for init in inits:
                mine, censored = _epochs(cell[init], epochs)
                diverged = sum(r["diverged"] for r in cell[init])
                if not cell[init] or all(r["epochs_to_target"] is None or r["diverged"] for r in cell[init]):
                    text = (("从未" + (f"（{diverged} 次发散）" if diverged else "")) if zh else
                            ("never" + (f" ({diverged} diverged)" if diverged else "")))
                elif all(r["epochs_to_target"] is None or r["diverged"] for r in cell[BASELINE]):
                    text = f"{'~' if censored else ''}{mine:.1f} " + ("个 epoch（随机：从未）" if zh else
                                                                      "ep (random: never)")
                else:
                    ratio = base / mine if mine > 0 else math.nan
                    bound = "≥ " if base_censored and not censored else ("~" if censored else "")
                    text = f"{bound}×{ratio:.1f} ({mine:.1f} " + ("个 epoch)" if zh else "ep)")
                texts.append(f"**{text}**" if MATCH[activation] == init else text)
            lines.append(f"| {activation} | {depth} | " + " | ".join(texts) + " |")
    if zh:
        return [*lines, "", "粗体：笔记为该激活函数搭配的初始化。`≥`：部分运行中随机初始化没有达到目标"
                f"（按 {epochs} 个 epoch 计），所以加速比至少是这个值；`~`：该初始化自己在部分运行中没有达到目标"
                f"（按 {epochs} 个 epoch 计）；“随机：从未”：没有一次随机初始化的运行达到目标，没有有限的比值，"
                "只给出该初始化的 epoch 数。笔记的结论：随机 ×1，Glorot ×3，He ×5。"]
    lines += ["", "Bold: the initializer the note pairs with the activation. `≥`: random missed the target in some "
              f"runs (counted as {epochs} epochs), so the speed-up is at least this; `~`: the initializer itself "
              f"missed it in some runs (counted as {epochs}); `random: never`: no random run reached it, so there "
              "is no finite ratio, only the initializer's epochs. The note's claim: random ×1, Glorot ×3, He ×5."]
    return lines


def run(args: argparse.Namespace) -> int:
    return run_command(args, build, FULL, QUICK)
