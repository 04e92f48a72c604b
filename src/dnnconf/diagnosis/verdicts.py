"""The verdicts of `dnnconf diagnose` and the note's remedies: pure functions of the probe's numbers
(`judge` for one probe step, `merge` over the steps), tested on synthetic rows.

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
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from dnnconf.diagnosis.report import Facts, LayerRow, Verdict
from dnnconf.diagnosis.thresholds import (  # noqa: F401 - THRESHOLDS: re-exported with the verdicts
    ACTIVATION_GROWTH,
    ACTIVATION_SHRINK,
    DEAD_SHARE,
    EXPLODING_RATIO,
    INPUT_MEAN_LIMIT,
    INPUT_STD_RANGE,
    MIN_HIDDEN,
    SATURATION_SHARE,
    SELU_MEAN_LIMIT,
    SELU_STD_RANGE,
    SIGMOID_SATURATED,
    TANH_SATURATED,
    THRESHOLDS,
    VANISHING_RATIO,
)
from dnnconf.nn.activations import RECOMMENDED_INIT, is_relu_family

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


def _share_over(hidden: list[LayerRow], attribute: str, limit: float
                ) -> tuple[list[LayerRow], float, LayerRow] | None:
    """The hidden layers that measure `attribute` (a share of units or outputs), its mean over them and the
    worst layer, when that mean is above `limit`; else None."""
    layers = [r for r in hidden if getattr(r, attribute) is not None and _finite(getattr(r, attribute))]
    if not layers:
        return None
    share = float(np.mean([getattr(r, attribute) for r in layers]))
    if share <= limit:
        return None
    return layers, share, max(layers, key=lambda r: getattr(r, attribute))


def _dominant(rows: list[LayerRow]) -> str:
    names = [r.activation for r in rows]
    return max(set(names), key=names.count) if names else "linear"


def judge(rows: list[LayerRow], facts: Facts | None = None, loss: float = 0.0) -> list[Verdict]:
    """The verdicts for one probe step's rows (input side first, the output layer last): each check below
    adds its verdict when it fires, `healthy` when none does."""
    facts = facts or Facts()
    hidden = [r for r in rows if r.role == "hidden"]
    activation = _dominant(hidden)
    init_remedy = remedy_init(activation, facts.initializer, facts.init_family)
    found: list[Verdict] = []
    ratio, slope = _gradient_verdicts(found, rows, hidden, loss, init_remedy)
    _activation_verdicts(found, hidden, activation, facts.initializer, init_remedy)
    _saturation_verdicts(found, hidden, facts)
    _dead_unit_verdicts(found, hidden, facts)
    _selu_verdicts(found, hidden, facts)
    stds = [r.act_std for r in hidden]
    if not found:
        found.append(Verdict(
            "healthy", "info",
            "healthy: no vanishing or exploding gradients, stable activation variance, no saturation, "
            "no dead units",
            {"grad_ratio": ratio, "log10_grad_slope_per_layer": slope,
             "std_range": [min(stds), max(stds)] if stds and all(_finite(s) for s in stds) else None}, []))
    return found


def _gradient_verdicts(found: list[Verdict], rows: list[LayerRow], hidden: list[LayerRow], loss: float,
                       init_remedy: str) -> tuple[float | None, float | None]:
    """Exploding or vanishing gradients, from NaN/inf and the first-to-last hidden ‖∇W‖ ratio; returns
    (that ratio, the log10 slope of ‖∇W‖ per layer) for the healthy verdict's evidence."""
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
    return ratio, slope


def _activation_verdicts(found: list[Verdict], hidden: list[LayerRow], activation: str, current: str | None,
                         init_remedy: str) -> None:
    """Activations that shrink or grow with depth: the initializer does not fit the activation."""
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


def _saturation_verdicts(found: list[Verdict], hidden: list[LayerRow], facts: Facts) -> None:
    """tanh/sigmoid outputs in their flat parts."""
    current = facts.initializer
    saturated = _share_over(hidden, "saturated_share", SATURATION_SHARE)
    if saturated is not None:
        saturating, share, worst = saturated
        over = [r.name for r in saturating if r.saturated_share > SATURATION_SHARE]
        act = _dominant(saturating)
        found.append(Verdict(
            "saturation", "warning",
            f"saturation: {share:.0%} of the {act} outputs sit in the flat parts (> {SATURATION_SHARE:.0%}), "
            f"where the gradient is almost 0; worst {worst.name} {worst.saturated_share:.0%}",
            {"mean_share": share, "worst_layer": worst.name, "worst_share": worst.saturated_share,
             "layers_over": len(over), "layers": len(saturating)},
            [remedy_init(act, current, facts.init_family), REMEDY_ACTIVATION, REMEDY_BATCH_NORM]))


def _dead_unit_verdicts(found: list[Verdict], hidden: list[LayerRow], facts: Facts) -> None:
    """ReLU-family units that output 0 for every probe example."""
    current = facts.initializer
    dead = _share_over(hidden, "dead_share", DEAD_SHARE)
    if dead is not None:
        rectified, share, worst = dead
        act = _dominant(rectified)
        found.append(Verdict(
            "dead_units", "warning",
            f"dead units: {share:.0%} of the {act} units output 0 for every probe example (> {DEAD_SHARE:.0%}); "
            f"worst {worst.name} {worst.dead_share:.0%}",
            {"mean_share": share, "worst_layer": worst.name, "worst_share": worst.dead_share,
             "layers": len(rectified)},
            [REMEDY_LEAKY, remedy_init(act, current, facts.init_family), REMEDY_BATCH_NORM, REMEDY_LR]))


def _selu_verdicts(found: list[Verdict], hidden: list[LayerRow], facts: Facts) -> None:
    """A SELU network where the note's conditions for self-normalization fail or the outputs drift."""
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
