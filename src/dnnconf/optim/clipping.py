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

    @torch.no_grad()
    def __call__(self, grads: list[torch.Tensor]) -> None:
        if not grads:
            return
        if self.clipvalue is not None:
            torch._foreach_clamp_min_(grads, -self.clipvalue)
            torch._foreach_clamp_max_(grads, self.clipvalue)
        if self.clipnorm is not None:
            norms = torch._foreach_norm(grads)
            scales = [self.clipnorm / torch.clamp(norm, min=self.clipnorm) for norm in norms]
            torch._foreach_mul_(grads, scales)
        if self.global_clipnorm is not None:
            total = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
            torch._foreach_mul_(grads, self.global_clipnorm / torch.clamp(total, min=self.global_clipnorm))

    @torch.no_grad()
    def per_member(self, grads: list[torch.Tensor]) -> None:
        """Clip stacked gradients [K, …] member by member: clipnorm per member per tensor, global_clipnorm
        over each member's own tensors (clipvalue is elementwise already)."""
        if not grads:
            return
        if self.clipvalue is not None:
            torch._foreach_clamp_min_(grads, -self.clipvalue)
            torch._foreach_clamp_max_(grads, self.clipvalue)
        if self.clipnorm is not None:
            for grad, norm in zip(grads, member_norms(grads), strict=True):
                grad.mul_(_per_member(self.clipnorm / torch.clamp(norm, min=self.clipnorm), grad))
        if self.global_clipnorm is not None:
            total = torch.linalg.vector_norm(torch.stack(member_norms(grads)), dim=0)
            scale = self.global_clipnorm / torch.clamp(total, min=self.global_clipnorm)
            for grad in grads:
                grad.mul_(_per_member(scale, grad))


def member_norms(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    """‖t[k]‖₂ of each stacked tensor [K, …], as one [K] vector per tensor."""
    return [torch.linalg.vector_norm(t.reshape(t.shape[0], -1), dim=1) for t in tensors]


def _per_member(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A [K] vector shaped to broadcast over a stacked tensor [K, …]."""
    return values.view(-1, *([1] * (like.dim() - 1)))
