"""l1/l2 kernel penalties, with Keras's meaning.

`l1: a, l2: b` adds a·Σ|w| + b·Σw² over each regularized kernel to the loss (Keras's
`regularizers.l1_l2(l1=a, l2=b)`; `l2(0.01)` adds 0.01·Σw²). Biases and batch-norm parameters are
never penalized. The penalty enters the loss before backward, so its gradient flows like any other.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


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
