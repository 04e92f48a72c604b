"""`dnnconf study mc-dropout`: the note's MC dropout claim (§5.4) measured over seeds.

The book's recipe (Hands-On ML, 3rd ed., ch. 11): Flatten, Dropout 0.2, Dense 100 ReLU/He, Dropout 0.2,
Dense 100 ReLU/He, Dropout 0.2, Dense 10 softmax; pixels in [0, 1]; SGD η = 0.01 with momentum 0.9,
batch 32, 10 epochs, no early stopping; all 55,000 training images (5,000 for validation). Published
(one run, TF 2): test accuracy .8700 in eval mode, .8717 with MC dropout (100 stochastic passes with
dropout on, probabilities averaged), which "tends to make the model's probability estimates more reliable".

Each finished run folder is measured on its test split by `dnnconf.uncertainty.evaluation.evaluate_mc`
(`dnnconf evaluate --mc-samples`): deterministically (eval mode, every dropout off) and with MC dropout
(`--mc-samples` passes, default 100, masks from the fixed sampling seed `MC_SEED`; batch norm, were
there any, in inference mode). Columns (`dnnconf.uncertainty.calibration`; p the predicted
probabilities, y the label, n examples):
- `test_nll` / `mc_test_nll`: NLL = (1/n) Σ_i −log max(p_i[y_i], 1e-7) (Keras's clip);
- `test_ece` / `mc_test_ece`: ECE = Σ_b (n_b / n) · |acc_b − conf_b| over 15 equal-width bins
  (lower, upper] of the top-label confidence max_k p_ik, acc_b and conf_b the bin's accuracy and mean
  confidence (empty bins count 0);
- `mc_test_accuracy`: the argmax of the averaged probabilities against y (the deterministic accuracy is
  the framework's `test_accuracy`, measured in eval mode when the run ends).

Claims, paired by seed (95% t intervals, `dnnconf.studies.claims`): MC accuracy − deterministic accuracy
> 0 (book: +0.0017), MC NLL < deterministic NLL, MC ECE < deterministic ECE; and the deterministic test
accuracy reproduces .8700 within ±1 point. `--reference keras` measures the same columns of the Keras runs
the book's way: `model.predict` for the deterministic pass and `model(x, training=True)` `--mc-samples`
times, probabilities averaged (`keras_mc`). `--quick`: digits, 300 images, 2 epochs, 2 seeds (CI).
"""

from __future__ import annotations

import argparse
import functools
from pathlib import Path
from typing import Any

from dnnconf.studies.claims import Claim, against_published
from dnnconf.studies.framework import Options, Profile, Study, Variant, add_common_arguments
from dnnconf.studies.keras_study import add_reference_argument
from dnnconf.studies.language import BOOK_NOTEBOOK_ZH
from dnnconf.studies.run_measure import RunMeasure
from dnnconf.studies.runner import run_command

HELP = "MC dropout: 100 stochastic passes vs eval mode, accuracy, NLL and ECE of the book's dropout MLP (note §5.4)"
FULL = Profile(seeds=5, epochs=10, dataset="fashion_mnist")  # the whole training split, as published
QUICK = Profile(seeds=2, epochs=2, dataset="digits", train_size=300)
MC_SAMPLES = 100  # the book's
MC_SEED = 0  # the masks' seed: the same for every run, so runs differ by their weights only
PUBLISHED_ACCURACY = 0.8700  # the book's notebook, eval mode
PUBLISHED_MC_ACCURACY = 0.8717  # the same model, MC dropout with 100 samples
COLUMNS = ("test_nll", "test_ece", "mc_test_accuracy", "mc_test_nll", "mc_test_ece")
BASE = {"data": {"normalize": "minmax"},
        "model": {"hidden": [100, 100], "activation": "relu", "kernel_initializer": "he_normal",
                  "dropout": {"rate": 0.2, "top_layers": 3}},  # on the inputs and after both hidden layers
        "optimizer": {"name": "sgd", "learning_rate": 0.01, "momentum": 0.9}, "schedule": {"name": "constant"},
        "training": {"batch_size": 32, "early_stopping": None}}
# (MC column, deterministic column, the note's claim, in Chinese, expected sign of MC − deterministic)
CLAIMS = (
    ("mc_test_accuracy", "test_accuracy", "MC dropout raises the test accuracy (the book: .8700 → .8717)",
     "MC dropout 提高测试准确率（原书：.8700 → .8717）", "higher"),
    ("mc_test_nll", "test_nll", "MC dropout makes the probabilities more reliable: lower test NLL",
     "MC dropout 让概率估计更可靠：测试 NLL 更低", "lower"),
    ("mc_test_ece", "test_ece", "MC dropout makes the probabilities better calibrated: lower test ECE",
     "MC dropout 让概率校准得更好：测试 ECE 更低", "lower"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from dnnconf.arguments import at_most
    from dnnconf.limits import MAX_MC_SAMPLES

    add_common_arguments(parser, FULL, QUICK, "runs/study-mc-dropout")
    parser.add_argument("--mc-samples", type=at_most(MAX_MC_SAMPLES), default=MC_SAMPLES,
                        help=f"stochastic passes averaged per test image (default {MC_SAMPLES}, the book's)")
    add_reference_argument(parser)


def measure_mc(folder: Path, samples: int = MC_SAMPLES) -> dict[str, Any]:
    """A finished run's test split without and with MC dropout (`evaluate_mc`, which also writes the run's
    mc_metrics.json), with the run's own torch thread count."""
    import torch

    from dnnconf.model import Model
    from dnnconf.uncertainty.evaluation import evaluate_mc

    model = Model.load(folder)
    before = torch.get_num_threads()
    torch.set_num_threads(model.config.training.threads or before)
    try:
        result = evaluate_mc(model, folder, samples, MC_SEED, "test", plots=False)
    finally:
        torch.set_num_threads(before)
    return columns_of(result["plain"], result["mc"])


def keras_mc(result: dict[str, Any], samples: int = MC_SAMPLES) -> dict[str, Any]:
    """The MC columns of a Keras reference run (`keras_reference.train_run`'s result), as the book samples:
    `model(x_test, training=True)` `samples` times after `keras.utils.set_random_seed(MC_SEED)`."""
    import numpy as np

    from dnnconf.studies.keras_reference import import_keras, one_thread
    from dnnconf.uncertainty.calibration import calibration_metrics

    keras = import_keras()
    model, x, y = result["model"], result["data"]["x_test"], result["data"]["y_test"].astype(np.int64)

    def predict() -> tuple[np.ndarray, np.ndarray]:
        plain = model.predict(x, batch_size=4096, verbose=0)
        keras.utils.set_random_seed(MC_SEED)
        total = np.zeros_like(plain, dtype=np.float64)
        for _ in range(samples):
            total += keras.ops.convert_to_numpy(model(x, training=True))
        return plain, total / samples

    plain, mc = one_thread(predict)
    return columns_of(calibration_metrics(plain, y), calibration_metrics(mc, y))


def columns_of(plain: dict[str, float], mc: dict[str, float]) -> dict[str, Any]:
    """The study's columns from `calibration_metrics` without and with MC dropout."""
    return {"test_nll": plain["nll"], "test_ece": plain["ece"], "mc_test_accuracy": mc["accuracy"],
            "mc_test_nll": mc["nll"], "mc_test_ece": mc["ece"]}


def build(options: Options, mc_samples: int = MC_SAMPLES) -> Study:
    from dnnconf.errors import ConfigError

    if mc_samples < 1:
        raise ConfigError(f"--mc-samples: {mc_samples} must be at least 1")
    variants = [Variant("dropout", {"dropout": "0.2"}, {}, PUBLISHED_ACCURACY, "test_accuracy")]
    claims = [Claim(text, "dropout", "dropout", expect, mc, claim_zh=text_zh, baseline_metric=plain)
              for mc, plain, text, text_zh, expect in CLAIMS]
    claims += against_published(variants, "the book's dropout run: test accuracy in eval mode",
                                claim_zh="原书的 dropout 运行：推理模式下的测试准确率")
    return Study("mc-dropout", f"MC dropout: the dropout 100-100 ReLU/He MLP, {mc_samples} samples", BASE, variants,
                 published_metric="test_accuracy", claims=claims, parameters={"mc_samples": mc_samples},
                 measure=RunMeasure(COLUMNS, functools.partial(measure_mc, samples=mc_samples),
                                    functools.partial(keras_mc, samples=mc_samples)),
                 extra_summary=functools.partial(mc_table, samples=mc_samples),
                 published_source="the book's notebook (Hands-On ML, 3rd ed., ch. 11), one run, TF 2, full "
                 "Fashion-MNIST, 10 epochs; a test accuracy",
                 published_source_zh=BOOK_NOTEBOOK_ZH + "10 个 epoch；是测试准确率",
                 notes=[f"MC dropout: {mc_samples} passes with every dropout on, probabilities averaged, masks "
                        f"from sampling seed {MC_SEED}; NLL and ECE (15 equal-width confidence bins) of the test "
                        "split, as `dnnconf evaluate --mc-samples` measures them"],
                 notes_zh=[f"MC dropout：所有 dropout 打开做 {mc_samples} 次前向传播，概率取平均，掩码来自采样种子 "
                           f"{MC_SEED}；测试集上的 NLL 与 ECE（15 个等宽置信度区间），与 `dnnconf evaluate "
                           "--mc-samples` 的算法相同"])


def mc_table(study: Study, rows: list[dict[str, Any]], lang: str = "en", samples: int = MC_SAMPLES) -> list[str]:
    """Deterministic beside MC dropout, mean ± std over the seeds, with the book's two accuracies."""
    from dnnconf.studies.stats import mean_std, plus_minus

    published = any(v.published is not None for v in study.variants)
    zh = lang == "zh"
    head = (["测试集指标", "推理模式（确定性）", f"MC dropout，{samples} 次采样"] if zh else
            ["test metric", "deterministic (eval mode)", f"MC dropout, {samples} samples"])
    head += ["原书（确定性 / MC）"] if zh and published else (["the book (deterministic / MC)"] if published else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, plain, mc in (("accuracy", "test_accuracy", "mc_test_accuracy"), ("NLL", "test_nll", "mc_test_nll"),
                            ("ECE", "test_ece", "mc_test_ece")):
        label = {"accuracy": "准确率"}.get(name, name) if zh else name
        cells = [plus_minus(mean_std([r[c] for r in rows if r.get(c) is not None])) for c in (plain, mc)]
        book = [f"{PUBLISHED_ACCURACY:.4f} / {PUBLISHED_MC_ACCURACY:.4f}" if name == "accuracy" else "–"] \
            if published else []
        lines.append("| " + " | ".join([label, *cells, *book]) + " |")
    return lines


def run(args: argparse.Namespace) -> int:
    return run_command(args, lambda options: build(options, args.mc_samples), FULL, QUICK)
