"""Gradient clipping with Keras's three options, applied between backward and the optimizer step.

- `clipvalue: v`: every component to [−v, v]. It can turn the gradient: the note's [0.9, 100.0] with
  v = 1 becomes [0.9, 1.0], which points along the diagonal instead of the second axis.
- `clipnorm: c`: each gradient tensor on its own, g ← g·c/max(‖g‖, c) (Keras clips per variable).
- `global_clipnorm: c`: all gradients together, g ← g·c/max(‖G‖, c) with ‖G‖ the norm of all of them
  (tf.clip_by_global_norm). Norm clipping keeps the direction: [0.9, 100.0] with c = 1 becomes
  [0.009, 0.99996].
`per_member` does the same on stacked gradients [K, …] of K members trained at once
(training.parallel_seeds): each member's tensors are clipped by that member's norms only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Clipping:
    clipvalue: float | None = None
    clipnorm: float | None = None
    global_clipnorm: float | None = None

    @property
    def active(self) -> bool:
        return any(v is not None for v in (self.clipvalue, self.clipnorm, self.global_clipnorm))

    def __call__(self, grads: list[torch.Tensor]) -> None:
        self._clip(grads, torch._foreach_norm, lambda scale, grad: scale)

    def per_member(self, grads: list[torch.Tensor]) -> None:
        """Clip stacked gradients [K, …] member by member: clipnorm per member per tensor, global_clipnorm
        over each member's own tensors (clipvalue is elementwise already)."""
        self._clip(grads, member_norms, _per_member)

    @torch.no_grad()
    def _clip(self, grads: list[torch.Tensor], norms_of: Callable[[list[torch.Tensor]], list[torch.Tensor]],
              broadcast: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
        """The three clips in Keras's order; `norms_of` gives each tensor's norm (a scalar, or [K] for
        stacked members) and `broadcast` shapes a scale like a gradient."""
        if not grads:
            return
        if self.clipvalue is not None:
            torch._foreach_clamp_min_(grads, -self.clipvalue)
            torch._foreach_clamp_max_(grads, self.clipvalue)
        if self.clipnorm is not None:
            for grad, norm in zip(grads, norms_of(grads), strict=True):
                grad.mul_(broadcast(self.clipnorm / torch.clamp(norm, min=self.clipnorm), grad))
        if self.global_clipnorm is not None:
            total = torch.linalg.vector_norm(torch.stack(norms_of(grads)), dim=0)
            scale = self.global_clipnorm / torch.clamp(total, min=self.global_clipnorm)
            for grad in grads:
                grad.mul_(broadcast(scale, grad))


def member_norms(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    """‖t[k]‖₂ of each stacked tensor [K, …], as one [K] vector per tensor."""
    return [torch.linalg.vector_norm(t.reshape(t.shape[0], -1), dim=1) for t in tensors]


def _per_member(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A [K] vector shaped to broadcast over a stacked tensor [K, …]."""
    return values.view(-1, *([1] * (like.dim() - 1)))
