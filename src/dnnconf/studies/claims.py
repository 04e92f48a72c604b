"""The note's claims as data, and what a study's runs say of each: paired differences, intervals, verdicts.

A study module lists its `Claim`s: a variant compared with a baseline variant (the pairs share the
seed: the same initial weights where the shapes agree, the same batch order and data), or with its
published single number (`baseline` None: the variant's `published`, compared on its
`published_metric`). A claim may compare two columns of the same runs: `baseline_metric` names the
baseline's column (e.g. MC dropout's test accuracy against the deterministic one, baseline the variant
itself). `compare` computes each claim's difference with its 95% t interval
(`stats.paired_difference`, `stats.one_sample`) and the verdict (`stats.verdict`): "agrees",
"disagrees", or "not resolved at N seeds" when the interval allows both.

Published numbers are single runs, "±1 point" by the book's own account, so the claim checked against
them is "reproduced within ± `PUBLISHED_TOLERANCE`" (an equivalence check: the whole interval of our
mean minus the published number must lie inside ± 0.01 to agree, wholly outside to disagree).

`epochs_to_target` is censored: a run that never reached the target (or diverged) counts as the epoch
budget, a lower bound of its true epochs. A verdict that a censored run could reverse is withheld
("not resolved …, censored"): when the variant was censored its true difference may be larger, when
the baseline was, smaller.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from dnnconf.studies.language import counted, verdict_text
from dnnconf.studies.stats import AGREES, DISAGREES, Paired, one_sample, paired_difference, signed_interval, verdict

PUBLISHED_TOLERANCE = 0.01  # the book: its single runs vary by about ±1 point
CENSORED_METRICS = ("epochs_to_target",)
METRIC_NAMES = {"final_val_accuracy": "final val acc", "best_val_accuracy": "best val acc",
                "test_accuracy": "test acc", "epochs_to_target": "epochs to target",
                "test_nll": "test NLL", "test_ece": "test ECE", "mc_test_accuracy": "MC test acc",
                "mc_test_nll": "MC test NLL", "mc_test_ece": "MC test ECE"}


@dataclass(frozen=True)
class Claim:
    """One comparison the note makes: `variant` against `baseline` (paired by seed) or, with `baseline`
    None, against its published number. `claim` is the note's claim in words (claims sharing the text
    form one line of the at-a-glance table); `expect` says what the claim predicts for variant − baseline
    on `metric` ("higher", "lower", or "within" ± `tolerance`)."""

    claim: str
    variant: str
    baseline: str | None = None
    expect: str = "higher"
    metric: str = "test_accuracy"  # the held-out test set: larger than validation, and no run selected on it
    tolerance: float = 0.0
    claim_zh: str = ""  # the claim in Chinese, for `dnnconf study report --lang zh`
    baseline_metric: str | None = None  # the baseline's column when not `metric` (two columns of the same runs)

    def text(self, lang: str = "en") -> str:
        """The claim in `lang` (the English words where no translation was written)."""
        return self.claim_zh if lang == "zh" and self.claim_zh else self.claim


@dataclass(frozen=True)
class Comparison:
    claim: Claim
    metric: str
    reference: str  # what the variant is compared with, in words
    interval: Paired
    verdict: str
    censored: int = 0


def against_published(variants: Iterable[Any], claim: str, metric: str = "final_val_accuracy",
                      claim_zh: str = "") -> list[Claim]:
    """One "reproduced within ±1 point" claim a variant that has a published number."""
    return [Claim(claim, v.name, None, "within", v.published_metric or metric, PUBLISHED_TOLERANCE, claim_zh)
            for v in variants if v.published is not None]


def _value(row: dict[str, Any], metric: str, budget: float) -> tuple[float | None, bool]:
    """The row's value of `metric` and whether it is censored (epochs_to_target never reached: the budget)."""
    value = row.get(metric)
    if metric in CENSORED_METRICS and (value is None or row.get("diverged")):
        return budget, True
    return (float(value), False) if value is not None and math.isfinite(float(value)) else (None, False)


UNSAFE_WHEN_VARIANT_CENSORED = {("lower", AGREES), ("higher", DISAGREES), ("within", AGREES)}
UNSAFE_WHEN_BASELINE_CENSORED = {("lower", DISAGREES), ("higher", AGREES), ("within", AGREES)}


def compare(claims: Iterable[Claim], variants: Iterable[Any], rows: list[dict[str, Any]]) -> list[Comparison]:
    """Every claim whose variants have rows: the difference, its 95% t interval and the verdict."""
    published = {v.name: v.published for v in variants}
    by_variant: dict[str, dict[int, dict[str, Any]]] = {}
    for row in rows:
        by_variant.setdefault(row["variant"], {})[int(row["seed"])] = row
    out = []
    for claim in claims:
        mine = by_variant.get(claim.variant)
        if not mine:
            continue
        if claim.baseline is None:
            reference = published.get(claim.variant)
            if reference is None:
                continue  # no published number for this dataset
            budget = max(float(r.get("epochs_run") or 0) for r in mine.values())
            values = [(v, c) for v, c in (_value(r, claim.metric, budget) for _, r in sorted(mine.items()))
                      if v is not None]
            interval = one_sample([v for v, _ in values], reference)
            censored_variant, censored_baseline = sum(c for _, c in values), 0
            text = f"published {reference:.4f}"
        else:
            theirs = by_variant.get(claim.baseline)
            if not theirs:
                continue
            seeds = sorted(set(mine) & set(theirs))
            budget = max(float(r.get("epochs_run") or 0) for r in [*mine.values(), *theirs.values()])
            theirs_metric = claim.baseline_metric or claim.metric
            pairs = [(_value(theirs[s], theirs_metric, budget), _value(mine[s], claim.metric, budget)) for s in seeds]
            pairs = [(b, a) for b, a in pairs if b[0] is not None and a[0] is not None]
            interval = paired_difference([b[0] for b, _ in pairs], [a[0] for _, a in pairs])
            censored_variant, censored_baseline = sum(a[1] for _, a in pairs), sum(b[1] for b, _ in pairs)
            text = claim.baseline if claim.baseline_metric is None else \
                f"{claim.baseline} ({METRIC_NAMES.get(theirs_metric, theirs_metric)})"
        said = verdict(interval, claim.expect, claim.tolerance)
        if (censored_variant and (claim.expect, said) in UNSAFE_WHEN_VARIANT_CENSORED) or \
                (censored_baseline and (claim.expect, said) in UNSAFE_WHEN_BASELINE_CENSORED):
            said = f"not resolved at {interval.n} seeds (censored)"
        out.append(Comparison(claim, claim.metric, text, interval, said, censored_variant + censored_baseline))
    return out


def _expectation(claim: Claim, lang: str = "en") -> str:
    """What the note predicts for the difference: `> 0`, `< 0` or `within ±0.01` (zh: `在 ±0.01 内`)."""
    if claim.expect == "within":
        return f"在 ±{claim.tolerance:g} 内" if lang == "zh" else f"within ±{claim.tolerance:g}"
    return ("> 0" if claim.expect == "higher"
                                                                         else "< 0")


ZH_INTRO = ("每个差值都是变体 − 参照，取两者共有的种子按种子配对，附 95% Student t 区间；与公布的单次运行相比时，"
            "是我们的均值 − 公布的数字。判定：只有整个区间都支持时才写*一致* / *不一致*，否则为*未能判定*。"
            "公布的数字在 ±1 个百分点内（原书自己的误差）即算复现。")
ZH_CENSORED = "达到目标的 epoch 数：从未达到目标的运行按 epoch 预算计（删失）；删失运行可能推翻的判定不予给出。"
ZH_METRICS = {"final_val_accuracy": "最终验证准确率", "best_val_accuracy": "最佳验证准确率",
              "test_accuracy": "测试准确率", "epochs_to_target": "达到目标的 epoch 数",
              "test_nll": "测试 NLL", "test_ece": "测试 ECE", "mc_test_accuracy": "MC dropout 测试准确率",
              "mc_test_nll": "MC dropout 测试 NLL", "mc_test_ece": "MC dropout 测试 ECE"}


def comparison_lines(comparisons: list[Comparison], target: float | None = None, lang: str = "en") -> list[str]:
    """Markdown: per claim, a table of its comparisons (difference variant − reference, 95% CI, verdict)."""
    if not comparisons:
        return []
    if lang == "zh":
        return _comparison_lines_zh(comparisons, target)
    lines = ["## The note's claims, measured", "",
             "Each difference is variant − reference over the seeds both have, paired by seed, with its 95% "
             "Student t interval; against a published single run it is our mean − the published number. "
             "Verdict: *agrees* / *disagrees* only where the whole interval supports it, else *not resolved*. "
             "Published numbers count as reproduced within ±1 point (the book's own margin)."
             + (" Epochs to target: a run that never reached it counts as the epoch budget (censored); a verdict "
                "a censored run could reverse is withheld." if any(c.censored for c in comparisons) else "")]
    groups: dict[str, list[Comparison]] = {}
    for comparison in comparisons:
        groups.setdefault(comparison.claim.claim, []).append(comparison)
    for claim, members in groups.items():
        lines += ["", f"**The note: {claim}**", "",
                  "| variant | compared with | metric | expected | n | difference [95% CI] | verdict |",
                  "|---|---|---|---|---|---|---|"]
        for c in members:
            metric = METRIC_NAMES.get(c.metric, c.metric.replace("_", " "))
            if c.metric == "epochs_to_target" and target is not None:
                metric = f"epochs to {target:g}"
            digits = 2 if c.metric in CENSORED_METRICS else 4
            censored = f" ({c.censored} censored)" if c.censored else ""
            lines.append(f"| {c.claim.variant} | {c.reference} | {metric} | {_expectation(c.claim)} | "
                         f"{c.interval.n} | {signed_interval(c.interval, digits)}{censored} | {c.verdict} |")
    return lines


def _reference_zh(c: Comparison) -> str:
    """What the variant was compared with, in Chinese words (the published number; the baseline's column)."""
    if c.claim.baseline is None:
        return c.reference.replace("published", "公布值", 1)
    if c.claim.baseline_metric is not None:
        return f"{c.claim.baseline}（{ZH_METRICS.get(c.claim.baseline_metric, c.claim.baseline_metric)}）"
    return c.reference


def _comparison_lines_zh(comparisons: list[Comparison], target: float | None) -> list[str]:
    lines = ["## 笔记的结论，实测", "", ZH_INTRO + (ZH_CENSORED if any(c.censored for c in comparisons) else "")]
    groups: dict[str, list[Comparison]] = {}
    for comparison in comparisons:
        groups.setdefault(comparison.claim.claim, []).append(comparison)
    for members in groups.values():
        lines += ["", f"**笔记：{members[0].claim.text('zh')}**", "",
                  "| 变体 | 参照 | 指标 | 预期 | 种子数 | 差值 [95% CI] | 判定 |", "|---|---|---|---|---|---|---|"]
        for c in members:
            metric = ZH_METRICS.get(c.metric, c.metric)
            if c.metric == "epochs_to_target" and target is not None:
                metric = f"达到 {target:g} 的 epoch 数"
            digits = 2 if c.metric in CENSORED_METRICS else 4
            censored = f"（{c.censored} 次删失）" if c.censored else ""
            reference = _reference_zh(c)
            lines.append(f"| {c.claim.variant} | {reference} | {metric} | {_expectation(c.claim, 'zh')} | "
                         f"{c.interval.n} | {signed_interval(c.interval, digits)}{censored} | "
                         f"{verdict_text(c.verdict, 'zh')} |")
    return lines


def glance_cells(comparisons: list[Comparison], lang: str = "en") -> list[tuple[str, str, str]]:
    """Per claim (in order): (claim, what was measured, verdicts) for the at-a-glance table."""
    groups: dict[str, list[Comparison]] = {}
    for comparison in comparisons:
        groups.setdefault(comparison.claim.claim, []).append(comparison)
    out = []
    for members in groups.values():
        if len(members) == 1:
            c = members[0]
            digits = 2 if c.metric in CENSORED_METRICS else 4
            reference = _reference_zh(c) if lang == "zh" else c.reference
            versus = "对比" if lang == "zh" else "vs"
            measured = (f"{c.claim.variant} {versus} {reference}: {signed_interval(c.interval, digits)} "
                        f"(n = {c.interval.n})")
            out.append((c.claim.text(lang), measured, verdict_text(c.verdict, lang)))
            continue
        counts: dict[str, int] = {}
        for c in members:
            key = c.verdict if c.verdict in (AGREES, DISAGREES) else "not resolved"
            counts[key] = counts.get(key, 0) + 1
        agreeing = [c.claim.variant for c in members if c.verdict == AGREES]
        disagreeing = [c.claim.variant for c in members if c.verdict == DISAGREES]
        seeds = f"n = {min(c.interval.n for c in members)}" + (
            f"–{max(c.interval.n for c in members)}" if len({c.interval.n for c in members}) > 1 else "")
        labels = (("一致", agreeing), ("不一致", disagreeing)) if lang == "zh" else \
            (("agree", agreeing), ("disagree", disagreeing))
        measured = (f"{len(members)} 项比较，{seeds}" if lang == "zh" else f"{len(members)} comparisons, {seeds}")
        # in Chinese the variants' names are code among the words (the page's prose check skips code)
        measured += "".join((f"；{label}：" + "、".join(f"`{name}`" for name in names)) if lang == "zh"
                            else (f"; {label}: " + ", ".join(names)) for label, names in labels if names)
        out.append((members[0].claim.text(lang), measured, counted(counts, lang)))
    return out
