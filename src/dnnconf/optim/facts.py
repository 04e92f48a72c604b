"""The facts about each optimizer's update rule that code besides the rule needs: registry metadata
(`OPTIMIZERS.get(name).facts`, set where dnnconf.optim.optimizers registers each optimizer)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class OptimizerFacts:
    """What the loop and the stacked (parallel-seeds) step need to know about an update rule: registry
    metadata (`OPTIMIZERS.get(name).facts`), so no code outside this module matches optimizer names.

    - family: "sgd", "adagrad", "rmsprop" or "adam" (adam, adamw, adamax, nadam).
    - momentum_key: the param-group key holding the momentum a 1cycle schedule cycles: "momentum" (β, used
      only when the config's momentum is > 0), "betas" ((β₁, β₂), β₁ cycled), or None.
    - step_linear_in_rate: θ_new − θ_old is η times a function of the state and the gradient, with the
      momentum off (the stacked step scales a member's step to give it its own rate).
    - momentum_holds_rate: the momentum buffer accumulates η·g (Keras's sgd and rmsprop), so with momentum
      on the step is not linear in the current η.
    - gradient_scales_rate: scaling the gradient by s is scaling η by s, without weight decay (sgd:
      m ← βm − η·(s·g)); false where g enters non-linearly (g² in rmsprop, adam, adagrad).
    - batchable: an elementwise rule whose state is per tensor element, so it runs on the members' stacked
      [K, …] tensors with member k's state its own.
    """

    family: str
    momentum_key: Literal["momentum", "betas"] | None
    step_linear_in_rate: bool
    momentum_holds_rate: bool = False
    gradient_scales_rate: bool = False
    batchable: bool = True


SGD_FACTS = OptimizerFacts("sgd", "momentum", step_linear_in_rate=True, momentum_holds_rate=True,
                           gradient_scales_rate=True)
ADAGRAD_FACTS = OptimizerFacts("adagrad", None, step_linear_in_rate=True)
RMSPROP_FACTS = OptimizerFacts("rmsprop", "momentum", step_linear_in_rate=True, momentum_holds_rate=True)
ADAM_FACTS = OptimizerFacts("adam", "betas", step_linear_in_rate=True)
