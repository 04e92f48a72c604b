"""The registry of `dnnconf check`'s rules: `Rule`, `Finding`, the `rule` decorator that registers a check
in `RULES`, and `finding`, which makes a registered rule's finding.

Each rule has a stable id (`DNC1xx` gradients: initialization, activations, batch norm, clipping;
`DNC2xx` transfer; `DNC3xx` optimizers; `DNC4xx` schedules; `DNC5xx` regularization; `DNC6xx` data), a
severity, and the note section it comes from; its texts (English and Chinese) are in
`dnnconf.advice.messages`. Severities:

- `error`: the configuration cannot do what it asks: SELU that cannot self-normalize because of
  something the note says cannot go with it (batch norm, regular dropout, l1/l2, max-norm), momentum
  cycling with an optimizer that has no momentum, a validation metric monitored without validation
  data. `dnnconf train` stops on errors unless `--force`.
- `warning`: it works, but against the note's advice (an initializer that does not fit the
  activation, l2 with Adam, clipping by value, AdaGrad, dropout outside 10–50%, …).
- `info`: worth knowing, often deliberate (a bias before batch norm, a rate that never decays, …).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from dnnconf.advice.messages import SECTIONS, UI
from dnnconf.advice.rule_texts import RULE_TEXTS, WHY

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")


@dataclass(frozen=True)
class Finding:
    """One thing a rule found. `message` and `fix` are rendered in `lang` from the rule's texts."""

    id: str
    severity: Severity
    section: str  # "§1.2"
    path: str  # the config key, e.g. model.batch_norm or model.layers.3.dense.kernel_initializer
    args: tuple[tuple[str, str], ...] = ()
    also: tuple[str, ...] = ()  # other paths with the same finding
    lang: str = "en"

    @property
    def message(self) -> str:
        text = RULE_TEXTS[self.id]["message"][self.lang].format(**dict(self.args))
        if self.also:
            shown = list(self.also[:3])
            if len(self.also) > 3:
                shown.append(UI["more"][self.lang].format(n=len(self.also) - 3))
            text += UI["also"][self.lang].format(paths=", ".join(shown))
        return text

    @property
    def fix(self) -> str:
        return RULE_TEXTS[self.id]["fix"][self.lang].format(**dict(self.args))

    def to_dict(self) -> dict[str, str]:
        """The finding in `check --format json`'s schema."""
        return {"id": self.id, "severity": self.severity, "message": self.message, "fix": self.fix,
                "section": self.section, "path": self.path}


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    section: str  # "1.2": a key of messages.SECTIONS
    check: Callable[[Any], list[Finding]] = field(compare=False)

    def title(self, lang: str = "en") -> str:
        return RULE_TEXTS[self.id]["title"][lang]

    def why(self, lang: str = "en") -> str:
        return WHY[self.id][lang]


RULES: dict[str, Rule] = {}


def rule(rule_id: str, severity: Severity, section: str) -> Callable[[Callable[[Any], list[Finding]]],
                                                                     Callable[[Any], list[Finding]]]:
    """Decorator: register `(config) -> list[Finding]` under a stable id, severity and note section."""

    def decorate(check: Callable[[Any], list[Finding]]) -> Callable[[Any], list[Finding]]:
        if rule_id in RULES:
            raise ValueError(f"rule {rule_id} is registered twice")
        if rule_id not in RULE_TEXTS or rule_id not in WHY or section not in SECTIONS:
            raise ValueError(f"rule {rule_id}: texts or section {section!r} missing from dnnconf.advice.messages")
        RULES[rule_id] = Rule(rule_id, severity, section, check)
        return check

    return decorate


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_text(v)}" for k, v in value.items()) + "}"
    return str(value)


def finding(rule_id: str, path: str, **args: Any) -> Finding:
    """A finding of the registered rule `rule_id` at `path`; `args` fill its message's placeholders."""
    registered = RULES[rule_id]
    return Finding(rule_id, registered.severity, f"§{registered.section}", path,
                   tuple((key, _text(value)) for key, value in args.items()))
