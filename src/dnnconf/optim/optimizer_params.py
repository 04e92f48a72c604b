"""The optimizers' parameter models: Keras 3's names, defaults and bounds (`dnnconf list optimizers` shows
them; `dnnconf.optim.optimizers` registers each with its update rule)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from dnnconf.registry import Params


def _rate(default: float) -> Any:
    return Field(default, gt=0, allow_inf_nan=False)


def _fraction(default: float) -> Any:
    """A decay rate in [0, 1)."""
    return Field(default, ge=0, lt=1)


def _weight_decay(default: float | None) -> Any:
    return Field(default, ge=0, allow_inf_nan=False)


# ---------------------------------------------------------------------------------------------------
# parameter models (Keras 3's names and defaults)


class SGDParams(Params):
    learning_rate: float = _rate(0.01)
    momentum: float = _fraction(0.0)
    nesterov: bool = False
    weight_decay: float | None = _weight_decay(None)

    @model_validator(mode="after")
    def _nesterov_needs_momentum(self) -> SGDParams:
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov: true needs momentum > 0 (the note uses momentum: 0.9)")
        return self


class MomentumParams(Params):
    """sgd's parameters with the note's momentum (β 0.9) as the default; β must be > 0."""

    learning_rate: float = _rate(0.01)
    momentum: float = Field(0.9, gt=0, lt=1)
    weight_decay: float | None = _weight_decay(None)


class AdagradParams(Params):
    learning_rate: float = _rate(0.001)
    initial_accumulator_value: float = Field(0.1, ge=0, allow_inf_nan=False)
    epsilon: float = _rate(1e-7)
    weight_decay: float | None = _weight_decay(None)


class RMSpropParams(Params):
    learning_rate: float = _rate(0.001)
    rho: float = _fraction(0.9)
    momentum: float = _fraction(0.0)
    epsilon: float = _rate(1e-7)
    centered: bool = False
    weight_decay: float | None = _weight_decay(None)


class AdamParams(Params):
    learning_rate: float = _rate(0.001)
    beta_1: float = _fraction(0.9)
    beta_2: float = _fraction(0.999)
    epsilon: float = _rate(1e-7)
    amsgrad: bool = False
    weight_decay: float | None = _weight_decay(None)


class AdamaxParams(Params):
    learning_rate: float = _rate(0.001)
    beta_1: float = _fraction(0.9)
    beta_2: float = _fraction(0.999)
    epsilon: float = _rate(1e-7)
    weight_decay: float | None = _weight_decay(None)


class NadamParams(AdamaxParams):
    pass


class AdamWParams(Params):
    learning_rate: float = _rate(0.001)
    weight_decay: float = _weight_decay(0.004)
    beta_1: float = _fraction(0.9)
    beta_2: float = _fraction(0.999)
    epsilon: float = _rate(1e-7)
    amsgrad: bool = False
