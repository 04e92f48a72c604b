"""Advice: `dnnconf check` (the note's rules) and `dnnconf recommend` (its summary tables).

For `dnnconf train`: `findings = check_config(config, lang)`; stop when `has_errors(findings)` unless
--force; print `format_text(findings, source, lang)` otherwise. `rules_markdown(lang)` is the rule
table for the README. The JSON schema of `check --format json` is in `dnnconf.cli.advice`.
"""

from dnnconf.advice.recommend import Options, recommend, recommend_config
from dnnconf.advice.rules import (
    RULES,
    Finding,
    Rule,
    check_config,
    counts,
    default_lang,
    findings_json,
    format_text,
    has_errors,
    rules_markdown,
)

__all__ = ["RULES", "Finding", "Options", "Rule", "check_config", "counts", "default_lang", "findings_json",
           "format_text", "has_errors", "recommend", "recommend_config", "rules_markdown"]
