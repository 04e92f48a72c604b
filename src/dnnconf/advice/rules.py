"""The rule set of `dnnconf check`: the note's advice as small functions `(config) -> list[Finding]`.

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

Rules read the resolved config (`dnnconf.config.load_config` / `config_from_dict`). The compact model
form is read through the explicit layers it stands for (`dnnconf.nn.build.expand_compact`), and a
finding names the key the user wrote: `model.activation` in the compact form, `model.layers.3` in
the explicit one. Findings of one rule with the same details are merged into one (`also` lists the
other paths).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from dnnconf.advice.messages import LANGS, RULE_TEXTS, SECTIONS, SEVERITY_NAMES, UI, WHY

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")

KERNEL_KINDS = ("dense", "conv2d")
DROPOUT_KINDS = ("dropout", "alpha_dropout")
PLAIN_DENSE_KINDS = ("flatten", "dense", "activation", "batch_norm", *DROPOUT_KINDS)
ADAM_FAMILY = ("adam", "adamax", "nadam", "adamw")
RANDOM_INITIALIZERS = ("random_normal", "random_uniform", "truncated_normal", "zeros", "ones")
DEEP = 10  # more hidden layers than this is a deep network
LONG_CONSTANT = 20  # a constant learning rate for more epochs than this "never decays"


# --- findings and the registry of rules ---


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


# --- reading the model: the explicit layers either form stands for ---

COMPACT_LAYER_PATHS = {"flatten": "model.input_shape", "dense": "model.hidden", "activation": "model.activation",
                       "batch_norm": "model.batch_norm", "dropout": "model.dropout",
                       "alpha_dropout": "model.dropout"}
COMPACT_FEATURE_PATHS = {"activation": "model.activation", "kernel_initializer": "model.kernel_initializer",
                         "kernel_regularizer": "model.kernel_regularizer",
                         "kernel_constraint": "model.kernel_constraint", "use_bias": "model.batch_norm",
                         "rate": "model.dropout.rate"}


@dataclass(frozen=True)
class Layer:
    """A hidden layer in explicit form, and where the user wrote it."""

    index: int
    kind: str
    params: Mapping[str, Any]
    compact: bool

    def at(self, feature: str | None = None) -> str:
        if self.compact:
            return COMPACT_FEATURE_PATHS.get(feature or "", COMPACT_LAYER_PATHS.get(self.kind, "model"))
        base = f"model.layers.{self.index}"
        return f"{base}.{self.kind}.{feature}" if feature else base


@dataclass(frozen=True)
class Kernel:
    """A dense or conv layer with the activation that acts on it (its own, or a later activation layer)."""

    layer: Layer
    position: int  # index in the layer list
    activation: Mapping[str, Any] | None  # resolved spec; None means linear
    activation_path: str

    @property
    def activation_name(self) -> str:
        return self.activation["name"] if self.activation else "linear"

    @property
    def initializer(self) -> Mapping[str, Any]:
        return self.layer.params["kernel_initializer"]


def hidden_layers(config: Any) -> list[Layer]:
    """The hidden layers (output excluded) in explicit form."""
    from dnnconf.nn.build import expand_compact

    model = config.model
    if model.layers is not None:
        return [Layer(index, *next(iter(entry.items())), compact=False) for index, entry in enumerate(model.layers)]
    expanded = expand_compact(model, 1, "linear")[:-1]
    return [Layer(index, *next(iter(entry.items())), compact=True) for index, entry in enumerate(expanded)]


def kernels(layers: list[Layer]) -> list[Kernel]:
    found: list[Kernel] = []
    for position, layer in enumerate(layers):
        if layer.kind not in KERNEL_KINDS:
            continue
        activation = layer.params.get("activation")
        path = layer.at("activation")
        if not activation or activation.get("name") == "linear":
            activation = None
            for later in layers[position + 1:]:
                if later.kind in ("batch_norm", *DROPOUT_KINDS):
                    continue
                if later.kind == "activation":
                    activation, path = later.params, later.at()
                break
        found.append(Kernel(layer, position, activation, path))
    return found


def init_family(spec: Mapping[str, Any]) -> str | None:
    """glorot, he, lecun (the note's table), random, or None when the initializer is none of those."""
    from dnnconf.nn.initializers import FAMILY

    name = spec.get("name")
    if name in FAMILY:
        return FAMILY[name]
    if name == "variance_scaling":
        scale, mode = float(spec.get("scale", 1.0)), spec.get("mode", "fan_in")
        if math.isclose(scale, 2.0):
            return "he"  # the note's "He initialization based on fan_avg" is scale 2 with fan_avg
        if math.isclose(scale, 1.0):
            return {"fan_avg": "glorot", "fan_in": "lecun"}.get(mode)
        return None
    if name in RANDOM_INITIALIZERS:
        return "random"
    return None


def recommended_family(activation: str) -> str | None:
    from dnnconf.nn.activations import RECOMMENDED_INIT

    return RECOMMENDED_INIT.get(activation)


def is_selu_network(config: Any) -> bool:
    return any(k.activation_name == "selu" for k in kernels(hidden_layers(config)))


def _get(obj: Any, key: str, default: Any = None) -> Any:
    if obj is None:
        return default
    if isinstance(obj, Mapping):
        return obj.get(key, default)
    return getattr(obj, key, default)


def _optimizer_params(config: Any) -> dict[str, Any]:
    return dict(config.optimizer.model_extra or {})


def momentum_of(config: Any) -> float:
    """The optimizer's momentum a 1cycle schedule could cycle: sgd/rmsprop `momentum`, Adam's `beta_1`."""
    params = _optimizer_params(config)
    if config.optimizer.name == "adagrad":
        return 0.0
    if "beta_1" in params:
        return float(params["beta_1"])
    return float(params.get("momentum", 0.0) or 0.0)


def _schedule(config: Any) -> Mapping[str, Any]:
    schedule = config.schedule
    return schedule if isinstance(schedule, Mapping) else {"name": schedule}


def _no_validation(config: Any) -> bool:
    return not config.data.valid_size


def _regularizers(layers: list[Layer]) -> list[tuple[Layer, Mapping[str, Any]]]:
    found = []
    for layer in layers:
        penalty = layer.params.get("kernel_regularizer") if layer.kind in KERNEL_KINDS else None
        if penalty and (penalty.get("l1") or penalty.get("l2")):
            found.append((layer, penalty))
    return found


def _penalty_text(penalty: Mapping[str, Any]) -> dict[str, float]:
    return {key: value for key, value in penalty.items() if value}


# --- §1 gradient problems: initialization, activations, batch norm, clipping, depth ---


@rule("DNC101", "warning", "1.1")
def relu_family_without_he(config: Any) -> list[Finding]:
    """ReLU, leaky ReLU, ELU, GELU, Swish, Mish (the note's table: He) with a Glorot or LeCun init."""
    out = []
    for kernel in kernels(hidden_layers(config)):
        family = init_family(kernel.initializer)
        if recommended_family(kernel.activation_name) == "he" and family in ("glorot", "lecun"):
            out.append(finding("DNC101", kernel.layer.at("kernel_initializer"), activation=kernel.activation_name,
                               initializer=kernel.initializer["name"], family=family))
    return out


@rule("DNC102", "warning", "1.1")
def saturating_with_he(config: Any) -> list[Finding]:
    """None (linear), tanh, sigmoid, softmax (the note's table: Glorot) with He initialization; the
    output layer is checked too."""
    out = []
    for kernel in kernels(hidden_layers(config)):
        if recommended_family(kernel.activation_name) == "glorot" and init_family(kernel.initializer) == "he":
            out.append(finding("DNC102", kernel.layer.at("kernel_initializer"), activation=kernel.activation_name,
                               initializer=kernel.initializer["name"]))
    output = config.model.output
    spec = output.kernel_initializer if isinstance(output.kernel_initializer, Mapping) else {
        "name": output.kernel_initializer}
    if init_family(spec) == "he":
        out.append(finding("DNC102", "model.output.kernel_initializer",
                           activation=output.activation or "output", initializer=spec["name"]))
    return out


@rule("DNC103", "warning", "1.2")
def selu_without_lecun(config: Any) -> list[Finding]:
    """SELU whose kernels are not LeCun-initialized (lecun_normal, lecun_uniform or scale 1 fan_in)."""
    return [finding("DNC103", k.layer.at("kernel_initializer"), initializer=k.initializer["name"])
            for k in kernels(hidden_layers(config))
            if k.activation_name == "selu" and init_family(k.initializer) != "lecun"]


@rule("DNC104", "warning", "1.1")
def random_initialization(config: Any) -> list[Finding]:
    """random_normal, random_uniform, truncated_normal, zeros or ones on a hidden layer."""
    return [finding("DNC104", k.layer.at("kernel_initializer"), initializer=k.initializer["name"])
            for k in kernels(hidden_layers(config)) if init_family(k.initializer) == "random"]


@rule("DNC110", "error", "1.2")
def selu_with_batch_norm(config: Any) -> list[Finding]:
    if not is_selu_network(config):
        return []
    return [finding("DNC110", layer.at()) for layer in hidden_layers(config) if layer.kind == "batch_norm"]


@rule("DNC111", "error", "1.2")
def selu_with_regular_dropout(config: Any) -> list[Finding]:
    """Regular dropout in a SELU network (alpha dropout is fine)."""
    if not is_selu_network(config):
        return []
    return [finding("DNC111", layer.at()) for layer in hidden_layers(config)
            if layer.kind == "dropout" and layer.params.get("rate")]


@rule("DNC112", "error", "1.2")
def selu_with_l1_l2(config: Any) -> list[Finding]:
    if not is_selu_network(config):
        return []
    return [finding("DNC112", layer.at("kernel_regularizer"), penalty=_penalty_text(penalty))
            for layer, penalty in _regularizers(hidden_layers(config))]


@rule("DNC113", "error", "1.2")
def selu_with_max_norm(config: Any) -> list[Finding]:
    if not is_selu_network(config):
        return []
    out = []
    for layer in hidden_layers(config):
        constraint = layer.params.get("kernel_constraint") if layer.kind in KERNEL_KINDS else None
        if constraint:
            out.append(finding("DNC113", layer.at("kernel_constraint"), max_norm=constraint["max_norm"]))
    return out


@rule("DNC114", "warning", "1.2")
def selu_without_standardized_inputs(config: Any) -> list[Finding]:
    if not is_selu_network(config) or config.data.normalize == "standardize":
        return []
    return [finding("DNC114", "data.normalize", normalize=config.data.normalize)]


@rule("DNC115", "warning", "1.2")
def selu_outside_plain_dense_stack(config: Any) -> list[Finding]:
    """SELU in a network with other layer kinds (conv, pooling) or other hidden activations."""
    layers = hidden_layers(config)
    if not is_selu_network(config):
        return []
    out = [finding("DNC115", layer.at(), what=layer.kind) for layer in layers if layer.kind not in PLAIN_DENSE_KINDS]
    out += [finding("DNC115", k.activation_path, what=k.activation_name) for k in kernels(layers)
            if k.activation_name != "selu"]
    return out


@rule("DNC120", "info", "1.3")
def bias_before_batch_norm(config: Any) -> list[Finding]:
    """A dense/conv layer without activation and with use_bias true, directly followed by batch_norm
    (batch norm before the activation; the compact form already drops that bias)."""
    layers = hidden_layers(config)
    return [finding("DNC120", layer.at("use_bias")) for position, layer in enumerate(layers[:-1])
            if layer.kind in KERNEL_KINDS and layer.params.get("use_bias", True)
            and (layer.params.get("activation") or {}).get("name", "linear") == "linear"
            and layers[position + 1].kind == "batch_norm"]


@rule("DNC121", "warning", "1")
def deep_without_normalization(config: Any) -> list[Finding]:
    """More than 10 hidden layers with neither batch norm nor SELU (the note: deep → batch norm)."""
    layers = hidden_layers(config)
    found = kernels(layers)
    if len(found) <= DEEP or any(layer.kind == "batch_norm" for layer in layers) or is_selu_network(config):
        return []
    path = "model.hidden" if config.model.layers is None else "model.layers"
    return [finding("DNC121", path, layers=len(found))]


@rule("DNC122", "info", "1.3")
def batch_norm_after_activation(config: Any) -> list[Finding]:
    if config.model.layers is None:
        if config.model.batch_norm.position == "after_activation":
            return [finding("DNC122", "model.batch_norm")]
        return []
    layers = hidden_layers(config)
    out = []
    for position, layer in enumerate(layers[1:], start=1):
        before = layers[position - 1]
        activated = before.kind == "activation" or (
            before.kind in KERNEL_KINDS and (before.params.get("activation") or {}).get("name", "linear") != "linear")
        if layer.kind == "batch_norm" and activated:
            out.append(finding("DNC122", layer.at()))
    return out


@rule("DNC123", "info", "6")
def deep_with_relu(config: Any) -> list[Finding]:
    found = kernels(hidden_layers(config))
    if len(found) <= DEEP:
        return []
    relu = [k for k in found if k.activation_name == "relu"]
    return [finding("DNC123", relu[0].activation_path, layers=len(found))] if relu else []


@rule("DNC130", "warning", "1.4")
def clipping_by_value(config: Any) -> list[Finding]:
    value = config.optimizer.clipvalue
    return [finding("DNC130", "optimizer.clipvalue", value=value)] if value else []


# --- §2 transfer learning ---


@rule("DNC201", "info", "2")
def unfreeze_without_lower_rate(config: Any) -> list[Finding]:
    """Reused layers frozen for a few epochs, then unfrozen without lowering the learning rate.

    Reads a `transfer` section with getattr (absent from the schema until transfer lands; skipped
    when absent): `freeze_epochs` > 0, `unfreeze` not none, and neither `unfreeze_lr_factor` < 1 nor
    an `unfreeze_learning_rate` below the optimizer's learning rate.
    """
    transfer = getattr(config, "transfer", None)
    if transfer is None:
        return []
    freeze = _get(transfer, "freeze_epochs", 0) or 0
    unfreeze = _get(transfer, "unfreeze", "all")
    if freeze <= 0 or unfreeze in (None, False, 0, "none", []):
        return []
    factor = _get(transfer, "unfreeze_lr_factor")
    rate = _get(transfer, "unfreeze_learning_rate")
    base = _optimizer_params(config).get("learning_rate")
    if (factor is not None and factor < 1) or (rate is not None and base is not None and rate < base):
        return []
    return [finding("DNC201", "transfer.unfreeze_lr_factor", freeze_epochs=freeze)]


# --- §3 optimizers ---


@rule("DNC301", "warning", "3.3")
def adagrad(config: Any) -> list[Finding]:
    return [finding("DNC301", "optimizer.name")] if config.optimizer.name == "adagrad" else []


@rule("DNC302", "warning", "5.3")
def l1_l2_with_adam(config: Any) -> list[Finding]:
    name = config.optimizer.name
    if name not in ADAM_FAMILY:
        return []
    return [finding("DNC302", layer.at("kernel_regularizer"), optimizer=name, penalty=_penalty_text(penalty))
            for layer, penalty in _regularizers(hidden_layers(config))]


def _cycles_momentum(schedule: Mapping[str, Any]) -> tuple[bool, bool]:
    """(cycles momentum at all, with momentum bounds other than the defaults)."""
    from dnnconf.optim.schedules import OneCycleParams

    high, low = schedule.get("max_momentum"), schedule.get("min_momentum")
    fields = OneCycleParams.model_fields
    defaults = (fields["max_momentum"].default, fields["min_momentum"].default)
    cycles = high is not None and low is not None and high != low
    return cycles, cycles and (high, low) != defaults


@rule("DNC303", "error", "4")
def momentum_cycling_without_momentum(config: Any) -> list[Finding]:
    """1cycle with momentum bounds set (other than the defaults 0.95/0.85) and an optimizer without
    momentum (sgd momentum 0, rmsprop momentum 0, adagrad). With the default bounds see DNC403."""
    schedule = _schedule(config)
    if schedule.get("name") != "one_cycle" or momentum_of(config) > 0:
        return []
    cycles, explicit = _cycles_momentum(schedule)
    if not explicit:
        return []
    return [finding("DNC303", "schedule.max_momentum", optimizer=config.optimizer.name,
                    max_momentum=schedule["max_momentum"], min_momentum=schedule["min_momentum"])]


@rule("DNC304", "info", "3.1")
def sgd_without_momentum(config: Any) -> list[Finding]:
    if config.optimizer.name != "sgd" or momentum_of(config) > 0:
        return []
    return [finding("DNC304", "optimizer.momentum")]


# --- §4 learning-rate schedules ---


@rule("DNC401", "error", "4")
def performance_without_validation(config: Any) -> list[Finding]:
    schedule = _schedule(config)
    monitor = str(schedule.get("monitor", "val_loss"))
    if schedule.get("name") == "performance" and monitor.startswith("val_") and _no_validation(config):
        return [finding("DNC401", "schedule.monitor", monitor=monitor)]
    return []


@rule("DNC402", "info", "4")
def never_decays(config: Any) -> list[Finding]:
    if _schedule(config).get("name") == "constant" and config.training.epochs > LONG_CONSTANT:
        return [finding("DNC402", "schedule", epochs=config.training.epochs)]
    return []


@rule("DNC403", "info", "4")
def one_cycle_without_momentum(config: Any) -> list[Finding]:
    schedule = _schedule(config)
    if schedule.get("name") != "one_cycle" or momentum_of(config) > 0:
        return []
    cycles, explicit = _cycles_momentum(schedule)
    if explicit:
        return []  # DNC303
    return [finding("DNC403", "optimizer.name", optimizer=config.optimizer.name)]


# --- §5 regularization ---


@rule("DNC501", "error", "5.1")
def early_stopping_without_validation(config: Any) -> list[Finding]:
    stopping = config.training.early_stopping
    if stopping is not None and stopping.monitor.startswith("val_") and _no_validation(config):
        return [finding("DNC501", "training.early_stopping.monitor", monitor=stopping.monitor)]
    return []


@rule("DNC502", "warning", "5.4")
def dropout_rate_out_of_range(config: Any) -> list[Finding]:
    return [finding("DNC502", layer.at("rate"), rate=float(layer.params["rate"]))
            for layer in hidden_layers(config)
            if layer.kind in DROPOUT_KINDS and layer.params.get("rate") and not 0.1 <= layer.params["rate"] <= 0.5]


@rule("DNC503", "warning", "5.4")
def dropout_below_top_three(config: Any) -> list[Finding]:
    """Dropout on more than the top three layers (the inputs count as a layer: the note's own model
    drops the inputs and its two hidden layers)."""
    model = config.model
    if model.layers is None:
        dropout = model.dropout
        if not dropout or not dropout.rate:
            return []
        n = len(model.hidden)
        count = min(dropout.top_layers, n) + (1 if dropout.top_layers > n else 0)
        return [finding("DNC503", "model.dropout.top_layers", count=count)] if count > 3 else []
    layers = hidden_layers(config)
    total = sum(layer.kind in KERNEL_KINDS for layer in layers)
    seen, positions, first_low = 0, set(), None
    for layer in layers:
        if layer.kind in KERNEL_KINDS:
            seen += 1
        elif layer.kind in DROPOUT_KINDS and layer.params.get("rate"):
            positions.add(seen)
            if seen < total - 2 and first_low is None:
                first_low = layer
    return [finding("DNC503", first_low.at(), count=len(positions))] if first_low is not None else []


@rule("DNC504", "warning", "5.4")
def dropout_on_output(config: Any) -> list[Finding]:
    """Explicit form: dropout right after an output-like layer (softmax, or a single sigmoid unit)."""
    if config.model.layers is None:
        return []
    layers = hidden_layers(config)
    out = []
    for position, layer in enumerate(layers[1:], start=1):
        before = layers[position - 1]
        spec = before.params if before.kind == "activation" else before.params.get("activation")
        name = (spec or {}).get("name")
        output_like = name == "softmax" or (name == "sigmoid" and before.params.get("units") == 1)
        if layer.kind in DROPOUT_KINDS and output_like:
            out.append(finding("DNC504", layer.at(), activation=name))
    return out


@rule("DNC505", "info", "5.1")
def no_early_stopping(config: Any) -> list[Finding]:
    return [finding("DNC505", "training.early_stopping")] if config.training.early_stopping is None else []


# --- §6 summary: exceptions ---


@rule("DNC601", "warning", "6")
def inputs_not_normalized(config: Any) -> list[Finding]:
    return [finding("DNC601", "data.normalize")] if config.data.normalize == "none" else []


# --- running the rules ---


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
