"""The rule set of `dnnconf check`: the note's advice as small functions `(config) -> list[Finding]`.

The rules live by the note's sections: `dnnconf.advice.rules_gradients` (§1), `rules_training` (§2–§4),
`rules_regularization` (§5, §6); the registry, `Rule` and `Finding` in `rule_registry`; what the rules read
from a config in `config_reading`. This module runs them (`check_config`) and formats the findings.
Findings of one rule with the same details are merged into one (`also` lists the other paths).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

# isort: off
# the rule modules register their rules when imported: in this order, RULES holds them in id order
from dnnconf.advice import rules_gradients  # noqa: F401 - DNC1xx
from dnnconf.advice import rules_training  # noqa: F401 - DNC2xx, DNC3xx, DNC4xx
from dnnconf.advice import rules_regularization  # noqa: F401 - DNC5xx, DNC6xx
# isort: on
from dnnconf.advice.messages import LANGS, SECTIONS, SEVERITY_NAMES, UI
from dnnconf.advice.rule_registry import RULES, SEVERITIES, Finding, Rule, Severity, finding, rule

__all__ = ["RULES", "SEVERITIES", "Finding", "Rule", "Severity", "check_config", "counts", "default_lang", "finding",
           "findings_json", "format_text", "has_errors", "rule", "rules_markdown", "section_label"]


def _merge(findings: list[Finding]) -> list[Finding]:
    """One finding per rule and details; the other paths go to `also`."""
    merged: dict[tuple[str, tuple[tuple[str, str], ...]], Finding] = {}
    for item in findings:
        key = (item.id, item.args)
        first = merged.get(key)
        if first is None:
            merged[key] = item
        elif item.path != first.path and item.path not in first.also:
            merged[key] = replace(first, also=(*first.also, item.path))
    return list(merged.values())


def check_config(config: Any, lang: str = "en", rules: list[str] | None = None) -> list[Finding]:
    """Run every rule (or the ids in `rules`) on a resolved config; findings sorted errors first.

    `lang` is "en" or "zh" (see `default_lang`). For `dnnconf train`: stop when `has_errors`, unless
    --force; print the rest with `format_text`.
    """
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {', '.join(LANGS)} (received {lang!r})")
    chosen = [RULES[rule_id] for rule_id in (rules or sorted(RULES))]
    findings: list[Finding] = []
    for item in chosen:
        findings += item.check(config)
    rank = {severity: index for index, severity in enumerate(SEVERITIES)}
    merged = [replace(item, lang=lang) for item in _merge(findings)]
    return sorted(merged, key=lambda item: (rank[item.severity], item.id, item.path))


def has_errors(findings: list[Finding]) -> bool:
    return any(item.severity == "error" for item in findings)


def counts(findings: list[Finding]) -> dict[str, int]:
    return {severity: sum(item.severity == severity for item in findings) for severity in SEVERITIES}


def findings_json(findings: list[Finding], source: str) -> dict[str, Any]:
    """`check --format json`: {"config", "findings": [{id, severity, message, fix, section, path}], "counts"}."""
    return {"config": source, "findings": [item.to_dict() for item in findings], "counts": counts(findings)}


def default_lang(environ: Mapping[str, str] | None = None) -> str:
    """zh when the locale (LC_ALL, then LC_MESSAGES, then LANG: the first one set) starts with zh."""
    environ = os.environ if environ is None else environ
    for variable in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(variable)
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    return "en"


def section_label(section: str, lang: str = "en") -> str:
    """`note §1.2 (better activation functions)` / `笔记 §1.2（更好的激活函数）`."""
    key = section.lstrip("§")
    name = SECTIONS[key][lang]
    return f"{UI['note'][lang]} §{key} ({name})" if lang == "en" else f"{UI['note'][lang]} §{key}（{name}）"


def format_text(findings: list[Finding], source: str = "config", lang: str = "en") -> str:
    """The human report: a summary line, then one block per finding (severity, id, path, message, fix)."""
    if not findings:
        return UI["clean"][lang].format(source=source)
    lines = [UI["summary"][lang].format(source=source, **counts(findings))]
    width = max(len(SEVERITY_NAMES[s][lang]) for s in SEVERITIES)
    for item in findings:
        severity = SEVERITY_NAMES[item.severity][lang]
        section = section_label(item.section, lang)
        lines.append(f"{severity:<{width}}  {item.id}  {item.path}: {item.message} [{section}]")
        lines.append(f"{'':<{width}}  {'':<6}  {UI['fix'][lang]}: {item.fix}")
    return "\n".join(lines)


def rules_markdown(lang: str = "en") -> str:
    """A markdown table of every rule: id, severity, what it flags, why (the note), note section."""
    if lang == "zh":
        header = "| 编号 | 级别 | 检查内容 | 原因 | 笔记章节 |"
    else:
        header = "| id | severity | flags | why | note section |"
    lines = [header, "|---|---|---|---|---|"]
    for rule_id in sorted(RULES):
        item = RULES[rule_id]
        lines.append(f"| {item.id} | {SEVERITY_NAMES[item.severity][lang]} | {item.title(lang)} | "
                     f"{item.why(lang)} | {section_label(item.section, lang).split(' ', 1)[1]} |")
    return "\n".join(lines) + "\n"
