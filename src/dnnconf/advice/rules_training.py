"""The rules of `dnnconf check` on the note's §2 transfer learning (`DNC2xx`), §3 optimizers (`DNC3xx`) and
§4 learning-rate schedules (`DNC4xx`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dnnconf.advice.config_reading import (
    field_of,
    hidden_layers,
    momentum_of,
    no_validation,
    optimizer_params,
    penalty_values,
    regularized_layers,
    schedule_spec,
)
from dnnconf.advice.rule_registry import Finding, finding, rule

ADAM_FAMILY = ("adam", "adamax", "nadam", "adamw")
LONG_CONSTANT = 20  # a constant learning rate for more epochs than this "never decays"


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
    freeze = field_of(transfer, "freeze_epochs", 0) or 0
    unfreeze = field_of(transfer, "unfreeze", "all")
    if freeze <= 0 or unfreeze in (None, False, 0, "none", []):
        return []
    factor = field_of(transfer, "unfreeze_lr_factor")
    rate = field_of(transfer, "unfreeze_learning_rate")
    base = optimizer_params(config).get("learning_rate")
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
    return [finding("DNC302", layer.at("kernel_regularizer"), optimizer=name, penalty=penalty_values(penalty))
            for layer, penalty in regularized_layers(hidden_layers(config))]


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
    schedule = schedule_spec(config)
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
    schedule = schedule_spec(config)
    monitor = str(schedule.get("monitor", "val_loss"))
    if schedule.get("name") == "performance" and monitor.startswith("val_") and no_validation(config):
        return [finding("DNC401", "schedule.monitor", monitor=monitor)]
    return []


@rule("DNC402", "info", "4")
def never_decays(config: Any) -> list[Finding]:
    if schedule_spec(config).get("name") == "constant" and config.training.epochs > LONG_CONSTANT:
        return [finding("DNC402", "schedule", epochs=config.training.epochs)]
    return []


@rule("DNC403", "info", "4")
def one_cycle_without_momentum(config: Any) -> list[Finding]:
    schedule = schedule_spec(config)
    if schedule.get("name") != "one_cycle" or momentum_of(config) > 0:
        return []
    cycles, explicit = _cycles_momentum(schedule)
    if explicit:
        return []  # DNC303
    return [finding("DNC403", "optimizer.name", optimizer=config.optimizer.name)]
