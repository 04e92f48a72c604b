"""A study's files: results.csv (one row a run), summary.md (mean ± std a cell, published beside, then the
note's claims with paired 95% intervals and verdicts, `dnnconf.studies.claims`) and plots.

Plots (matplotlib, Agg): `curves.png`, the validation accuracy per epoch of each variant, the mean over
its seeds with a band of ± one std (panels split by `Study.panel_by`); `bars.png`, the final validation
accuracy of each variant, mean with ± std error bars, each seed's dot, and the published number as a
diamond where the note or its book has one.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from dnnconf.csv_text import csv_text
from dnnconf.studies.claims import ZH_METRICS, Claim, compare, comparison_lines
from dnnconf.studies.framework import METRICS, RUN_COLUMNS, Options, Study, Variant, format_cell, read_history
from dnnconf.studies.language import header_row, plural
from dnnconf.studies.stats import mean_std, plus_minus


def write_outputs(study: Study, options: Options, rows: list[dict[str, Any]]) -> list[Path]:
    from dnnconf.safe_write import write_atomic

    out = options.out
    write_atomic(out / "results.csv", results_csv(study, rows))
    write_atomic(out / "summary.md", "\n".join(summary_lines(study, options, rows)) + "\n")
    return [out / "results.csv", out / "summary.md", curves(study, rows, out / "curves.png"),
            bars(study, rows, out / "bars.png")]


def cells(study: Study, rows: list[dict[str, Any]]) -> list[tuple[Variant, dict[str, Any]]]:
    """Per variant, in the study's order: n, diverged count and (mean, std) of each metric over its seeds."""
    out = []
    for variant in study.variants:
        mine = [r for r in rows if r["variant"] == variant.name]
        stats: dict[str, Any] = {"n": len(mine), "diverged": sum(r["diverged"] for r in mine),
                                 "reached": sum(r["epochs_to_target"] is not None for r in mine)}
        for metric in METRICS:
            stats[metric] = mean_std([r[metric] for r in mine if r[metric] is not None])
        out.append((variant, stats))
    return out


def columns(study: Study) -> list[str]:
    labels: list[str] = []
    for variant in study.variants:
        labels += [k for k in variant.labels if k not in labels]
    return ["study", "variant", *labels, *RUN_COLUMNS, *(study.measure.columns if study.measure else ())]


def results_csv(study: Study, rows: list[dict[str, Any]]) -> str:
    return csv_text(rows, columns(study), cell=lambda value: format_cell(value, 6))


def summary_table(study: Study, rows: list[dict[str, Any]], lang: str = "en") -> list[str]:
    """The markdown table: one line a variant, mean ± std over its seeds, the published number beside."""
    measured = study.measure.columns if study.measure else ()
    labels = [c for c in columns(study)[2:] if c not in RUN_COLUMNS and c not in measured]
    head = [*labels, "n", "diverged", "final val acc", "best val acc", "test acc"]
    if study.target is not None:
        head += [f"epochs to {study.target:g}", "reached"]
    head += ["s/epoch"]
    published = any(v.published is not None for v in study.variants)
    if published:
        head += ["published"]
    lines = [header_row("| " + " | ".join(head) + " |", lang), "|" + "---|" * len(head)]
    for variant, stats in cells(study, rows):
        line = [variant.labels.get(k, "") for k in labels]
        line += [str(stats["n"]), str(stats["diverged"]), plus_minus(stats["final_val_accuracy"]),
                 plus_minus(stats["best_val_accuracy"]), plus_minus(stats["test_accuracy"])]
        if study.target is not None:
            line += [plus_minus(stats["epochs_to_target"], 2), f"{stats['reached']}/{stats['n']}"]
        line += [plus_minus(stats["seconds_per_epoch"], 3)]
        if published:
            metric = variant.published_metric
            said = (f"（{ZH_METRICS.get(metric, metric)}）" if lang == "zh" else f" ({metric.replace('_', ' ')})") \
                if metric else ""
            line += [(f"{variant.published:.4f}" + said)
                     if variant.published is not None else ""]
        lines.append("| " + " | ".join(line) + " |")
    return lines


def judged_claims(study: Study, options: Options) -> list[Claim]:
    """The claims this profile can judge: not the published numbers (all 55,000 images) on a subset."""
    subset = options.train_size is not None
    return [claim for claim in study.claims if not (subset and claim.baseline is None)]


def summary_lines(study: Study, options: Options, rows: list[dict[str, Any]], lang: str = "en") -> list[str]:
    """summary.md's lines; in zh (`dnnconf study report --lang zh`) the same tables under Chinese words."""
    if lang == "zh":
        return _summary_lines_zh(study, options, rows)
    data = options.dataset + (f", the first {options.train_size} training images" if options.train_size else "")
    seeds = sorted({r["seed"] for r in rows})
    lines = [f"# {study.title}", "",
             f"{plural(len(study.variants), 'variant')} × {plural(len(seeds), 'seed')} ({', '.join(map(str, seeds))}), "
             f"{options.epochs} "
             f"epochs, {data}{' (--quick: a CI profile, not comparable with the note)' if options.quick else ''}.",
             "Each cell: mean ± sample std over the seeds (diverged runs included, with the accuracy of the weights "
             "rolled back to the last good epoch).", ""]
    lines += summary_table(study, rows)
    if study.published_source and any(v.published is not None for v in study.variants):
        lines += ["", f"Published: {study.published_source} (compare with our "
                  f"{study.published_metric.replace('_', ' ')})."]
        if options.train_size is not None and any(claim.baseline is None for claim in study.claims):
            lines += ["The published numbers are not judged below: they were measured on all training images, "
                      f"these runs on the first {options.train_size:,}."]
    comparisons = comparison_lines(compare(judged_claims(study, options), study.variants, rows), study.target)
    if comparisons:
        lines += ["", *comparisons]
    if study.target is not None:
        lines += ["", f"Epochs to {study.target:g}: fractional epochs until the validation accuracy first reaches "
                  f"{study.target:g} (linear between epochs), over the runs that reached it (`reached`)."]
    if study.notes:
        lines += ["", *[f"- {note}" for note in study.notes]]
    if study.extra_summary is not None:
        lines += ["", *study.extra_summary(study, rows)]
    lines += ["", "![learning curves](curves.png)", "", "![final validation accuracy](bars.png)", ""]
    return lines


def _summary_lines_zh(study: Study, options: Options, rows: list[dict[str, Any]]) -> list[str]:
    data = options.dataset + (f"，训练集的前 {options.train_size} 张图" if options.train_size else "")
    seeds = sorted({r["seed"] for r in rows})
    lines = [f"# {study.title}", "",
             f"{len(study.variants)} 个变体 × {len(seeds)} 个种子（{', '.join(map(str, seeds))}），{options.epochs} "
             f"个 epoch，{data}{'（--quick：CI 用的配置，不能与笔记比较）' if options.quick else ''}。",
             "每格：各种子的均值 ± 样本标准差（发散的运行也计入，取回退到最后一个正常 epoch 的权重的准确率）。", ""]
    lines += summary_table(study, rows, "zh")
    if study.published_source and any(v.published is not None for v in study.variants):
        lines += ["", f"公布值：{study.published_source_zh or study.published_source}"
                  f"（与我们的{ZH_METRICS.get(study.published_metric, study.published_metric)}比较）。"]
        if options.train_size is not None and any(claim.baseline is None for claim in study.claims):
            lines += [f"下面不判定公布的数字：它们是在全部训练图上测得的，这些运行只用了前 {options.train_size:,} 张。"]
    comparisons = comparison_lines(compare(judged_claims(study, options), study.variants, rows), study.target, "zh")
    if comparisons:
        lines += ["", *comparisons]
    if study.target is not None:
        lines += ["", f"达到 {study.target:g} 的 epoch 数：验证准确率首次达到 {study.target:g} 所用的 "
                  "epoch 数（epoch 之间线性插值，可为小数），只计达到的运行（`reached`）。"]
    notes = study.notes_zh or study.notes
    if notes:
        lines += ["", *[f"- {note}" for note in notes]]
    if study.extra_summary is not None:
        lines += ["", *study.extra_summary(study, rows, lang="zh")]
    lines += ["", "![学习曲线](curves.png)", "", "![最终验证准确率](bars.png)", ""]
    return lines


def _panel(study: Study, labels: dict[str, str]) -> str | None:
    keys = (study.panel_by,) if isinstance(study.panel_by, str) else study.panel_by
    return ", ".join(labels.get(k, "") for k in keys) if keys else None


def curves(study: Study, rows: list[dict[str, Any]], path: Path) -> Path:
    from dnnconf.plots import plt, save_figure

    panels = list(dict.fromkeys(_panel(study, v.labels) for v in study.variants))
    keys = (study.panel_by,) if isinstance(study.panel_by, str) else (study.panel_by or ())
    columns = min(len(panels), 3)
    lines_ = math.ceil(len(panels) / columns)
    fig, axes = plt.subplots(lines_, columns, figsize=(max(7.0, 5.0 * columns), 3.6 * lines_), squeeze=False)
    for ax, panel in zip(axes.flat, panels, strict=False):
        for variant in [v for v in study.variants if _panel(study, v.labels) == panel]:
            histories = [read_history(Path(r["folder"])) for r in rows if r["variant"] == variant.name]
            longest = max((len(h) for h in histories), default=0)
            means, lows, highs = [], [], []
            for epoch in range(longest):
                values = [h[epoch].get("val_accuracy", math.nan) for h in histories if len(h) > epoch]
                values = [v for v in values if math.isfinite(v)]
                mean = sum(values) / len(values) if values else math.nan
                std = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5 if len(values) > 1 else 0.0
                means.append(mean)
                lows.append(mean - std)
                highs.append(mean + std)
            epochs = list(range(1, longest + 1))
            label = next((value for key, value in variant.labels.items() if key not in keys), variant.name)
            (line,) = ax.plot(epochs, means, "o-", ms=2.5, lw=1.2, label=label if keys else variant.name)
            ax.fill_between(epochs, lows, highs, color=line.get_color(), alpha=0.15, lw=0)
        if study.target is not None:
            ax.axhline(study.target, color="k", lw=0.7, ls="--")
        ax.set_title(panel if panel is not None else study.title, fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation accuracy")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    fig.suptitle("validation accuracy per epoch: mean ± std over seeds" + (" (dashed: the target)" if study.target
                                                                           else ""), fontsize=10)
    return save_figure(fig, path, dpi=80)


def bars(study: Study, rows: list[dict[str, Any]], path: Path) -> Path:
    from dnnconf.plots import plt, save_figure

    stats = cells(study, rows)
    fig, ax = plt.subplots(figsize=(7.5, 1.2 + 0.32 * len(stats)))
    for y, (variant, cell) in enumerate(stats):
        mean, std = cell["final_val_accuracy"]
        ax.barh(y, mean if math.isfinite(mean) else 0, xerr=std if math.isfinite(std) else 0, capsize=3,
                color="tab:red" if cell["diverged"] else "tab:blue", alpha=0.75)
        seeds = [r["final_val_accuracy"] for r in rows if r["variant"] == variant.name and r["final_val_accuracy"]]
        ax.plot(seeds, [y] * len(seeds), "k.", ms=3)
        if variant.published is not None:
            ax.plot([variant.published], [y], "D", color="tab:orange", ms=6,
                    label="published" if y == next(i for i, (v, _) in enumerate(stats) if v.published) else None)
    ax.set_yticks(range(len(stats)), [v.name for v, _ in stats], fontsize=7)
    ax.invert_yaxis()
    finals = [r["final_val_accuracy"] for r in rows if r["final_val_accuracy"] is not None]
    low = min([*finals, *(v.published for v in study.variants if v.published is not None)], default=0)
    ax.set_xlim(max(0.0, low - 0.05), 1.0)
    ax.set_xlabel("final validation accuracy (mean ± std; dots: seeds; red: some runs diverged)")
    ax.grid(axis="x", alpha=0.3)
    if any(v.published is not None for v in study.variants):
        ax.legend(fontsize=8, loc="lower right")
    ax.set_title(study.title, fontsize=10)
    return save_figure(fig, path, dpi=80)
