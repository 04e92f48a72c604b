"""`dnnconf study pretraining`: with few labels, does autoencoder pretraining on unlabeled data help?

The note's section 2 ("much unlabeled data, few labels: pretrain without labels"), over seeds. For each
seed: one autoencoder pretraining on the whole training split without labels (55,000 Fashion-MNIST
images), shared by every label count; then, for each label count N (default 100, 500, 2,000: the first
N training images), the classifier from scratch and from the pretrained encoder (frozen for the first
epochs, then fine-tuned). A pair shares the seed (the output layer's initial weights, the batch order),
the N images, and the inputs' normalization (the unlabeled set's statistics, `data.normalize_on:
all_train`, in both arms), so the pretraining is the only difference. Both arms stop early on the
5,000-image validation split, which a real 100-label setting would not have (it favours neither arm).

Reports, per label count, mean ± std of the test accuracies, the paired difference (pretrained −
scratch) with its 95% t-interval and a verdict (`studies.stats.paired_difference`); plots accuracy
against the number of labels, both arms with error bars, and the differences with their intervals.

Writes into --out (default runs/study-pretraining): seed-S/pretrain/ (the pretraining),
seed-S/{scratch,pretrained}-N/ (run folders), results.csv, summary.md, pretraining.png. Finished runs
are read back, interrupted ones resumed (run again; more --seeds adds seeds). `--quick` runs a digits
analogue (25 and 100 labels, 3 pretraining epochs) in seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
from pathlib import Path
from typing import Any

from dnnconf.arguments import at_most
from dnnconf.limits import MAX_STUDY_SEEDS

HELP = "unsupervised pretraining: few labels from scratch vs on a pretrained autoencoder, over seeds (note §2)"
MODEL = {"hidden": [300, 100], "activation": "relu", "kernel_initializer": "he_normal"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seeds", type=at_most(MAX_STUDY_SEEDS), default=5,
                        help="seeds (pairs of runs per label count), 0..N-1 (default 5)")
    parser.add_argument("--labels", default=None, help="label counts, comma-separated (default 100,500,2000; "
                        "--quick: 25,100)")
    parser.add_argument("--pretrain-epochs", type=at_most(), default=None,
                        help="epochs of autoencoder pretraining (default 10; --quick: 3)")
    parser.add_argument("--method", choices=("autoencoder", "greedy_layerwise"), default="autoencoder",
                        help="pretraining method (default autoencoder)")
    parser.add_argument("--out", default="runs/study-pretraining", help="study folder (default "
                        "runs/study-pretraining)")
    parser.add_argument("--quick", action="store_true",
                        help="a digits analogue with few epochs (for CI: seconds, not Fashion-MNIST's numbers)")


def parse_labels(text: str | None, quick: bool) -> list[int]:
    from dnnconf.errors import BadInput

    if text is None:
        return [25, 100] if quick else [100, 500, 2000]
    try:
        counts = [int(part) for part in text.split(",")]
    except ValueError:
        raise BadInput(f"--labels: {text!r} is not a comma-separated list of counts, e.g. 100,500,2000") from None
    if not counts or any(count < 1 for count in counts) or len(set(counts)) != len(counts):
        raise BadInput(f"--labels: {text!r} must list distinct counts >= 1, e.g. 100,500,2000")
    return sorted(counts)


def configs(seed: int, labels: int, quick: bool, epochs: int, method: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Raw configs of the scratch and the pretrained arm (its `pretrain` section without `reuse_from`)."""
    if quick:
        data = {"dataset": "digits", "valid_size": 0.15, "normalize": "minmax"}
        model, training = {"hidden": [32, 16]}, {"epochs": 12, "early_stopping": {"patience": 4}}
        pretrain_batch, freeze = 32, 2
    else:  # examples/pretraining/*.yaml
        data = {"dataset": "fashion_mnist", "valid_size": 5000, "normalize": "minmax"}
        model, training = dict(MODEL), {"epochs": 200, "early_stopping": {"patience": 10}}
        pretrain_batch, freeze = 64, 5
    scratch = {"name": f"pretraining-scratch-{labels}", "seed": seed,
               "data": {**data, "normalize_on": "all_train", "train_limit": labels}, "model": model,
               "schedule": {"name": "performance", "factor": 0.5, "patience": 5}, "training": training}
    pretrained = {**scratch, "name": f"pretraining-pretrained-{labels}",
                  "pretrain": {"method": method, "epochs": epochs, "batch_size": pretrain_batch,
                               "loss": "binary_crossentropy", "freeze_epochs": freeze, "unfreeze": "all",
                               "unfreeze_lr_factor": 1.0}}
    return scratch, pretrained


def pretrain_once(raw: dict[str, Any], folder: Path, log: Any) -> None:
    """The seed's pretraining into `folder` (read back when finished, resumed when interrupted)."""
    from dnnconf.config import config_from_dict
    from dnnconf.reuse.pretrain import pretrained_network

    if (folder / "encoder.safetensors").is_file():
        return
    log(f"pretraining {folder}")
    with contextlib.redirect_stdout(io.StringIO()):
        pretrained_network(config_from_dict(raw, raw["name"]), folder)


def finished(folder: Path) -> bool:
    """Whether the run (or the pretraining) in `folder` has finished: its final file is written."""
    return (folder / ("encoder.safetensors" if folder.name == "pretrain" else "metrics.json")).is_file()


def run_study(out: Path, seeds: int, labels: list[int] | None = None, pretrain_epochs: int | None = None,
              method: str = "autoencoder", quick: bool = False, log: Any = print) -> dict[str, Any]:
    """Run (or resume) the study; returns rows, statistics per label count and the written files."""
    import time

    from dnnconf.errors import ConfigError
    from dnnconf.studies.metadata import finish_invocation, start_invocation
    from dnnconf.studies.transfer import train_or_load

    if seeds < 1:
        raise ConfigError(f"--seeds: {seeds} must be at least 1")
    labels = labels or parse_labels(None, quick)
    epochs = pretrain_epochs if pretrain_epochs is not None else (3 if quick else 10)
    if epochs < 1:
        raise ConfigError(f"--pretrain-epochs: {epochs} must be at least 1")
    command = (f"dnnconf study pretraining --seeds {seeds} --labels {','.join(map(str, labels))} --pretrain-epochs "
               f"{epochs} --method {method}" + (" --quick" if quick else "") + f" --out {out}")
    folders = [out / f"seed-{seed}" / name for seed in range(seeds)
               for name in ("pretrain", *(f"{arm}-{count}" for count in labels for arm in ("scratch", "pretrained")))]
    before = sum(finished(folder) for folder in folders)
    metadata = start_invocation(out, {"quick": quick, "pretrain_epochs": epochs, "method": method},
                                {"study": "pretraining"}, {"command": command, "seeds": seeds, "runs": len(folders),
                                                           "jobs": 1, "threads": 1})
    started = time.perf_counter()
    rows = []
    for seed in range(seeds):
        base = out / f"seed-{seed}"
        for count in labels:
            scratch_raw, pretrained_raw = configs(seed, count, quick, epochs, method)
            pretrain_once(pretrained_raw, base / "pretrain", log)
            reuse = {**pretrained_raw["pretrain"], "reuse_from": str(base / "pretrain")}
            scratch = train_or_load(scratch_raw, base / f"scratch-{count}", log)
            pretrained = train_or_load({**pretrained_raw, "pretrain": reuse}, base / f"pretrained-{count}", log)
            rows.append({"seed": seed, "labels": count, "scratch": scratch, "pretrained": pretrained,
                         "difference": pretrained - scratch})
            log(f"seed {seed}, {count} labels: scratch {scratch:.4f}, pretrained {pretrained:.4f}")
    trained = sum(finished(folder) for folder in folders) - before
    finish_invocation(out, metadata, time.perf_counter() - started, trained)
    result = summarize(rows, labels, quick, epochs, method)
    files = write_outputs(out, result)
    return {**result, "files": files}


def summarize(rows: list[dict[str, Any]], labels: list[int], quick: bool, epochs: int, method: str) -> dict[str, Any]:
    from dnnconf.studies.stats import mean_std, paired_difference

    per_count = {}
    for count in labels:
        mine = [row for row in rows if row["labels"] == count]
        scratch, pretrained = [r["scratch"] for r in mine], [r["pretrained"] for r in mine]
        per_count[count] = {"scratch": mean_std(scratch), "pretrained": mean_std(pretrained),
                            "paired": paired_difference(scratch, pretrained)}
    return {"rows": rows, "labels": labels, "quick": quick, "epochs": epochs, "method": method,
            "per_count": per_count}


# the summary's words in each language (`dnnconf study report --lang zh` rebuilds it from results.csv)
WORDS = {
    "en": {"title": "# Unsupervised pretraining: few labels from scratch vs pretrained ({data})",
           "full": "Fashion-MNIST", "quick": "digits analogue (--quick)",
           "intro": "{seeds} seeds; {method} pretraining, {epochs} epochs on the whole training split without labels, "
                    "once a seed; the pairs share the seed, the labeled images and the normalization.",
           "header": "| labels | from scratch | pretrained | difference (95% CI) | verdict |",
           "note": "Test accuracy, mean ± std over seeds; difference: pretrained − scratch, paired by seed, with its "
                   "95% t-interval ({df} df).",
           "seed_header": "| seed | labels | scratch | pretrained | difference |",
           "plot": "![accuracy against labels](pretraining.png)", "verdicts": {}},
    "zh": {"title": "# 无监督预训练：标签很少时从零训练与预训练对比（{data}）",
           "full": "Fashion-MNIST", "quick": "digits 上的类比（--quick）",
           "intro": "{seeds} 个种子；{method} 预训练，在不带标签的整个训练集上训练 {epochs} 个 epoch，每个种子一次；"
                    "每一对共享种子、带标签的图像和归一化。",
           "header": "| 标签数 | 从零训练 | 预训练 | 差值（95% CI） | 判定 |",
           "note": "测试准确率，各种子的均值 ± 标准差；差值：预训练 − 从零训练，按种子配对，"
                   "给出 95% t 区间（自由度 {df}）。",
           "seed_header": "| 种子 | 标签数 | 从零训练 | 预训练 | 差值 |",
           "plot": "![准确率与标签数](pretraining.png)",
           "verdicts": {"helps": "有帮助", "hurts": "有害", "no clear difference": "无明显差别",
                        "no clear difference (one seed: no interval)": "无明显差别（一个种子：无区间）"}},
}


def summary_lines(result: dict[str, Any], lang: str = "en") -> list[str]:
    """The study's summary.md (and, in Chinese, its section of the studies page)."""
    from dnnconf.studies.stats import plus_minus

    words = WORDS[lang]
    data = words["quick"] if result["quick"] else words["full"]
    seeds = len({row["seed"] for row in result["rows"]})
    lines = [words["title"].format(data=data), "",
             words["intro"].format(seeds=seeds, method=result["method"], epochs=result["epochs"]), "",
             words["header"], "|---|---|---|---|---|"]
    for count, stats in result["per_count"].items():
        paired = stats["paired"]
        interval = f"[{paired.low:+.4f}, {paired.high:+.4f}]" if math.isfinite(paired.low) else "n/a"
        scratch, pretrained = plus_minus(stats["scratch"]), plus_minus(stats["pretrained"])
        verdict = words["verdicts"].get(paired.verdict, paired.verdict)
        lines.append(f"| {count:,} | {scratch} | {pretrained} | {paired.mean:+.4f} {interval} | {verdict} |")
    lines += ["", words["note"].format(df=seeds - 1), "", words["seed_header"], "|---|---|---|---|---|",
              *[f"| {r['seed']} | {r['labels']} | {r['scratch']:.4f} | {r['pretrained']:.4f} | {r['difference']:+.4f} |"
                for r in result["rows"]],
              "", words["plot"], ""]
    return lines


def folder_summary(folder: Path, lang: str) -> list[str]:
    """The summary of a study folder in `lang`, rebuilt from its results.csv and study.json (nothing trained)."""
    import csv
    import json

    saved = json.loads((folder / "study.json").read_text()) if (folder / "study.json").is_file() else {}
    with (folder / "results.csv").open() as handle:
        rows = [{"seed": int(r["seed"]), "labels": int(r["labels"]), "scratch": float(r["scratch"]),
                 "pretrained": float(r["pretrained"]), "difference": float(r["difference"])}
                for r in csv.DictReader(handle)]
    labels = sorted({row["labels"] for row in rows})
    result = summarize(rows, labels, bool(saved.get("quick", False)), int(saved.get("pretrain_epochs", 10)),
                       str(saved.get("method", "autoencoder")))
    return summary_lines(result, lang)


def write_outputs(out: Path, result: dict[str, Any]) -> list[Path]:
    from dnnconf.csv_text import csv_text
    from dnnconf.safe_write import write_atomic

    columns = ["seed", "labels", "scratch", "pretrained", "difference"]
    write_atomic(out / "results.csv", csv_text(result["rows"], columns))
    write_atomic(out / "summary.md", "\n".join(summary_lines(result)))
    plot(result, out / "pretraining.png")
    return [out / "results.csv", out / "summary.md", out / "pretraining.png"]


def plot(result: dict[str, Any], path: Path) -> Path:
    """Left: test accuracy against the number of labels (log scale), both arms, mean ± std over seeds.
    Right: the paired differences per label count (each seed, the mean and its 95% interval)."""
    from dnnconf.plots import plt, save_figure

    counts = result["labels"]
    stats = result["per_count"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for arm, color, shift in (("scratch", "tab:gray", 0.97), ("pretrained", "tab:blue", 1.03)):
        means = [stats[c][arm][0] for c in counts]
        stds = [0.0 if not math.isfinite(stats[c][arm][1]) else stats[c][arm][1] for c in counts]
        left.errorbar([c * shift for c in counts], means, yerr=stds, fmt="o-", color=color, capsize=4,
                      label="from scratch" if arm == "scratch" else "pretrained autoencoder")
    left.set_xscale("log")
    left.set_xticks(counts, [f"{c:,}" for c in counts])
    left.minorticks_off()
    left.set_xlabel("labeled training examples")
    left.set_ylabel("test accuracy (mean ± std)")
    left.grid(alpha=0.3)
    left.legend()
    for index, count in enumerate(counts):
        diffs = [row["difference"] for row in result["rows"] if row["labels"] == count]
        right.scatter([index - 0.1] * len(diffs), diffs, color="0.5", s=14, zorder=3)
        paired = stats[count]["paired"]
        if math.isfinite(paired.low):
            right.errorbar([index + 0.1], [paired.mean], yerr=[[paired.mean - paired.low], [paired.high - paired.mean]],
                           fmt="s", color="tab:blue", capsize=6, label="mean, 95% CI" if index == 0 else None)
    right.axhline(0, color="k", lw=0.8)
    right.set_xticks(range(len(counts)), [f"{c:,}\n{stats[c]['paired'].verdict}" for c in counts], fontsize=8)
    right.set_xlim(-0.6, len(counts) - 0.4)
    right.set_ylabel("pretrained − scratch")
    right.grid(alpha=0.3)
    if right.get_legend_handles_labels()[0]:
        right.legend()
    seeds = len({row["seed"] for row in result["rows"]})
    data = "digits (--quick)" if result["quick"] else "Fashion-MNIST"
    fig.suptitle(f"unsupervised pretraining ({result['method']}, {result['epochs']} epochs), {data}, {seeds} seeds")
    return save_figure(fig, path)


def run(args: argparse.Namespace) -> int:
    """`dnnconf study pretraining`: run, print the summary table, name the files."""
    labels = parse_labels(args.labels, args.quick)
    result = run_study(Path(args.out), args.seeds, labels, args.pretrain_epochs, args.method, args.quick)
    print("\n".join(summary_lines(result)[:6 + len(labels)]))
    print("wrote " + ", ".join(str(p) for p in result["files"]))
    return 0
