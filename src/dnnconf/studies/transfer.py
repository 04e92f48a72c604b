"""`dnnconf study transfer`: does reusing task A's layers help task B? (the note's section 2, over seeds)

For each seed: train task A (Fashion-MNIST without pullover and T-shirt/top, 8 classes), then task B
(pullover vs T-shirt/top, the first 200 training images) from scratch and on A (A's hidden layers
copied, frozen for 4 epochs, then unfrozen for 16 more). The pairs share the seed and the 200 images.
Reports mean ± std of the test accuracies, the paired difference (on A − scratch) with its 95%
t-interval, a verdict, and the book's published single-run numbers beside ours.

Writes into --out (default runs/study-transfer): seed-S/{task-a,b-scratch,b-on-a}/ (run folders),
results.csv, summary.md, transfer.png. Finished runs are not redone (run again to resume; more
--seeds adds seeds). `--quick` runs a digits analogue (A: 8 digits; B: 4 vs 9, 50 images) for a few
epochs, in seconds.
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
from dnnconf.studies.stats import Paired, mean_std, paired_difference, plus_minus, t_critical  # noqa: F401 - re-exported

HELP = "transfer learning: task B from scratch vs on task A's layers, over seeds (note §2)"
PUBLISHED = {"scratch": 0.9185, "on_a": 0.9385}  # the book's notebook, one run, TF 2 (±1 point)
MODEL = {"hidden": [100, 100, 100], "activation": "relu", "kernel_initializer": "he_normal"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seeds", type=at_most(MAX_STUDY_SEEDS), default=5,
                        help="seeds (pairs of task B runs), 0..N-1 (default 5)")
    parser.add_argument("--epochs-a", type=at_most(), default=None,
                        help="epochs of task A (default: the note's 30; --quick: 5)")
    parser.add_argument("--out", default="runs/study-transfer", help="study folder (default runs/study-transfer)")
    parser.add_argument("--quick", action="store_true",
                        help="a digits analogue with few epochs (for CI: seconds, not the note's numbers)")


def configs(seed: int, quick: bool, epochs_a: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Raw configs of task A and task B from scratch (task B on A adds a transfer section)."""
    if quick:
        data = {"dataset": "digits", "valid_size": 0.15}
        a_classes, b_classes, positive, limit = [0, 1, 2, 3, 5, 6, 7, 8], [4, 9], 9, 50
        optimizer, b_epochs = {"name": "sgd", "learning_rate": 0.01, "momentum": 0.9}, 4
    else:  # examples/transfer/*.yaml
        data = {"dataset": "fashion_mnist", "valid_size": 5000}
        a_classes, b_classes, positive, limit = [1, 3, 4, 5, 6, 7, 8, 9], [0, 2], 2, 200
        optimizer, b_epochs = {"name": "sgd", "learning_rate": 0.001}, 20
    common = {"seed": seed, "model": dict(MODEL), "optimizer": optimizer, "schedule": {"name": "constant"}}
    task_a = {**common, "name": "transfer-task-a", "data": {**data, "classes": a_classes},
              "training": {"epochs": epochs_a, "early_stopping": None}}
    task_b = {**common, "name": "transfer-task-b-scratch",
              "data": {**data, "classes": b_classes, "positive_class": positive, "train_limit": limit},
              "training": {"epochs": b_epochs, "early_stopping": None}}
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


def check_study_options(out: Path, options: dict[str, Any]) -> None:
    from dnnconf.errors import ConfigError

    path = out / "study.json"
    if path.is_file():
        saved = json.loads(path.read_text())
        if saved != options:
            raise ConfigError(f"--out {out}: holds a study run with {saved}, not {options}; choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(options))


def run_study(out: Path, seeds: int, epochs_a: int | None = None, quick: bool = False,
              log: Any = print) -> dict[str, Any]:
    """Run (or resume) the study; returns rows, statistics and the written files."""
    from dnnconf.errors import ConfigError

    if seeds < 1:
        raise ConfigError(f"--seeds: {seeds} must be at least 1")
    epochs_a = epochs_a if epochs_a is not None else (5 if quick else 30)
    if epochs_a < 1:
        raise ConfigError(f"--epochs-a: {epochs_a} must be at least 1")
    check_study_options(out, {"quick": quick, "epochs_a": epochs_a})
    rows = []
    for seed in range(seeds):
        task_a, task_b = configs(seed, quick, epochs_a)
        base = out / f"seed-{seed}"
        accuracy_a = train_or_load(task_a, base / "task-a", log)
        scratch = train_or_load(task_b, base / "b-scratch", log)
        transferred = train_or_load(on_a(task_b, base / "task-a", quick), base / "b-on-a", log)
        rows.append({"seed": seed, "task_a": accuracy_a, "scratch": scratch, "on_a": transferred,
                     "difference": transferred - scratch})
        log(f"seed {seed}: task A {accuracy_a:.4f}, B scratch {scratch:.4f}, B on A {transferred:.4f}")
    result = summarize(rows, quick, epochs_a)
    files = write_outputs(out, result)
    return {**result, "files": files}


def summarize(rows: list[dict[str, Any]], quick: bool, epochs_a: int) -> dict[str, Any]:
    scratch, transferred = [r["scratch"] for r in rows], [r["on_a"] for r in rows]
    return {"rows": rows, "quick": quick, "epochs_a": epochs_a, "scratch": mean_std(scratch),
            "on_a": mean_std(transferred), "task_a": mean_std([r["task_a"] for r in rows]),
            "paired": paired_difference(scratch, transferred)}


def summary_lines(result: dict[str, Any]) -> list[str]:
    paired: Paired = result["paired"]
    data = "digits analogue (--quick)" if result["quick"] else "Fashion-MNIST"
    interval = (f"[{paired.low:+.4f}, {paired.high:+.4f}]" if math.isfinite(paired.low) else "n/a")
    published = "n/a (another dataset)" if result["quick"] else None
    lines = [
        f"# Transfer learning: task B from scratch vs on task A ({data})", "",
        f"{paired.n} seeds; task A trained {result['epochs_a']} epochs a seed (test accuracy "
        f"{plus_minus(result['task_a'])}); the pairs share the seed and the training images.", "",
        "| task B | test accuracy (mean ± std) | published (book, one run) |", "|---|---|---|",
        f"| from scratch | {plus_minus(result['scratch'])} | {published or PUBLISHED['scratch']} |",
        f"| on A | {plus_minus(result['on_a'])} | {published or PUBLISHED['on_a']} |", "",
        f"Paired difference (on A − scratch): {paired.mean:+.4f}, 95% CI {interval} (t, {paired.n - 1} df)"
        + (f" (published: {PUBLISHED['on_a'] - PUBLISHED['scratch']:+.4f})" if not result["quick"] else ""),
        f"Verdict: reusing task A's layers **{paired.verdict}**.", "",
        "| seed | task A | B scratch | B on A | difference |", "|---|---|---|---|---|",
        *[f"| {r['seed']} | {r['task_a']:.4f} | {r['scratch']:.4f} | {r['on_a']:.4f} | {r['difference']:+.4f} |"
          for r in result["rows"]],
        "", "![paired accuracies](transfer.png)", "",
    ]
    return lines


def write_outputs(out: Path, result: dict[str, Any]) -> list[Path]:
    from dnnconf.safe_write import write_atomic

    write_atomic(out / "results.csv", csv_text(result["rows"], ["seed", "task_a", "scratch", "on_a", "difference"]))
    write_atomic(out / "summary.md", "\n".join(summary_lines(result)))
    plot(result, out / "transfer.png")
    return [out / "results.csv", out / "summary.md", out / "transfer.png"]


def plot(result: dict[str, Any], path: Path) -> Path:
    """Left: each seed's pair of accuracies joined by a line, the means, the published numbers.
    Right: the paired differences with their mean and 95% interval."""
    from dnnconf.plots import plt, save_figure

    rows, paired = result["rows"], result["paired"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), gridspec_kw={"width_ratios": [3, 2]})
    for row in rows:
        left.plot([0, 1], [row["scratch"], row["on_a"]], "o-", color="0.6", ms=4, lw=0.8)
    left.plot([0, 1], [result["scratch"][0], result["on_a"][0]], "s-", color="tab:blue", ms=8, lw=2, label="mean")
    if not result["quick"]:
        left.plot([0, 1], [PUBLISHED["scratch"], PUBLISHED["on_a"]], "D--", color="tab:orange", ms=7,
                  label="published (one run)")
    left.set_xticks([0, 1], ["B from scratch", "B on A"])
    left.set_xlim(-0.4, 1.4)
    left.set_ylabel("test accuracy")
    left.grid(alpha=0.3)
    left.legend()
    diffs = [row["difference"] for row in rows]
    right.scatter([0] * len(diffs), diffs, color="0.5", s=16, zorder=3)
    if math.isfinite(paired.low):
        right.errorbar([0.25], [paired.mean], yerr=[[paired.mean - paired.low], [paired.high - paired.mean]],
                       fmt="s", color="tab:blue", capsize=6, label="mean, 95% CI")
    right.axhline(0, color="k", lw=0.8)
    right.set_xticks([])
    right.set_xlim(-0.5, 0.75)
    right.set_ylabel("on A − scratch")
    right.set_title(f"verdict: {paired.verdict}", fontsize=10)
    right.grid(alpha=0.3)
    if math.isfinite(paired.low):
        right.legend()
    fig.suptitle(f"transfer learning, {paired.n} seeds")
    return save_figure(fig, path)


def run(args: argparse.Namespace) -> int:
    """`dnnconf study transfer`: run, print the summary table, name the files."""
    result = run_study(Path(args.out), args.seeds, args.epochs_a, args.quick)
    print("\n".join(line for line in summary_lines(result)[:12]))
    print("wrote " + ", ".join(str(p) for p in result["files"]))
    return 0
