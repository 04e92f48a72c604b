"""`dnnconf diagnose`: per-layer activation and gradient health, with verdicts and the note's remedies.

The probe (note, section 一: vanishing and exploding gradients)
----------------------------------------------------------------
The network is built as training would build it (same seed, same init stream, same batch order) and
B probe batches — the first B training batches of the first epoch — go forward and backward in
training mode (dropout on, batch norm on batch statistics) with no update. For every layer (each
dense/conv module together with the modules that follow it up to the next one) the probe records:

- `act_mean`, `act_std`: mean and standard deviation of the layer's activation output (the
  activation module; a linear layer's dense or batch-norm output; the output layer's logits), pooled
  over the examples and units of all probe batches;
- `dead_share` (ReLU family only): share of units whose output is exactly zero for every example
  of the probe;
- `saturated_share` (tanh, sigmoid only): share of outputs in the flat parts, tanh |a| > 0.99
  (`TANH_SATURATED`), sigmoid a < 0.01 or a > 0.99 (`SIGMOID_SATURATED`), averaged over examples
  and units;
- `weight_grad_norm`: ‖∂J/∂W‖ of the layer's kernel (J the training objective, penalties included),
  the mean over the probe batches, before any clipping;
- `output_grad_norm`: ‖∂J/∂a‖ of the activation output (`retain_grad`), the mean over the batches;
- `update_ratio`: ‖ΔW‖/‖W‖ of one optimizer step on the mean gradient of the probe batches, with the
  configured optimizer, learning rate, clipping and max-norm. The weights, batch-norm statistics,
  optimizer state and torch's global RNG are restored afterwards: a probe changes nothing.

With `train_steps=N` the same probe runs again every `probe_every` steps (default N/8) along a short
training run (the project's `Loop`, on a copy when a network is passed in), which gives the
per-probe-step matrices (layers × probe steps) drawn as heatmaps.

Verdicts and their thresholds (module constants; "hidden" = every layer but the output layer)
-------------------------------------------------------------------------------------------
- `exploding_gradients` (error): a NaN/inf anywhere (loss, activations, gradients), or the weight
  gradient norm of the first hidden layer over that of the last hidden layer > `EXPLODING_RATIO`
  (1e3, growing toward the input).
- `vanishing_gradients` (error): that ratio < `VANISHING_RATIO` (1e-3), or no gradient reaches the
  hidden layers at all (every hidden norm exactly 0). The evidence also gives the fitted slope of
  log10 ‖∂J/∂W‖ against the layer index (decades per layer).
- `activations_shrink` / `activations_grow` (warning): act_std of the last hidden layer over that of
  the first hidden layer < `ACTIVATION_SHRINK` (0.01) or > `ACTIVATION_GROWTH` (100), two decades: the
  initializer does not fit the activation; the remedy names the initializer the note's table
  recommends (`RECOMMENDED_INIT`: Glorot for none/tanh/sigmoid/softmax, He for the ReLU family, LeCun
  for SELU). (Narrow deep ReLU stacks with He init drift by up to ~30× at 50 layers of width 32 from
  finite-width noise alone, hence two decades, not one.)
- `saturation` (warning): saturated_share averaged over the tanh/sigmoid hidden layers
  > `SATURATION_SHARE` (0.10).
- `dead_units` (warning): dead_share averaged over the ReLU-family hidden layers > `DEAD_SHARE`
  (0.50).
- `self_normalization_broken` (warning): a SELU network where one of the note's conditions for
  self-normalization fails — inputs standardized (`data.normalize: standardize`; without a config,
  measured: |input mean| ≤ `INPUT_MEAN_LIMIT` and input std in `INPUT_STD_RANGE`), LeCun
  initialization, a plain stack of dense layers with no batch norm, no plain dropout, no l1/l2, no
  max-norm — or where the measured SELU outputs drift: a layer's std outside `SELU_STD_RANGE`
  ([0.5, 2]) or |mean| > `SELU_MEAN_LIMIT` (0.5). The evidence lists both.
- `healthy` (info): none of the above fired at any probe step.
Ratios need at least `MIN_HIDDEN` (2) hidden layers. With several probe steps a verdict fires if it
fires at any of them; its evidence is from the first such step and `steps` lists them all.

JSON (`DiagnosisReport.to_json()`, `dnnconf diagnose --format json`), schema `dnnconf.diagnose/1`
--------------------------------------------------------------------------------------------------
```
{"schema": "dnnconf.diagnose/1", "name": str, "source": "config" | "run" | "network",
 "batches": int, "batch_size": int, "train_steps": int, "device": str,
 "input": {"mean": float, "std": float},
 "layers": [{"index": int (1 = nearest the input), "name": "dense_1", "activation": "relu",
             "role": "hidden" | "output", "units": int, "act_mean": float, "act_std": float,
             "dead_share": float | null, "saturated_share": float | null, "weight_grad_norm": float,
             "output_grad_norm": float, "update_ratio": float}, ...],   # at the first probe step
 "steps": [int, ...],                                                # optimizer steps of the probes
 "loss": [float, ...],                                               # probe loss at each probe step
 "series": {"act_mean" | "act_std" | "dead_share" | "saturated_share" | "weight_grad_norm" |
            "output_grad_norm" | "update_ratio": [[float | null, ...] one list per layer, one value
            per probe step]},
 "verdicts": [{"id": str, "severity": "error" | "warning" | "info", "message": str,
               "evidence": {...}, "remedies": [str, ...]}, ...],
 "thresholds": {"VANISHING_RATIO": 0.001, ...},
 "stopped": str | null,                                              # why training ended early
 "plots": [str, ...]}                                                # files written (CLI)
```
`null` means "does not apply" (dead units of a tanh layer); non-finite numbers are the strings
"nan", "inf" and "-inf" (Python's `float()` reads them back).
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from dnnconf.errors import ConfigError
from dnnconf.nn.activations import RECOMMENDED_INIT, is_relu_family

if TYPE_CHECKING:
    from dnnconf.config import Config
    from dnnconf.data import Dataset
    from dnnconf.nn.build import Network
    from dnnconf.train.loop import Split

SCHEMA = "dnnconf.diagnose/1"

# --- thresholds (see the module docstring) ---
VANISHING_RATIO = 1e-3  # ‖∇W‖ first hidden / last hidden below this: vanishing
EXPLODING_RATIO = 1e3  # … above this: exploding
ACTIVATION_SHRINK = 0.01  # act_std last hidden / first hidden below this: variance shrinks with depth
ACTIVATION_GROWTH = 100.0  # … above this: variance grows with depth
SATURATION_SHARE = 0.10  # mean saturated share of the tanh/sigmoid hidden layers above this: saturation
DEAD_SHARE = 0.50  # mean dead share of the ReLU-family hidden layers above this: dead units
TANH_SATURATED = 0.99  # |tanh| above this is saturated
SIGMOID_SATURATED = (0.01, 0.99)  # sigmoid below the first or above the second is saturated
SELU_STD_RANGE = (0.5, 2.0)  # a SELU layer's output std outside this has drifted
SELU_MEAN_LIMIT = 0.5  # … or its |mean| above this
INPUT_MEAN_LIMIT = 0.25  # measured inputs count as standardized with |mean| ≤ this …
INPUT_STD_RANGE = (0.5, 2.0)  # … and std in this range
MIN_HIDDEN = 2  # hidden layers needed to compare the bottom with the top
PROBE_POINTS = 8  # probes along a training run when probe_every is not given

THRESHOLDS = {name: globals()[name] for name in (
    "VANISHING_RATIO", "EXPLODING_RATIO", "ACTIVATION_SHRINK", "ACTIVATION_GROWTH", "SATURATION_SHARE",
    "DEAD_SHARE", "TANH_SATURATED", "SIGMOID_SATURATED", "SELU_STD_RANGE", "SELU_MEAN_LIMIT",
    "INPUT_MEAN_LIMIT", "INPUT_STD_RANGE", "MIN_HIDDEN")}

METRICS = ("act_mean", "act_std", "dead_share", "saturated_share", "weight_grad_norm", "output_grad_norm",
           "update_ratio")

# --- the note's remedies (section 一: 1 initialization, 2 activations, 3 batch norm, 4 clipping) ---
INIT_FORMULA = {"glorot": "1/fan_avg", "he": "2/fan_in", "lecun": "1/fan_in"}
INIT_PRESET = {"glorot": "glorot_uniform", "he": "he_normal", "lecun": "lecun_normal"}
INIT_ACTIVATIONS = {"glorot": "none, tanh, sigmoid, softmax", "he": "ReLU and its variants", "lecun": "SELU"}
REMEDY_ACTIVATION = ("a non-saturating activation (note 一.2): the ReLU family (model.activation: relu, "
                     "leaky_relu, elu, swish) with He init, or selu with lecun_normal on standardized inputs")
REMEDY_BATCH_NORM = ("batch normalization (note 一.3): model.batch_norm: before_activation "
                     "(dense → BN → activation, the note's recommended placement)")
REMEDY_CLIPPING = ("gradient clipping (note 一.4): optimizer.clipnorm: 1.0 (or global_clipnorm); "
                   "clipnorm keeps the gradient's direction, clipvalue may turn it")
REMEDY_LEAKY = ("an activation with a gradient on its negative side (note 一.2): leaky_relu "
                "({name: leaky_relu, alpha: 0.2}), elu or selu — dead ReLUs never come back")
REMEDY_LR = "a lower learning rate (`dnnconf lr-find`)"


def remedy_init(activation: str, current: str | None = None, current_family: str | None = None) -> str:
    """The note's table: which variance-scaling initializer fits `activation` (and whether `current` does)."""
    family = RECOMMENDED_INIT.get(activation, "he" if is_relu_family(activation) else "glorot")
    if current and current_family == family:
        return (f"the initializer already fits {activation} (note 一.1: {current} is "
                f"{family.capitalize()}, variance {INIT_FORMULA[family]}, as the note's table asks): "
                f"at this depth the other remedies are needed")
    now = f" instead of {current}" if current else ""
    return (f"variance-scaling initialization that fits {activation} (note 一.1): "
            f"model.kernel_initializer: {INIT_PRESET[family]}{now} — the note's table pairs "
            f"{family.capitalize()} (variance {INIT_FORMULA[family]}) with {INIT_ACTIVATIONS[family]}")


# --- report ---


@dataclass
class LayerRow:
    """One layer at one probe step."""

    index: int
    name: str
    activation: str
    role: str  # "hidden" or "output"
    units: int
    act_mean: float
    act_std: float
    dead_share: float | None
    saturated_share: float | None
    weight_grad_norm: float
    output_grad_norm: float
    update_ratio: float


@dataclass
class Verdict:
    id: str
    severity: str  # "error" | "warning" | "info"
    message: str
    evidence: dict[str, Any]
    remedies: list[str]


@dataclass
class Facts:
    """What the configuration (or, lacking one, the network and the data) says about the set-up."""

    initializer: str | None = None  # the hidden kernels' initializer name, when one is known
    init_family: str | None = None  # glorot | he | lecun | None (other or unknown)
    normalize: str | None = None  # data.normalize, None without a config
    batch_norm: bool = False
    dropout: bool = False
    regularizer: bool = False
    max_norm: bool = False
    input_mean: float = 0.0
    input_std: float = 1.0


@dataclass
class DiagnosisReport:
    name: str
    source: str
    batches: int
    batch_size: int
    train_steps: int
    device: str
    input: dict[str, float]
    layers: list[LayerRow]  # at the first probe step
    steps: list[int]
    loss: list[float]
    series: dict[str, list[list[float | None]]]  # metric -> one list per layer, one value per probe step
    verdicts: list[Verdict]
    stopped: str | None = None
    plots: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return [v.id for v in self.verdicts] == ["healthy"]

    @property
    def exit_code(self) -> int:
        """1 when an error verdict fired (vanishing/exploding), else 0."""
        return 1 if any(v.severity == "error" for v in self.verdicts) else 0

    def verdict(self, verdict_id: str) -> Verdict | None:
        return next((v for v in self.verdicts if v.id == verdict_id), None)

    def matrix(self, metric: str) -> np.ndarray:
        """layers × probe steps as floats (NaN where a value does not apply)."""
        return np.array([[np.nan if v is None else v for v in row] for row in self.series[metric]], dtype=float)

    def to_dict(self) -> dict[str, Any]:
        data = {"schema": SCHEMA, **asdict(self), "thresholds": THRESHOLDS}
        return _jsonable(data)

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


# --- verdicts (pure functions of the numbers, tested on synthetic rows) ---


def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


def _log_slope(values: Sequence[float]) -> float | None:
    """Least-squares slope of log10(values) against the layer index (decades a layer), positives only."""
    points = [(i, math.log10(v)) for i, v in enumerate(values) if _finite(v) and v > 0]
    if len(points) < 2:
        return None
    x, y = np.array(points).T
    return float(np.polyfit(x, y, 1)[0])


def _dominant(rows: list[LayerRow]) -> str:
    names = [r.activation for r in rows]
    return max(set(names), key=names.count) if names else "linear"


def judge(rows: list[LayerRow], facts: Facts | None = None, loss: float = 0.0) -> list[Verdict]:
    """The verdicts for one probe step's rows (input side first, the output layer last)."""
    facts = facts or Facts()
    hidden = [r for r in rows if r.role == "hidden"]
    activation = _dominant(hidden)
    current = facts.initializer
    init_remedy = remedy_init(activation, current, facts.init_family)
    found: list[Verdict] = []

    bad = [r.name for r in rows if not all(_finite(getattr(r, m)) for m in
                                              ("act_mean", "act_std", "weight_grad_norm", "output_grad_norm"))]
    grads = [r.weight_grad_norm for r in hidden]
    ratio = None
    if len(hidden) >= MIN_HIDDEN and all(_finite(g) for g in (grads[0], grads[-1])):
        if grads[-1] > 0:
            ratio = grads[0] / grads[-1]
        elif grads[0] > 0:
            ratio = math.inf
    slope = _log_slope(grads)
    evidence = {"first_layer": hidden[0].name if hidden else None, "first_grad_norm": grads[0] if grads else None,
                "last_hidden_layer": hidden[-1].name if hidden else None,
                "last_grad_norm": grads[-1] if grads else None, "ratio": ratio, "log10_slope_per_layer": slope}
    if bad or not math.isfinite(loss) or (ratio is not None and ratio > EXPLODING_RATIO):
        why = (f"NaN/inf in {', '.join(bad[:5])}{' …' if len(bad) > 5 else ''}" if bad else
               "the loss is NaN/inf" if not math.isfinite(loss) else
               f"‖∇W‖ grows {ratio:.1e}× from {hidden[-1].name} down to {hidden[0].name} (> {EXPLODING_RATIO:g})")
        found.append(Verdict("exploding_gradients", "error", f"exploding gradients: {why}",
                             {**evidence, "non_finite_layers": bad, "loss": loss},
                             [REMEDY_CLIPPING, init_remedy, REMEDY_BATCH_NORM, REMEDY_LR]))
    elif len(hidden) >= MIN_HIDDEN and all(g == 0 for g in grads):
        found.append(Verdict("vanishing_gradients", "error",
                             "vanishing gradients: no gradient reaches the hidden layers (every ‖∇W‖ is 0)",
                             evidence, [init_remedy, REMEDY_ACTIVATION, REMEDY_BATCH_NORM]))
    elif ratio is not None and ratio < VANISHING_RATIO:
        per = f", about {slope:+.2f} decades a layer" if slope is not None else ""
        found.append(Verdict(
            "vanishing_gradients", "error",
            f"vanishing gradients: ‖∇W‖ of {hidden[0].name} is {ratio:.1e}× that of {hidden[-1].name} "
            f"(< {VANISHING_RATIO:g}{per}); the lower layers barely learn",
            evidence, [init_remedy, REMEDY_ACTIVATION, REMEDY_BATCH_NORM]))

    stds = [r.act_std for r in hidden]
    if len(hidden) >= MIN_HIDDEN and _finite(stds[0]) and stds[0] > 0 and _finite(stds[-1]):
        std_ratio = stds[-1] / stds[0]
        std_evidence = {"first_layer": hidden[0].name, "first_std": stds[0], "last_hidden_layer": hidden[-1].name,
                        "last_std": stds[-1], "ratio": std_ratio, "log10_slope_per_layer": _log_slope(stds),
                        "activation": activation, "initializer": current,
                        "recommended": INIT_PRESET[RECOMMENDED_INIT.get(activation, "he")]}
        if std_ratio < ACTIVATION_SHRINK or std_ratio > ACTIVATION_GROWTH:
            way = "shrink" if std_ratio < ACTIVATION_SHRINK else "grow"
            found.append(Verdict(
                f"activations_{way}", "warning",
                f"activation std {way}s with depth: {stds[0]:.3g} at {hidden[0].name}, {stds[-1]:.3g} at "
                f"{hidden[-1].name} (×{std_ratio:.2g}); the initialization does not fit {activation}",
                std_evidence, [init_remedy, REMEDY_BATCH_NORM]))

    saturating = [r for r in hidden if r.saturated_share is not None and _finite(r.saturated_share)]
    if saturating:
        share = float(np.mean([r.saturated_share for r in saturating]))
        if share > SATURATION_SHARE:
            worst = max(saturating, key=lambda r: r.saturated_share)
            over = [r.name for r in saturating if r.saturated_share > SATURATION_SHARE]
            act = _dominant(saturating)
            found.append(Verdict(
                "saturation", "warning",
                f"saturation: {share:.0%} of the {act} outputs sit in the flat parts (> {SATURATION_SHARE:.0%}), "
                f"where the gradient is almost 0; worst {worst.name} {worst.saturated_share:.0%}",
                {"mean_share": share, "worst_layer": worst.name, "worst_share": worst.saturated_share,
                 "layers_over": len(over), "layers": len(saturating)},
                [remedy_init(act, current, facts.init_family), REMEDY_ACTIVATION, REMEDY_BATCH_NORM]))

    rectified = [r for r in hidden if r.dead_share is not None and _finite(r.dead_share)]
    if rectified:
        share = float(np.mean([r.dead_share for r in rectified]))
        if share > DEAD_SHARE:
            worst = max(rectified, key=lambda r: r.dead_share)
            act = _dominant(rectified)
            found.append(Verdict(
                "dead_units", "warning",
                f"dead units: {share:.0%} of the {act} units output 0 for every probe example (> {DEAD_SHARE:.0%}); "
                f"worst {worst.name} {worst.dead_share:.0%}",
                {"mean_share": share, "worst_layer": worst.name, "worst_share": worst.dead_share,
                 "layers": len(rectified)},
                [REMEDY_LEAKY, remedy_init(act, current, facts.init_family), REMEDY_BATCH_NORM, REMEDY_LR]))

    selu = [r for r in hidden if r.activation == "selu"]
    if selu:
        problems = _selu_conditions(facts)
        drift = [r.name for r in selu if not (_finite(r.act_std) and _finite(r.act_mean)
                                              and SELU_STD_RANGE[0] <= r.act_std <= SELU_STD_RANGE[1]
                                              and abs(r.act_mean) <= SELU_MEAN_LIMIT)]
        if problems or drift:
            parts = []
            if problems:
                parts.append("; ".join(problems))
            if drift:
                parts.append(f"measured drift in {len(drift)} of {len(selu)} SELU layers (std outside "
                             f"[{SELU_STD_RANGE[0]:g}, {SELU_STD_RANGE[1]:g}] or |mean| > {SELU_MEAN_LIMIT:g}), "
                             f"first {drift[0]}")
            stds_selu = [r.act_std for r in selu if _finite(r.act_std)]
            means_selu = [r.act_mean for r in selu if _finite(r.act_mean)]
            found.append(Verdict(
                "self_normalization_broken", "warning",
                "SELU cannot self-normalize here: " + " — ".join(parts),
                {"config": problems, "drift_layers": drift,
                 "std_range": [min(stds_selu), max(stds_selu)] if stds_selu else None,
                 "max_abs_mean": max(abs(m) for m in means_selu) if means_selu else None,
                 "input_mean": facts.input_mean, "input_std": facts.input_std},
                ["the note's conditions for SELU (一.2): standardized inputs (data.normalize: standardize), "
                 "kernel_initializer: lecun_normal, a plain stack of dense layers, and no l1/l2, max-norm, "
                 "batch norm or plain dropout (alpha dropout instead)",
                 "or keep those and use ELU/ReLU with He init instead of SELU"]))

    if not found:
        found.append(Verdict(
            "healthy", "info",
            "healthy: no vanishing or exploding gradients, stable activation variance, no saturation, "
            "no dead units",
            {"grad_ratio": ratio, "log10_grad_slope_per_layer": slope,
             "std_range": [min(stds), max(stds)] if stds and all(_finite(s) for s in stds) else None}, []))
    return found


def _selu_conditions(facts: Facts) -> list[str]:
    """The note's conditions for self-normalization that this set-up breaks."""
    problems = []
    if facts.normalize is not None and facts.normalize != "standardize":
        problems.append(f"inputs are not standardized (data.normalize: {facts.normalize})")
    elif facts.normalize is None and not (abs(facts.input_mean) <= INPUT_MEAN_LIMIT
                                          and INPUT_STD_RANGE[0] <= facts.input_std <= INPUT_STD_RANGE[1]):
        problems.append(f"inputs are not standardized (mean {facts.input_mean:.3g}, std {facts.input_std:.3g})")
    if facts.init_family is not None and facts.init_family != "lecun" or (
            facts.init_family is None and facts.initializer is not None):
        problems.append(f"kernel_initializer is {facts.initializer}, not lecun_normal")
    if facts.batch_norm:
        problems.append("batch norm is present")
    if facts.dropout:
        problems.append("plain dropout is present (use alpha dropout)")
    if facts.regularizer:
        problems.append("l1/l2 regularization is present")
    if facts.max_norm:
        problems.append("max-norm is present")
    return problems


def merge(per_step: list[tuple[int, list[Verdict]]]) -> list[Verdict]:
    """One list over all probe steps: each id once (the first step that raised it), with `steps`."""
    merged: dict[str, Verdict] = {}
    steps: dict[str, list[int]] = {}
    for step, verdicts in per_step:
        for verdict in verdicts:
            if verdict.id == "healthy":
                continue
            steps.setdefault(verdict.id, []).append(step)
            merged.setdefault(verdict.id, verdict)
    if not merged:
        first = per_step[0][1][0]
        return [Verdict(first.id, first.severity, first.message, {**first.evidence,
                        "steps": [s for s, _ in per_step]}, first.remedies)]
    order = {"error": 0, "warning": 1, "info": 2}
    out = [Verdict(v.id, v.severity, v.message, {**v.evidence, "steps": steps[v.id]}, v.remedies)
           for v in merged.values()]
    return sorted(out, key=lambda v: order[v.severity])


# --- the probe ---

_ACTIVATION_CLASSES: dict[type, str] = {
    nn.ReLU: "relu", nn.LeakyReLU: "leaky_relu", nn.PReLU: "prelu", nn.ELU: "elu", nn.SELU: "selu",
    nn.GELU: "gelu", nn.SiLU: "swish", nn.Mish: "mish", nn.Tanh: "tanh", nn.Sigmoid: "sigmoid",
    nn.Softplus: "softplus", nn.Softmax: "softmax", nn.Identity: "linear",
}
_WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


@dataclass
class _Group:
    name: str  # the dense/conv module's name
    weighted: nn.Module
    watched: nn.Module  # whose output is "the activation"
    activation: str
    role: str  # "hidden" or "output"
    units: int


def _kind(name: str) -> str:
    """A `Network` module's kind from its name: `leaky_relu_3` → `leaky_relu`."""
    return re.sub(r"_\d+$", "", name)


def _activation_of(name: str, module: nn.Module) -> str | None:
    """The activation's registry name when `module` is an activation, else None."""
    from dnnconf.nn.activations import ACTIVATIONS

    if _kind(name) in ACTIVATIONS:
        return _kind(name)
    for cls, known in _ACTIVATION_CLASSES.items():
        if type(module) is cls:
            return known
    return "swish" if type(module).__name__ == "Swish" else None


def is_batch_norm(name: str, module: nn.Module) -> bool:
    return isinstance(module, nn.modules.batchnorm._BatchNorm) or type(module).__name__ == "BatchNorm" or (
        _kind(name) == "batch_norm")


def layer_groups(network: nn.Module) -> list[_Group]:
    """Each dense/conv module with the modules after it up to the next one; the last group is the output.

    A group's activation is its activation module (after batch norm, before dropout or pooling); without
    one, the group's last dense/conv/batch-norm output stands for it (a linear layer).
    """
    layers = getattr(network, "layers", network)
    children = list(layers.named_children())
    starts = [i for i, (_, m) in enumerate(children) if isinstance(m, _WEIGHTED)]
    groups = []
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else len(children)
        name, weighted = children[start]
        members = children[start:end]
        output = k == len(starts) - 1
        act = next(((n, m, a) for n, m in members[1:] if (a := _activation_of(n, m)) is not None), None)
        if output:
            watched, activation = weighted, getattr(network, "head", "linear")
        elif act is not None:
            watched, activation = act[1], act[2]
        else:
            kept = [m for n, m in members if m is weighted or is_batch_norm(n, m)]
            watched, activation = kept[-1], "linear"
        units = weighted.out_features if isinstance(weighted, nn.Linear) else weighted.out_channels
        groups.append(_Group(name, weighted, watched, activation, "output" if output else "hidden", units))
    return groups


@contextmanager
def _rng_kept(device: torch.device):
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        yield


class Probe:
    """Measures one probe step; leaves the network, its buffers and the optimizer as it found them."""

    def __init__(self, network: nn.Module, batches: list[tuple[torch.Tensor, torch.Tensor]], loss: str,
                 optimizer: torch.optim.Optimizer, clipping: Any):
        from dnnconf.train.losses import loss_function

        self.network, self.batches, self.optimizer, self.clipping = network, batches, optimizer, clipping
        self.loss_fn = loss_function(loss)
        self.groups = layer_groups(network)
        if not self.groups:
            raise ConfigError("diagnose: the network has no dense or conv layer to probe")
        self.device = next(network.parameters()).device

    def measure(self) -> tuple[list[dict[str, float | None]], float]:
        with _rng_kept(self.device):
            return self._measure()

    def _measure(self) -> tuple[list[dict[str, float | None]], float]:
        from dnnconf.nn.constraints import apply_constraints
        from dnnconf.nn.regularizers import total_penalty

        network, groups, device = self.network, self.groups, self.device
        n = len(groups)
        saved = {k: v.detach().clone() for k, v in network.state_dict().items()}
        was_training = network.training
        network.train()
        f64 = dict(device=device, dtype=torch.float64)
        sums, squares, counts = torch.zeros(n, **f64), torch.zeros(n, **f64), torch.zeros(n, **f64)
        saturated = torch.zeros(n, **f64)
        alive: list[torch.Tensor | None] = [None] * n
        outputs: list[torch.Tensor | None] = [None] * n
        weight_norms, output_norms = torch.zeros(n, **f64), torch.zeros(n, **f64)
        loss_total = torch.zeros((), **f64)
        params = [p for p in network.parameters() if p.requires_grad]
        mean_grads = [torch.zeros_like(p) for p in params]

        def hook(index: int, activation: str):
            def record(module: nn.Module, inputs: Any, out: torch.Tensor) -> None:
                with torch.no_grad():
                    a = out.detach()
                    sums[index] += a.sum(dtype=torch.float64)
                    squares[index] += a.double().square().sum()
                    counts[index] += a.numel()
                    if is_relu_family(activation):
                        units = a.transpose(0, 1).reshape(a.shape[1], -1) if a.dim() > 1 else a.reshape(1, -1)
                        nonzero = (units != 0).any(dim=1)
                        alive[index] = nonzero if alive[index] is None else alive[index] | nonzero
                    elif activation == "tanh":
                        saturated[index] += (a.abs() > TANH_SATURATED).sum()
                    elif activation == "sigmoid":
                        low, high = SIGMOID_SATURATED
                        saturated[index] += ((a < low) | (a > high)).sum()
                if out.requires_grad:
                    out.retain_grad()
                    outputs[index] = out
            return record

        handles = [g.watched.register_forward_hook(hook(i, g.activation if g.role == "hidden" else "linear"))
                   for i, g in enumerate(groups)]
        try:
            for x, y in self.batches:
                for p in params:
                    p.grad = None
                outputs[:] = [None] * n
                out = network(x)
                loss = self.loss_fn(out, y)
                penalty = total_penalty(getattr(network, "penalties", []))
                objective = loss + penalty if penalty is not None else loss
                objective.backward()
                loss_total += objective.detach().double()
                with torch.no_grad():
                    weights = [g.weighted.weight.grad for g in groups]
                    present = [i for i, w in enumerate(weights) if w is not None]
                    if present:
                        norms = torch._foreach_norm([weights[i] for i in present])
                        weight_norms[present] += torch.stack(norms).double()
                    missing = [i for i in range(n) if weights[i] is None]
                    if missing:
                        weight_norms[missing] = math.nan
                    for i, o in enumerate(outputs):
                        grad = o.grad if o is not None else None
                        output_norms[i] += torch.linalg.vector_norm(grad).double() if grad is not None else math.nan
                    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
                    torch._foreach_add_(mean_grads, grads, alpha=1.0 / len(self.batches))
            outputs[:] = [None] * n
        finally:
            for handle in handles:
                handle.remove()
        ratios = self._update_ratios(params, mean_grads, apply_constraints)
        network.load_state_dict(saved)
        network.train(was_training)
        b = len(self.batches)
        mean = sums / counts
        std = (squares / counts - mean.square()).clamp_min(0).sqrt()
        host = torch.stack([mean, std, saturated / counts, weight_norms / b, output_norms / b,
                            ratios.double()]).cpu().numpy()
        dead = [None if a is None else float(1 - a.float().mean()) for a in alive]
        rows = []
        for i, g in enumerate(groups):
            hidden = g.role == "hidden"
            rows.append({
                "act_mean": float(host[0, i]), "act_std": float(host[1, i]),
                "dead_share": dead[i] if hidden and is_relu_family(g.activation) else None,
                "saturated_share": float(host[2, i]) if hidden and g.activation in ("tanh", "sigmoid") else None,
                "weight_grad_norm": float(host[3, i]), "output_grad_norm": float(host[4, i]),
                "update_ratio": float(host[5, i]),
            })
        return rows, float(loss_total.item() / b)

    def _update_ratios(self, params: list[torch.Tensor], mean_grads: list[torch.Tensor],
                       apply_constraints: Any) -> torch.Tensor:
        """‖ΔW‖/‖W‖ of one optimizer step on the mean probe gradient; the optimizer state is restored."""
        network, optimizer = self.network, self.optimizer
        kernels = [g.weighted.weight for g in self.groups]
        before = [w.detach().clone() for w in kernels]
        state = copy.deepcopy(optimizer.state_dict())
        for p, g in zip(params, mean_grads, strict=True):
            p.grad = g
        grads = [p.grad for p in params]
        if self.clipping is not None:
            self.clipping(grads)
        optimizer.step()
        if getattr(network, "constraints", None):
            apply_constraints(network.constraints)
        with torch.no_grad():
            deltas = torch._foreach_sub([w.detach() for w in kernels], before)
            ratios = torch.stack(torch._foreach_norm(deltas)) / torch.stack(torch._foreach_norm(before))
        optimizer.load_state_dict(state)
        for p in params:
            p.grad = None
        return ratios


# --- assembly ---


def _init_family(spec: Any) -> tuple[str | None, str | None]:
    """(name, family) of an initializer spec: the note's Glorot/He/LeCun, or None for anything else."""
    from dnnconf.nn.initializers import FAMILY

    if spec is None:
        return None, None
    if isinstance(spec, str):
        spec = {"name": spec}
    name = spec.get("name")
    if name in FAMILY:
        return name, FAMILY[name]
    if name == "variance_scaling":
        key = (float(spec.get("scale", 1.0)), spec.get("mode", "fan_in"))
        family = {(1.0, "fan_avg"): "glorot", (2.0, "fan_in"): "he", (1.0, "fan_in"): "lecun"}.get(key)
        return f"variance_scaling(scale={key[0]:g}, mode={key[1]})", family
    params = ", ".join(f"{k}={v}" for k, v in spec.items() if k != "name")
    return (f"{name}({params})" if params else name), None


def facts_of(network: nn.Module, config: Config | None, x: torch.Tensor) -> Facts:
    modules = list(network.named_modules())
    facts = Facts(
        batch_norm=any(is_batch_norm(n.rsplit(".", 1)[-1], m) for n, m in modules),
        dropout=any(type(m) is nn.Dropout for _, m in modules),  # alpha dropout is fine
        regularizer=bool(getattr(network, "penalties", None)),
        max_norm=bool(getattr(network, "constraints", None)),
        input_mean=float(x.double().mean()), input_std=float(x.double().std()) if x.numel() > 1 else 0.0,
    )
    if config is not None:
        facts.normalize = config.data.normalize
        model = config.model
        if model.layers is None:
            facts.initializer, facts.init_family = _init_family(model.kernel_initializer)
        else:
            dense = [next(iter(e.values())) for e in model.layers if next(iter(e)) == "dense"]
            found = {_init_family(d.get("kernel_initializer")) for d in dense}
            if len(found) == 1:
                facts.initializer, facts.init_family = found.pop()
    return facts


def _dataset_from_tensors(x: torch.Tensor, y: torch.Tensor) -> Dataset:
    from dnnconf.data import Dataset

    y = torch.as_tensor(y)
    x = torch.as_tensor(x, dtype=torch.float32)
    integer = not torch.is_floating_point(y)
    empty_x, empty_y = x[:0], y[:0]
    return Dataset(x, y, empty_x, empty_y, empty_x, empty_y, tuple(x.shape[1:]),
                   "classification" if integer else "regression",
                   int(y.max()) + 1 if integer and len(y) else None, None, {"method": "none"})


def _as_dataset(data: Any) -> Dataset:
    from dnnconf.data import Dataset
    from dnnconf.train.loop import Split

    if isinstance(data, Dataset):
        return data
    if isinstance(data, Split):
        return _dataset_from_tensors(data.x, data.y)
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return _dataset_from_tensors(*data)
    raise ConfigError(f"diagnose: data must be a Dataset, a Split or an (x, y) pair (received {type(data).__name__})")


def _probe_batches(train: Split, batches: int, batch_size: int, generator: torch.Generator) -> list[tuple]:
    """The first `batches` batches of the first epoch, in the order training would take them."""
    order = torch.randperm(len(train), generator=generator).to(train.x.device)
    take = order[: batches * batch_size]
    x, y = train.x[take], train.y[take]
    return [(x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, len(take), batch_size)]


def diagnose(config_or_network: Config | Network | str | Path, data: Any = None, *, batches: int = 4,
             train_steps: int = 0, probe_every: int | None = None, config: Config | None = None,
             source: str | None = None) -> DiagnosisReport:
    """Probe a network at initialization (and along `train_steps` steps of training) and judge it.

    `config_or_network`: a Config (or a YAML path), built and seeded as `dnnconf train` would, on its
    own data unless `data` is given; or a built `Network` (pass `config=` for its optimizer, batch
    size and data facts — `dnnconf diagnose RUN` does — otherwise the default configuration's).
    `data`: a `Dataset`, a `Split` or an `(x, y)` pair; the probe batches come from its training part.
    A network passed in is never changed: training steps run on a copy.
    """
    from dnnconf.config import Config, config_from_dict, load_config
    from dnnconf.data import load_data
    from dnnconf.train import setup

    if batches < 1:
        raise ConfigError(f"diagnose: batches must be >= 1 (received {batches})")
    if train_steps < 0:
        raise ConfigError(f"diagnose: train_steps must be >= 0 (received {train_steps})")
    if probe_every is not None and probe_every < 1:
        raise ConfigError(f"diagnose: probe_every must be >= 1 (received {probe_every})")
    if isinstance(config_or_network, (str, Path)):
        config_or_network = load_config(config_or_network)
    if isinstance(config_or_network, Config):
        config = config_or_network
        dataset = load_data(config.data) if data is None else _as_dataset(data)
        config = setup.resolve_with_data(config, dataset)
        device = setup.pick_device(config.training.device)
        setup.seed_everything(config.seed)
        network = setup.make_network(config).to(device)
        facts_config: Config | None = config
        source = source or "config"
    else:
        if data is None:
            raise ConfigError("diagnose: a network needs data (a Dataset, a Split or an (x, y) pair)")
        dataset = _as_dataset(data)
        network = config_or_network
        if train_steps:
            network = copy.deepcopy(network)
        device = next(network.parameters()).device
        facts_config = config
        if config is None:
            config = config_from_dict({"name": "network"})
        if config.loss is None:
            config = config.model_copy(update={"loss": setup.LOSS_OF_HEAD[getattr(network, "head", "softmax")]})
        source = source or "network"
    splits = setup.to_splits(dataset, device)
    if len(splits.train) == 0:
        raise ConfigError("diagnose: the data has no training examples to probe")
    batch_size = config.training.batch_size
    generator = torch.Generator().manual_seed(config.seed + setup.SHUFFLE_STREAM)
    probe_set = _probe_batches(splits.train, batches, batch_size, generator)
    facts = facts_of(network, facts_config, torch.cat([x for x, _ in probe_set]))

    optimizer, clipping = setup.make_optimizer(config, network)
    spe = setup.steps_per_epoch(config, len(splits.train))
    schedule = setup.make_schedule(config, spe)
    from dnnconf.train.callbacks import Listener
    from dnnconf.train.loop import Loop

    results: list[tuple[int, list[dict[str, float | None]], float]] = []
    every = probe_every or max(1, math.ceil(train_steps / PROBE_POINTS))

    class _Along(Listener):
        def on_batch_end(self, loop: Loop) -> None:
            step = loop.state.step
            if step % every == 0 or step >= train_steps:
                results.append((step, *probe.measure()))
            if step >= train_steps:
                loop.state.stop = True
                loop.state.stop_reason = ""

    epochs = math.ceil(train_steps / spe) + 1 if train_steps else 1
    loop = Loop(network, optimizer, schedule, config.loss, splits.train, None, epochs, batch_size, clipping,
                [_Along()], torch.Generator().manual_seed(config.seed + setup.SHUFFLE_STREAM),
                config.training.eval_batch_size)
    loop._write_hyperparameters(0)  # the learning rate of the first step, for the update ratio
    probe = Probe(network, probe_set, config.loss, optimizer, clipping)
    results.append((0, *probe.measure()))
    stopped = None
    if train_steps:
        state = loop.run()
        if state.diverged:
            stopped = f"training diverged after {state.step} steps ({state.stop_reason})"
            if results[-1][0] != state.step:
                results.append((state.step, *probe.measure()))

    groups = probe.groups
    per_step_rows = [[LayerRow(i + 1, g.name, g.activation, g.role, g.units, **row)
                      for i, (g, row) in enumerate(zip(groups, rows, strict=True))] for _, rows, _ in results]
    verdicts = merge([(step, judge(rows, facts, loss))
                      for (step, _, loss), rows in zip(results, per_step_rows, strict=True)])
    series = {m: [[rows[i][m] for _, rows, _ in results] for i in range(len(groups))] for m in METRICS}
    return DiagnosisReport(
        name=config.name, source=source, batches=len(probe_set), batch_size=batch_size, train_steps=train_steps,
        device=str(device), input={"mean": facts.input_mean, "std": facts.input_std}, layers=per_step_rows[0],
        steps=[s for s, _, _ in results], loss=[loss for _, _, loss in results], series=series,
        verdicts=verdicts, stopped=stopped)


def diagnose_run(folder: Path, *, batches: int = 4, train_steps: int = 0,
                 probe_every: int | None = None) -> DiagnosisReport:
    """Probe the trained weights of a run folder on its own training data."""
    from dnnconf.data import load_data
    from dnnconf.run import load_run
    from dnnconf.train import setup

    config, network = load_run(Path(folder), device="cpu")
    network = network.to(setup.pick_device(config.training.device))
    dataset = load_data(config.data)
    return diagnose(network, dataset, batches=batches, train_steps=train_steps, probe_every=probe_every,
                    config=config, source="run")
