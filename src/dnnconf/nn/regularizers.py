"""l1/l2 kernel penalties, with Keras's meaning.

`l1: a, l2: b` adds a·Σ|w| + b·Σw² over each regularized kernel to the loss (Keras's
`regularizers.l1_l2(l1=a, l2=b)`; `l2(0.01)` adds 0.01·Σw²). Biases and batch-norm parameters are
never penalized. The penalty enters the loss before backward, so its gradient flows like any other.

`REGULARIZERS` names Keras's three (`dnnconf list regularizers`), with Keras's defaults; a config writes
them as the mapping `model.kernel_regularizer: {l1: a, l2: b}` (either key may be left out: 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from pydantic import Field

from dnnconf.registry import Params, Registry, Strict

REGULARIZERS = Registry("regularizers")


class RegularizerConfig(Strict):
    """Penalty added to the loss: l1·Σ|w| + l2·Σw² over kernels (biases and BN untouched)."""

    l1: float = Field(0.0, ge=0, description="weight of Σ|w| in the loss")
    l2: float = Field(0.0, ge=0, description="weight of Σw² in the loss")


@dataclass(frozen=True)
class KernelPenalty:
    weight: torch.nn.Parameter
    l1: float
    l2: float

    def __call__(self) -> torch.Tensor:
        w = self.weight
        total = w.new_zeros(())
        if self.l1:
            total = total + self.l1 * w.abs().sum()
        if self.l2:
            total = total + self.l2 * (w * w).sum()
        return total


def total_penalty(penalties: list[KernelPenalty]) -> torch.Tensor | None:
    """Σ of every kernel's penalty, or None when nothing is regularized (so the loop adds nothing)."""
    if not penalties:
        return None
    terms = [penalty() for penalty in penalties]
    return torch.stack(terms).sum() if len(terms) > 1 else terms[0]


class L1Params(Params):
    l1: float = Field(0.01, ge=0, allow_inf_nan=False)


class L2Params(Params):
    l2: float = Field(0.01, ge=0, allow_inf_nan=False)


class L1L2Params(Params):
    l1: float = Field(0.0, ge=0, allow_inf_nan=False)
    l2: float = Field(0.0, ge=0, allow_inf_nan=False)


@REGULARIZERS.register("l1", "adds l1·Σ|w| to the loss (Keras L1; sparse weights); config: "
                       "kernel_regularizer: {l1: 0.01}", L1Params)
def l1(weight: torch.nn.Parameter, l1: float) -> KernelPenalty:
    return KernelPenalty(weight, l1, 0.0)


@REGULARIZERS.register("l2", "adds l2·Σw² to the loss (Keras L2); config: "
                       "kernel_regularizer: {l2: 0.01}", L2Params)
def l2(weight: torch.nn.Parameter, l2: float) -> KernelPenalty:
    return KernelPenalty(weight, 0.0, l2)


@REGULARIZERS.register("l1_l2", "adds l1·Σ|w| + l2·Σw² (Keras L1L2); config: kernel_regularizer: "
                       "{l1: 0.01, l2: 0.01}", L1L2Params)
def l1_l2(weight: torch.nn.Parameter, l1: float, l2: float) -> KernelPenalty:
    return KernelPenalty(weight, l1, l2)
