"""Max-norm: after every optimizer step, each neuron's incoming weight vector is kept to ‖w‖₂ ≤ r.

Keras's `constraints.max_norm(r)` on a dense kernel (in, out) rescales each column:
w ← w · clip(‖w‖, 0, r) / (ε + ‖w‖) with ε = 1e-7 (Keras's backend epsilon). A torch Linear weight is
(out, in), so the norm runs over dim 1 (and over every dim but 0 for a conv kernel). It adds nothing to
the loss: it is applied by the loop after `optimizer.step()`.

`CONSTRAINTS` names it for `dnnconf list constraints`; a config writes `model.kernel_constraint: {max_norm: r}`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from pydantic import Field

from dnnconf.registry import Params, Registry, Strict

CONSTRAINTS = Registry("constraints")

KERAS_EPSILON = 1e-7


class ConstraintConfig(Strict):
    """max_norm: after each optimizer step, each neuron's incoming weight vector is scaled to ‖w‖ ≤ r."""

    max_norm: float = Field(gt=0, description="largest L2 norm of each neuron's incoming weights")


@dataclass(frozen=True)
class MaxNorm:
    weight: torch.nn.Parameter
    max_value: float

    @torch.no_grad()
    def __call__(self) -> None:
        w = self.weight
        dims = tuple(range(1, w.dim()))
        norms = torch.linalg.vector_norm(w, dim=dims, keepdim=True)
        w.mul_(norms.clamp(max=self.max_value) / (norms + KERAS_EPSILON))


def apply_constraints(constraints: list[MaxNorm]) -> None:
    for constraint in constraints:
        constraint()


class MaxNormParams(Params):
    max_norm: float = Field(gt=0, allow_inf_nan=False, description="largest L2 norm of a neuron's incoming weights")


@CONSTRAINTS.register("max_norm", "after every step, each neuron's incoming weights are scaled to ‖w‖₂ ≤ r "
                      "(Keras MaxNorm); config: kernel_constraint: {max_norm: 1.0}", MaxNormParams)
def max_norm(weight: torch.nn.Parameter, max_norm: float) -> MaxNorm:
    return MaxNorm(weight, max_norm)
