"""The studies page's own words in each language `dnnconf study report --lang` writes (en, zh).

The verdicts are computed in English (`stats.verdict`: "agrees", "disagrees", "not resolved at N seeds")
and said in the page's language here; the tables' numbers, variant names, config keys and commands are
the same in every language. The Chinese words are the note's (docs/… terms: 批量归一化, 学习率调度,
提前停止, …), as `dnnconf check --lang zh` uses them.
"""

from __future__ import annotations

import re

LANGUAGES = ("en", "zh")
BOOK_NOTEBOOK_ZH = ("原书的 notebook（Hands-On ML 第 3 版第 11 章），每项一次运行，TF 2，"
                    "完整的 Fashion-MNIST，")  # the studies' `published_source`, in Chinese

NOT_RESOLVED = re.compile(r"^not resolved at (\d+) seeds?( \(censored\))?$")

# The summary table's column names and the studies' label names, in Chinese (unknown ones stay as they are).
ZH_COLUMNS = {
    "n": "种子数", "diverged": "发散", "final val acc": "最终验证准确率", "best val acc": "最佳验证准确率",
    "test acc": "测试准确率", "reached": "达到目标", "s/epoch": "秒/epoch", "published": "公布值",
    "activation": "激活函数", "initializer": "初始化", "depth": "深度", "matching": "匹配",
    "batch_norm": "批量归一化", "optimizer": "优化器", "schedule": "学习率调度", "max_lr": "max_lr",
    "regularization": "正则化", "early_stopping": "提前停止", "epochs to target": "达到目标的 epoch 数",
}
EPOCHS_TO = re.compile(r"^epochs to ([\d.]+)$")


def plural(count: int, noun: str) -> str:
    """English counts: "1 variant", "5 variants" (the Chinese pages count without a plural)."""
    return f"{count} {noun}" + ("" if count == 1 else "s")


def check_language(lang: str) -> str:
    """`lang` if it is one the page can be written in, else a BadInput naming the accepted ones."""
    from dnnconf.errors import BadInput

    if lang not in LANGUAGES:
        raise BadInput(f"--lang {str(lang)[:20]!r}: not a language the studies page is written in; known: "
                       f"{', '.join(LANGUAGES)}")
    return lang


def verdict_text(verdict: str, lang: str) -> str:
    """A verdict of `stats.verdict` (or claims' censored form) in `lang`."""
    if lang == "en":
        return verdict
    if verdict == "agrees":
        return "一致"
    if verdict == "disagrees":
        return "不一致"
    found = NOT_RESOLVED.match(verdict)
    if found:
        return f"{found.group(1)} 个种子下未能判定" + ("（有删失）" if found.group(2) else "")
    return verdict


def column_text(column: str, lang: str) -> str:
    """A summary table's column name in `lang` (`epochs to 0.8` → `达到 0.8 的 epoch 数`)."""
    if lang == "en":
        return column
    found = EPOCHS_TO.match(column)
    if found:
        return f"达到 {found.group(1)} 的 epoch 数"
    return ZH_COLUMNS.get(column, column)


def header_row(line: str, lang: str) -> str:
    """A markdown table's header row with each column name in `lang`."""
    if lang == "en":
        return line
    cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
    return "| " + " | ".join(column_text(cell, lang) for cell in cells) + " |"


def counted(counts: dict[str, int], lang: str) -> str:
    """The verdicts of a claim's comparisons counted: `4 agree, 5 not resolved` / `4 项一致，5 项未能判定`."""
    plural = {"agrees": "agree", "disagrees": "disagree", "not resolved": "not resolved"}
    zh = {"agrees": "一致", "disagrees": "不一致", "not resolved": "未能判定"}
    keys = [k for k in ("agrees", "disagrees", "not resolved") if k in counts]
    if lang == "zh":
        return "，".join(f"{counts[k]} 项{zh[k]}" for k in keys)
    return ", ".join(f"{counts[k]} {k if counts[k] == 1 else plural[k]}" for k in keys)
