"""The search space of `dnnconf sweep`: a YAML file read and validated (`read_space`, `parse_param`), one
`Param` per config key path, and each key's values checked against the config up front (`check_space`).

The search space is a YAML mapping, one entry per key path:

    optimizer.learning_rate: {type: float, low: 1.0e-4, high: 1.0e-1, log: true}
    model.activation: {type: categorical, choices: [relu, elu, swish]}
    training.batch_size: {type: int, low: 16, high: 256, log: true}
    model.hidden: {type: categorical, choices: [[300, 100], [100, 50]]}   # lists/mappings work too

`float` and `int` take `low`, `high` and optionally `log` or `step`; `categorical` takes `choices`.
Every key path is checked up front: its lowest and highest value (each choice) are applied through
`load_config(CONFIG, [*--set, KEY=VALUE])`, so a misspelt key or an out-of-range value stops the sweep
before the first trial, with one line naming the key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from dnnconf.config import load_config
from dnnconf.config.load import read_yaml
from dnnconf.errors import ConfigError
from dnnconf.registry import nearest

if TYPE_CHECKING:
    import optuna

TYPES = ("float", "int", "categorical")
FIELDS = {"float": ("type", "low", "high", "log", "step"), "int": ("type", "low", "high", "log", "step"),
          "categorical": ("type", "choices")}


def yaml_text(value: Any) -> str:
    """`value` as the YAML text of a `--set KEY=VALUE` override (loading it gives `value` back)."""
    text = yaml.safe_dump(value, default_flow_style=True, width=math.inf, allow_unicode=True).strip()
    return text.removesuffix("...").strip()


def _primitive(value: Any) -> bool:
    return value is None or isinstance(value, bool | int | float | str)


@dataclass
class Param:
    """One entry of the search space: a config key path and the values it may take."""

    key: str
    type: str
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: list[Any] = field(default_factory=list)

    @property
    def encoded(self) -> bool:
        """Categorical choices that are lists or mappings go to Optuna as their YAML text."""
        return self.type == "categorical" and not all(_primitive(c) for c in self.choices)

    def distribution(self) -> Any:
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        if self.type == "float":
            return FloatDistribution(self.low, self.high, log=self.log, step=self.step)
        if self.type == "int":
            return IntDistribution(self.low, self.high, log=self.log, step=self.step or 1)
        return CategoricalDistribution([yaml_text(c) for c in self.choices] if self.encoded else self.choices)

    def suggest(self, trial: optuna.Trial) -> Any:
        """The sampled value as Optuna stores it (the YAML text for encoded choices)."""
        if self.type == "float":
            return trial.suggest_float(self.key, self.low, self.high, log=self.log, step=self.step)
        if self.type == "int":
            return trial.suggest_int(self.key, self.low, self.high, log=self.log, step=self.step or 1)
        return trial.suggest_categorical(self.key, self.distribution().choices)

    def override(self, value: Any) -> str:
        return f"{self.key}={value if self.encoded else yaml_text(value)}"

    def samples(self) -> list[Any]:
        """The values checked up front: both ends of a range, every choice."""
        if self.type == "categorical":
            return [yaml_text(c) for c in self.choices] if self.encoded else list(self.choices)
        high = self.high
        if self.step:  # the highest value on the grid
            high = self.low + (self.high - self.low) // self.step * self.step
        return [self.low, high]

    def describe(self) -> str:
        if self.type == "categorical":
            return "{" + ", ".join(yaml_text(c) for c in self.choices) + "}"
        extra = " log" if self.log else (f" step {self.step:g}" if self.step else "")
        return f"[{self.low:g}, {self.high:g}]{extra}"


def _number(space: str, key: str, entry: dict[str, Any], name: str, integer: bool) -> float | int:
    value = entry.get(name)
    kind = "an integer" if integer else "a number"
    if value is None:
        raise ConfigError(f"{space}: {key}: `{name}` is missing; a {entry['type']} range needs low and high")
    if isinstance(value, str):  # PyYAML reads 1e-4 (no dot) as a string
        try:
            value = float(value)
        except ValueError:
            raise ConfigError(f"{space}: {key}.{name}: expected {kind} (received {value!r})") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{space}: {key}.{name}: expected {kind} (received {value!r})")
    if integer:
        if value != int(value):
            raise ConfigError(f"{space}: {key}.{name}: expected an integer for an int range (received {value!r})")
        return int(value)
    return float(value)


def parse_param(space: str, key: Any, entry: Any) -> Param:
    """Validate one entry of the space; every error is one line naming the file and the key."""
    if not isinstance(key, str) or not key or not all(key.split(".")):
        raise ConfigError(f"{space}: {key!r}: expected a config key path such as optimizer.learning_rate")
    if not isinstance(entry, dict):
        raise ConfigError(f"{space}: {key}: expected a mapping such as {{type: float, low: 1.0e-4, high: 0.1, "
                          f"log: true}} (received {entry!r})")
    kind = entry.get("type")
    if kind not in TYPES:
        hint = nearest(str(kind), list(TYPES)) if isinstance(kind, str) else ""
        missing = "`type` is missing" if kind is None else f"unknown type {kind!r}{hint}"
        raise ConfigError(f"{space}: {key}: {missing}; accepted: {', '.join(TYPES)}")
    unknown = [name for name in entry if name not in FIELDS[kind]]
    if unknown:
        raise ConfigError(f"{space}: {key}: unknown field {unknown[0]!r}{nearest(str(unknown[0]), FIELDS[kind])} "
                          f"for type {kind}; accepted: {', '.join(FIELDS[kind])}")
    if kind == "categorical":
        choices = entry.get("choices")
        if choices is None:
            raise ConfigError(f"{space}: {key}: categorical needs `choices`, a list such as [relu, elu, swish]")
        if not isinstance(choices, list) or not choices:
            raise ConfigError(f"{space}: {key}.choices: expected a non-empty list (received {choices!r})")
        texts = [yaml_text(c) for c in choices]
        duplicate = next((t for i, t in enumerate(texts) if t in texts[:i]), None)
        if duplicate is not None:
            raise ConfigError(f"{space}: {key}.choices: {duplicate} is listed twice")
        return Param(key, kind, choices=choices)
    integer = kind == "int"
    low, high = _number(space, key, entry, "low", integer), _number(space, key, entry, "high", integer)
    if low >= high:
        raise ConfigError(f"{space}: {key}: low must be below high (received low {low:g}, high {high:g})")
    log = entry.get("log", False)
    if not isinstance(log, bool):
        raise ConfigError(f"{space}: {key}.log: expected true or false (received {log!r})")
    if log and low <= 0:
        raise ConfigError(f"{space}: {key}: a log range needs low > 0 (received low {low:g})")
    step = None
    if entry.get("step") is not None:
        step = _number(space, key, entry, "step", integer)
        if step <= 0:
            raise ConfigError(f"{space}: {key}.step: expected a positive step (received {step:g})")
        if log and not (integer and step == 1):
            raise ConfigError(f"{space}: {key}: `step` and `log: true` cannot be combined; drop one")
        if step > high - low:
            raise ConfigError(f"{space}: {key}.step: {step:g} is wider than the range [{low:g}, {high:g}]")
    return Param(key, kind, low, high, log, step)


def read_space(path: str | Path) -> list[Param]:
    """Read and validate a search-space file (the values are not yet checked against a config)."""
    path = Path(path)
    raw = read_yaml(path, "file")  # a search space, not a config
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f"{path}: expected a mapping of config key paths to ranges, e.g. "
                          f"optimizer.learning_rate: {{type: float, low: 1.0e-4, high: 0.1, log: true}}")
    return [parse_param(str(path), key, entry) for key, entry in raw.items()]


def check_space(config_path: str | Path, sets: list[str], params: list[Param], space: str | Path) -> None:
    """Apply each key's extreme values (each choice) to the config, one at a time; errors name the key."""
    load_config(config_path, sets)  # the base config's own errors first, with their own message
    for param in params:
        for value in param.samples():
            override = param.override(value)
            try:
                load_config(config_path, [*sets, override])
            except ConfigError as error:
                raise ConfigError(f"{space}: {param.key}: the value {override.partition('=')[2]} does not fit "
                                  f"the config: {error}") from None
