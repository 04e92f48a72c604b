"""`dnnconf study transfer`: does reusing task A's layers help task B? (the note's section 2, over seeds)

For each seed: train task A (Fashion-MNIST without pullover and T-shirt/top, 8 classes), then task B
(pullover vs T-shirt/top, the first 200 training images) from scratch and on A (A's hidden layers
copied, frozen for 4 epochs, then unfrozen for 16 more: 20 epochs in all). The pairs share the seed and
the 200 images. Two arms (`--arm`):

- `book` (default): the book's recipe exactly (Hands-On ML, 3rd ed., ch. 11 notebook, which the note
  copies): the 3 × 100 ReLU/He network, plain SGD η = 1e-3 (Keras's SGD: no momentum), batch 32, no
  schedule, inputs scaled to [0, 1] (`data.normalize: minmax`, which on these pixels is exactly the book's
  X / 255: the training minimum is 0 and the maximum 255), task A 20 epochs (the notebook's; the note's
  listing says 30: `--epochs-a 30`). It measures the book's claim on the book's terms.
- `dnnconf`: the same network, data and epochs with dnnconf's own defaults: per-channel standardization,
  Nesterov SGD η = 0.01 (momentum 0.9) and the performance schedule. It measures whether the gain survives
  a better-tuned baseline.

Reports, per arm, mean ± std of the test accuracies, the paired difference (on A − scratch) with its 95%
t-interval, a verdict, and the book's published single-run numbers. `--reference keras` also trains the
same recipe in Keras 3 (torch backend; `dnnconf.studies.keras_reference`) on the same seeds and the same
arrays, and prints both implementations side by side with the difference dnnconf − Keras.

Writes into --out (default runs/study-transfer): <arm>/seed-S/{task-a,b-scratch,b-on-a}/ (run folders),
reference-keras/<arm>/seed-S.json, results.csv (one row per arm, implementation and seed), summary.md,
transfer.png. Finished runs are not redone (run again to resume; more --seeds adds seeds). `--quick`
runs a digits analogue (A: 8 digits; B: 4 vs 9, 50 images) for a few epochs, in seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
from pathlib import Path
from typing import Any

from dnnconf.arguments import at_most
from dnnconf.csv_text import csv_text
from dnnconf.limits import MAX_STUDY_SEEDS
from dnnconf.studies.stats import Paired, mean_std, paired_difference, plus_minus

HELP = "transfer learning: task B from scratch vs on task A's layers, over seeds (note §2)"
PUBLISHED = {"scratch": 0.9185, "on_a": 0.9385}  # the book's notebook, one run, TF 2 (±1 point)
MODEL = {"hidden": [100, 100, 100], "activation": "relu", "kernel_initializer": "he_normal"}
ARMS = ("book", "dnnconf")
ARM_MEANS = {"book": "the book's recipe (SGD η = 1e-3, no schedule, inputs / 255): measures the book's claim on its "
                     "own terms",
             "dnnconf": "dnnconf's defaults (Nesterov SGD η = 0.01, performance schedule, per-channel "
                        "standardization): measures whether the gain survives a better-trained baseline"}
IMPLEMENTATIONS = ("dnnconf", "keras")
SEED_HEADER = "| arm | implementation | seed | task A | B scratch | B on A | difference |"
COLUMNS = ["arm", "implementation", "seed", "task_a", "scratch", "on_a", "difference"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seeds", type=at_most(MAX_STUDY_SEEDS), default=5,
                        help="seeds (pairs of task B runs), 0..N-1 (default 5)")
    parser.add_argument("--epochs-a", type=at_most(), default=None,
                        help="epochs of task A (default: the book's 20; --quick: 5)")
    parser.add_argument("--arm", choices=(*ARMS, "both"), default="book",
                        help="book: the book's recipe (default); dnnconf: dnnconf's defaults; both")
    parser.add_argument("--reference", choices=("keras",), default=None,
                        help="also train the recipe in Keras 3 (torch backend) and compare (pip install keras)")
    parser.add_argument("--out", default="runs/study-transfer", help="study folder (default runs/study-transfer)")
    parser.add_argument("--quick", action="store_true",
                        help="a digits analogue with few epochs (for CI: seconds, not the note's numbers)")


def configs(seed: int, quick: bool, epochs_a: int, arm: str = "book") -> tuple[dict[str, Any], dict[str, Any]]:
    """Raw configs of task A and task B from scratch (task B on A adds a transfer section)."""
    if quick:
        data = {"dataset": "digits", "valid_size": 0.15}
        a_classes, b_classes, positive, limit = [0, 1, 2, 3, 5, 6, 7, 8], [4, 9], 9, 50
        recipe = {"optimizer": {"name": "sgd", "learning_rate": 0.01, "momentum": 0.9}}, 4
    else:  # examples/transfer/*.yaml
        data = {"dataset": "fashion_mnist", "valid_size": 5000}
        a_classes, b_classes, positive, limit = [1, 3, 4, 5, 6, 7, 8, 9], [0, 2], 2, 200
        recipe = {"optimizer": {"name": "sgd", "learning_rate": 0.001}}, 20
    sections, b_epochs = recipe
    if arm == "book":
        data = {**data, "normalize": "minmax"}
        sections = {**sections, "schedule": {"name": "constant"}}
    else:  # dnnconf's defaults: no optimizer, schedule or normalize keys
        sections = {}
    common = {"seed": seed, "model": dict(MODEL), **sections}
    training = {"early_stopping": None, "threads": 1}
    task_a = {**common, "name": "transfer-task-a", "data": {**data, "classes": a_classes},
              "training": {**training, "epochs": epochs_a}}
    task_b = {**common, "name": "transfer-task-b-scratch",
              "data": {**data, "classes": b_classes, "positive_class": positive, "train_limit": limit},
              "training": {**training, "epochs": b_epochs}}
    return task_a, task_b


def on_a(task_b: dict[str, Any], source: Path, quick: bool) -> dict[str, Any]:
    freeze = 1 if quick else 4
    return {**task_b, "name": "transfer-task-b-on-a",
            "transfer": {"from": str(source), "reuse": "all_but_output", "freeze_epochs": freeze, "unfreeze": "all",
                         "unfreeze_lr_factor": 1.0}}


def train_or_load(raw: dict[str, Any], folder: Path, log: Any) -> float:
    """Test accuracy of the run in `folder`: read when finished, resumed when interrupted, else trained."""
    from dnnconf.config import config_from_dict
    from dnnconf.run import train

    metrics = folder / "metrics.json"
    if metrics.is_file():
        return json.loads(metrics.read_text())["test"]["accuracy"]
    config = config_from_dict(raw, raw["name"])
    resume = folder if (folder / "checkpoint" / "LATEST").is_file() else None
    log(f"{'resuming' if resume else 'training'} {folder}")
    with contextlib.redirect_stdout(io.StringIO()):  # the runs' per-epoch lines: the study prints its own
        result = train(config, None if resume else folder, resume=resume, force=True, quiet=True)
    return result.test["accuracy"]


def run_study(out: Path, seeds: int, epochs_a: int | None = None, quick: bool = False, log: Any = print,
              arms: tuple[str, ...] = ("book",), reference: str | None = None) -> dict[str, Any]:
    """Run (or resume) the study for `arms` (and their Keras reference); returns rows, statistics and files.
    study.json holds the profile (quick, epochs_a) and a record of the invocation (`studies.metadata`)."""
    import time

    from dnnconf.errors import ConfigError
    from dnnconf.studies.metadata import finish_invocation, record_reference, start_invocation

    if seeds < 1:
        raise ConfigError(f"--seeds: {seeds} must be at least 1")
    epochs_a = epochs_a if epochs_a is not None else (5 if quick else 20)
    if epochs_a < 1:
        raise ConfigError(f"--epochs-a: {epochs_a} must be at least 1")
    if reference is not None:
        from dnnconf.studies.keras_reference import import_keras

        import_keras()  # a missing Keras is one line before hours of dnnconf runs, not after
    arm = "both" if len(arms) > 1 else arms[0]
    command = (f"dnnconf study transfer --seeds {seeds} --epochs-a {epochs_a} --arm {arm}"
               + (f" --reference {reference}" if reference else "") + (" --quick" if quick else "") + f" --out {out}")
    runs = 3 * len(arms) * seeds  # task A, B from scratch, B on A
    before = finished_runs(out, arms, seeds)
    metadata = start_invocation(out, {"quick": quick, "epochs_a": epochs_a, "layout": "arms"}, {"study": "transfer"},
                                {"command": command, "seeds": seeds, "runs": runs, "jobs": 1, "threads": 1})
    rows, started, keras_seconds = [], time.perf_counter(), 0.0
    for arm in arms:
        for seed in range(seeds):
            rows.append(dnnconf_row(out, arm, seed, quick, epochs_a, log))
            if reference == "keras":
                begun = time.perf_counter()
                rows.append(keras_row(out, arm, seed, quick, epochs_a, log))
                keras_seconds += time.perf_counter() - begun
    after = finished_runs(out, arms, seeds)
    if reference == "keras":  # the Keras runs are interleaved with dnnconf's: their time is summed apart
        record_reference(out, metadata, {"implementation": "keras", "runs": runs, "jobs": 1,
                                         "seconds": round(keras_seconds, 1), "trained": after[1] - before[1],
                                         "read_back": before[1]})
    finish_invocation(out, metadata, time.perf_counter() - started - keras_seconds, after[0] - before[0])
    rows += [row for row in read_rows(out) if (row["arm"], row["implementation"], row["seed"])
             not in {(r["arm"], r["implementation"], r["seed"]) for r in rows}]  # other arms' earlier rows
    result = summarize(rows, quick, epochs_a)
    files = write_outputs(out, result)
    return {**result, "files": files}


def finished_runs(out: Path, arms: tuple[str, ...], seeds: int) -> tuple[int, int]:
    """(dnnconf runs, Keras runs) of these arms and seeds finished in `out`: 3 a seed each (task A, B from
    scratch, B on A; Keras's three are one file)."""
    ours = sum((out / arm / f"seed-{seed}" / run / "metrics.json").is_file() for arm in arms for seed in range(seeds)
               for run in ("task-a", "b-scratch", "b-on-a"))
    theirs = sum((out / "reference-keras" / arm / f"seed-{seed}.json").is_file() for arm in arms
                 for seed in range(seeds))
    return ours, 3 * theirs


def dnnconf_row(out: Path, arm: str, seed: int, quick: bool, epochs_a: int, log: Any) -> dict[str, Any]:
    task_a, task_b = configs(seed, quick, epochs_a, arm)
    base = out / arm / f"seed-{seed}"
    accuracy_a = train_or_load(task_a, base / "task-a", log)
    scratch = train_or_load(task_b, base / "b-scratch", log)
    transferred = train_or_load(on_a(task_b, base / "task-a", quick), base / "b-on-a", log)
    log(f"{arm} seed {seed} dnnconf: task A {accuracy_a:.4f}, B scratch {scratch:.4f}, B on A {transferred:.4f}")
    return {"arm": arm, "implementation": "dnnconf", "seed": seed, "task_a": accuracy_a, "scratch": scratch,
            "on_a": transferred, "difference": transferred - scratch}


def keras_row(out: Path, arm: str, seed: int, quick: bool, epochs_a: int, log: Any) -> dict[str, Any]:
    """The same seed's three runs in Keras (read back when done): the dnnconf configs translated by
    `keras_reference`, on the same arrays; task B on A reuses the Keras task A model."""
    from dnnconf.config import config_from_dict
    from dnnconf.safe_write import write_atomic
    from dnnconf.studies.keras_reference import train_run, train_transfer

    path = out / "reference-keras" / arm / f"seed-{seed}.json"
    if path.is_file():
        return json.loads(path.read_text())
    task_a, task_b = configs(seed, quick, epochs_a, arm)
    log(f"training {path.parent} seed {seed} in Keras")
    source = train_run(config_from_dict(task_a, task_a["name"]), seed)
    scratch = train_run(config_from_dict(task_b, task_b["name"]), seed)["test_accuracy"]
    transferred_raw = on_a(task_b, out / arm / f"seed-{seed}" / "task-a", quick)
    transferred = train_transfer(config_from_dict(transferred_raw, transferred_raw["name"]), source["model"],
                                 source["data"]["normalization"], seed)["test_accuracy"]
    row = {"arm": arm, "implementation": "keras", "seed": seed, "task_a": source["test_accuracy"],
           "scratch": scratch, "on_a": transferred, "difference": transferred - scratch}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(row))
    log(f"{arm} seed {seed} keras: task A {row['task_a']:.4f}, B scratch {scratch:.4f}, B on A {transferred:.4f}")
    return row


def read_rows(out: Path) -> list[dict[str, Any]]:
    """The rows of an earlier results.csv in `out` (none when there is none)."""
    import csv

    path = out / "results.csv"
    if not path.is_file():
        return []
    with path.open() as handle:
        return [{**r, "seed": int(r["seed"]), **{k: float(r[k]) for k in COLUMNS[3:]}}
                for r in csv.DictReader(handle) if set(COLUMNS) <= set(r)]


def summarize(rows: list[dict[str, Any]], quick: bool, epochs_a: int) -> dict[str, Any]:
    """Per arm and implementation: means ± std and the paired on A − scratch; per arm with both
    implementations: dnnconf − Keras paired by seed, for each measure."""
    rows = sorted(rows, key=lambda r: (ARMS.index(r["arm"]), IMPLEMENTATIONS.index(r["implementation"]), r["seed"]))
    groups: dict[str, dict[str, Any]] = {}
    for arm in ARMS:
        for implementation in IMPLEMENTATIONS:
            mine = [r for r in rows if r["arm"] == arm and r["implementation"] == implementation]
            if mine:
                scratch, transferred = [r["scratch"] for r in mine], [r["on_a"] for r in mine]
                groups.setdefault(arm, {})[implementation] = {
                    "n": len(mine), "task_a": mean_std([r["task_a"] for r in mine]), "scratch": mean_std(scratch),
                    "on_a": mean_std(transferred), "paired": paired_difference(scratch, transferred),
                    "rows": {r["seed"]: r for r in mine}}
    versus = {}
    for arm, by in groups.items():
        if "keras" in by:
            seeds = sorted(set(by["dnnconf"]["rows"]) & set(by["keras"]["rows"])) if "dnnconf" in by else []
            if len(seeds) >= 1:
                versus[arm] = {m: paired_difference([by["keras"]["rows"][s][m] for s in seeds],
                                                    [by["dnnconf"]["rows"][s][m] for s in seeds])
                               for m in ("task_a", "scratch", "on_a", "difference")}
                versus[arm]["seeds"] = seeds  # the side-by-side means are over these seeds only
    return {"rows": rows, "quick": quick, "epochs_a": epochs_a, "groups": groups, "versus": versus}


def interval(paired: Paired) -> str:
    return f"[{paired.low:+.4f}, {paired.high:+.4f}]" if math.isfinite(paired.low) else "n/a"


# the summary's words in each language (`dnnconf study report --lang zh` rebuilds it from results.csv)
WORDS = {
    "en": {"title": "# Transfer learning: task B from scratch vs on task A ({data})", "full": "Fashion-MNIST",
           "quick": "digits analogue (--quick)",
           "epochs": "Task A trained {epochs} epochs a seed; task B 20 epochs (on A: 4 frozen + 16 unfrozen)",
           "epochs_quick": "Task A trained {epochs} epochs a seed (digits analogue).",
           "pairs": "The pairs share the seed and the training images; the 95% intervals are Student's t over the "
                    "per-seed differences.",
           "arm": "## Arm `{arm}`: {means}",
           "header": "| implementation | seeds | task A | B from scratch | B on A | on A − scratch, 95% CI | verdict |",
           "published": "published (book, one run)",
           "versus": "dnnconf beside Keras on the {n} seeds both ran (paired by seed; the two draw different initial "
                     "weights from a seed):",
           "versus_header": "| measure | dnnconf | Keras | dnnconf − Keras, 95% CI | |",
           "measures": ("task A", "B from scratch", "B on A", "on A − scratch"),
           "seed_header": "| arm | implementation | seed | task A | B scratch | B on A | difference |",
           "plot": "![paired accuracies](transfer.png)",
           "verdicts": {}, "agreement": {}},
    "zh": {"title": "# 迁移学习：任务 B 从零训练与基于任务 A 训练（{data}）", "full": "Fashion-MNIST",
           "quick": "digits 上的类比（--quick）",
           "epochs": "任务 A 每个种子训练 {epochs} 个 epoch；任务 B 训练 20 个 epoch"
                     "（基于 A：先冻结 4 个，再解冻 16 个）",
           "epochs_quick": "任务 A 每个种子训练 {epochs} 个 epoch（digits 上的类比）。",
           "pairs": "每一对共享种子和训练图像；95% 区间是各种子差值的 Student t 区间。",
           "arm": "## `{arm}` 组：{means}",
           "header": "| 实现 | 种子数 | 任务 A | B 从零训练 | B 基于 A | 基于 A − 从零，95% CI | 判定 |",
           "published": "公布值（原书，一次运行）",
           "versus": "dnnconf 与 Keras 在两者都运行的 {n} 个种子上对比"
                     "（按种子配对；两者从同一种子抽取的初始权重不同）：",
           "versus_header": "| 指标 | dnnconf | Keras | dnnconf − Keras，95% CI | |",
           "measures": ("任务 A", "B 从零训练", "B 基于 A", "基于 A − 从零"),
           "seed_header": "| 组 | 实现 | 种子 | 任务 A | B 从零训练 | B 基于 A | 差值 |",
           "plot": "![按种子配对的准确率](transfer.png)",
           "verdicts": {"helps": "有帮助", "hurts": "有害", "no clear difference": "无明显差别",
                        "no clear difference (one seed: no interval)": "无明显差别（一个种子：无区间）"},
           "agreement": {"within noise": "在噪声范围内", "differs": "有差别",
                         "one seed: no interval": "一个种子：无区间"}},
}
ARM_MEANS_ZH = {"book": "原书的做法（SGD η = 1e-3，不用学习率调度，输入 / 255）：按原书自己的条件检验它的结论",
                "dnnconf": "dnnconf 的默认配置（Nesterov SGD η = 0.01，performance 调度，按通道标准化）："
                           "检验在训练得更好的基线上增益是否仍然存在"}


def agreement(paired: Paired) -> str:
    if not math.isfinite(paired.low):
        return "one seed: no interval"
    return "within noise" if paired.low <= 0 <= paired.high else "differs"


def summary_lines(result: dict[str, Any], lang: str = "en") -> list[str]:
    """The study's summary.md (and, in Chinese, its section of the studies page)."""
    words = WORDS[lang]
    means = ARM_MEANS_ZH if lang == "zh" else ARM_MEANS
    data = words["quick"] if result["quick"] else words["full"]
    lines = [words["title"].format(data=data), "",
             words["epochs"].format(epochs=result["epochs_a"]) if not result["quick"]
             else words["epochs_quick"].format(epochs=result["epochs_a"]), words["pairs"], ""]
    for arm, by in result["groups"].items():
        lines += [words["arm"].format(arm=arm, means=means[arm]), "", words["header"], "|---|---|---|---|---|---|---|"]
        for implementation, group in by.items():
            paired: Paired = group["paired"]
            verdict = words["verdicts"].get(paired.verdict, paired.verdict)
            lines.append(f"| {implementation} | {group['n']} | {plus_minus(group['task_a'])} | "
                         f"{plus_minus(group['scratch'])} | {plus_minus(group['on_a'])} | "
                         f"{paired.mean:+.4f} {interval(paired)} | {verdict} |")
        if not result["quick"]:
            lines.append(f"| {words['published']} | 1 | – | {PUBLISHED['scratch']} | {PUBLISHED['on_a']} | "
                         f"{PUBLISHED['on_a'] - PUBLISHED['scratch']:+.4f} | |")
        lines.append("")
        if arm in result["versus"]:
            seeds = result["versus"][arm]["seeds"]
            lines += [words["versus"].format(n=len(seeds)), "", words["versus_header"], "|---|---|---|---|---|"]
            for measure, label in zip(("task_a", "scratch", "on_a", "difference"), words["measures"], strict=True):
                paired = result["versus"][arm][measure]
                values = [mean_std([by[i]["rows"][s][measure] for s in seeds]) for i in IMPLEMENTATIONS]
                said = words["agreement"].get(agreement(paired), agreement(paired))
                lines.append(f"| {label} | {plus_minus(values[0])} | {plus_minus(values[1])} | "
                             f"{paired.mean:+.4f} {interval(paired)} | {said} |")
            lines.append("")
    lines += [words["seed_header"], "|---|---|---|---|---|---|---|",
              *[f"| {r['arm']} | {r['implementation']} | {r['seed']} | {r['task_a']:.4f} | {r['scratch']:.4f} | "
                f"{r['on_a']:.4f} | {r['difference']:+.4f} |" for r in result["rows"]],
              "", words["plot"], ""]
    return lines


def folder_summary(folder: Path, lang: str) -> list[str]:
    """The summary of a study folder in `lang`, rebuilt from its results.csv and study.json (nothing trained)."""
    saved = json.loads((folder / "study.json").read_text()) if (folder / "study.json").is_file() else {}
    quick = bool(saved.get("quick", False))
    return summary_lines(summarize(read_rows(folder), quick, int(saved.get("epochs_a", 20))), lang)


def write_outputs(out: Path, result: dict[str, Any]) -> list[Path]:
    from dnnconf.safe_write import write_atomic

    write_atomic(out / "results.csv", csv_text(result["rows"], COLUMNS))
    write_atomic(out / "summary.md", "\n".join(summary_lines(result)))
    plot(result, out / "transfer.png")
    return [out / "results.csv", out / "summary.md", out / "transfer.png"]


def plot(result: dict[str, Any], path: Path) -> Path:
    """Left: each arm and implementation's mean pair of accuracies (its seeds' pairs faint), the published
    numbers. Right: each group's paired differences with their mean and 95% interval."""
    from dnnconf.plots import plt, save_figure

    groups = [(arm, impl, group) for arm, by in result["groups"].items() for impl, group in by.items()]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [3, 2]})
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, (arm, impl, group) in enumerate(groups):
        color = colors[index % len(colors)]
        for row in group["rows"].values():
            left.plot([0, 1], [row["scratch"], row["on_a"]], "-", color=color, alpha=0.25, lw=0.8)
        left.plot([0, 1], [group["scratch"][0], group["on_a"][0]], "s-", color=color, ms=7, lw=2,
                  label=f"{arm}, {impl}")
        diffs = [row["difference"] for row in group["rows"].values()]
        right.scatter([index] * len(diffs), diffs, color=color, s=14, alpha=0.6, zorder=3)
        paired = group["paired"]
        if math.isfinite(paired.low):
            error = [[paired.mean - paired.low], [paired.high - paired.mean]]
            right.errorbar([index + 0.25], [paired.mean], yerr=error, fmt="s", color=color, capsize=5)
    if not result["quick"]:
        left.plot([0, 1], [PUBLISHED["scratch"], PUBLISHED["on_a"]], "D--", color="k", ms=6,
                  label="published (one run)")
    left.set_xticks([0, 1], ["B from scratch", "B on A"])
    left.set_xlim(-0.4, 1.4)
    left.set_ylabel("test accuracy")
    left.grid(alpha=0.3)
    left.legend(fontsize=8)
    right.axhline(0, color="k", lw=0.8)
    right.set_xticks(range(len(groups)), [f"{arm}\n{impl}" for arm, impl, _ in groups], fontsize=8)
    right.set_xlim(-0.5, len(groups) - 0.25)
    right.set_ylabel("on A − scratch (mean, 95% CI)")
    right.grid(alpha=0.3)
    fig.suptitle("transfer learning, paired by seed")
    return save_figure(fig, path)


def run(args: argparse.Namespace) -> int:
    """`dnnconf study transfer`: run, print the summary tables, name the files."""
    arms = ARMS if args.arm == "both" else (args.arm,)
    result = run_study(Path(args.out), args.seeds, args.epochs_a, args.quick, arms=arms, reference=args.reference)
    lines = summary_lines(result)
    print("\n".join(lines[:lines.index(SEED_HEADER)]))
    print("wrote " + ", ".join(str(p) for p in result["files"]))
    return 0
