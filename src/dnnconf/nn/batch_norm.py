"""Batch normalization with Keras 3's numbers (`{batch_norm: {}}`, `model.batch_norm`), its frozen state (a
reused layer during transfer learning) and the cross-process reducer torchrun injects (`training.sync_batch_norm`)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F


class BatchNorm(torch.nn.Module):
    """Batch normalization with Keras 3's numbers, on (N, F) or per channel on (N, C, H, W).

    Training: y = γ·(x − μ_B)/sqrt(σ²_B + ε) + β with the batch mean μ_B and the biased batch variance
    σ²_B (PyTorch's fused kernel); the moving averages then take μ ← μ·momentum + μ_B·(1 − momentum) and
    σ² ← σ²·momentum + σ²_B·(1 − momentum) (biased σ²_B, as Keras). Inference uses the moving averages.
    `center: false` drops β, `scale: false` drops γ. State: `weight` (γ), `bias` (β), `running_mean`,
    `running_var`.

    Two settings that are not state (not in the state_dict):
    - `frozen` (`freeze()`): inference arithmetic, moving averages kept, whatever `train()` says: Keras's
      `trainable = False` on a BatchNormalization layer (transfer learning's frozen layers).
    - `reducer`: None, or a differentiable Σ over the processes of a data-parallel run (set by
      `dnnconf.train.distributed.use_synced_batch_norm`). Given one, μ_B and σ²_B are those of the global
      batch: per channel the sums [Σx, Σx², n] (float64, so E[x²] − E[x]² keeps its digits) go through
      it, μ = Σx/n, σ² = max(Σx²/n − μ², 0); gradients flow back through it.
    """

    def __init__(self, features: int, momentum: float = 0.99, epsilon: float = 1e-3,
                 center: bool = True, scale: bool = True):
        super().__init__()
        self.features = features
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.register_parameter("weight", torch.nn.Parameter(torch.ones(features)) if scale else None)
        self.register_parameter("bias", torch.nn.Parameter(torch.zeros(features)) if center else None)
        self.register_buffer("running_mean", torch.zeros(features))
        self.register_buffer("running_var", torch.ones(features))
        self.frozen = False
        self.reducer: Callable[[torch.Tensor], torch.Tensor] | None = None

    def freeze(self, frozen: bool = True) -> BatchNorm:
        """Keep (frozen) or stop keeping this layer in inference arithmetic during training."""
        self.frozen = frozen
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.frozen:
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0,
                                self.epsilon)
        dims = [0, *range(2, x.dim())]
        if self.reducer is not None:
            return self._global_batch(x, dims)
        with torch.no_grad():
            var, mean = torch.var_mean(x, dim=dims, correction=0)
            self._update_moving_averages(mean, var)
        if x.numel() > x.shape[1]:
            return F.batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.epsilon)
        # one value per feature (a batch of one example on (N, F)): PyTorch's kernel refuses it; Keras
        # gives variance 0, so y = β and no gradient reaches x.
        centered = x - x.mean(dim=dims, keepdim=True)
        return self._scale_shift(centered * torch.rsqrt(centered.square().mean(dim=dims, keepdim=True)
                                                        + self.epsilon))

    def _global_batch(self, x: torch.Tensor, dims: list[int]) -> torch.Tensor:
        """Training arithmetic over the global batch, the sums through `reducer` (see the class docstring)."""
        wide = x.double()
        count = torch.full((1,), x.numel() // x.shape[1], dtype=torch.float64, device=x.device)
        sums = self.reducer(torch.cat([wide.sum(dims), (wide * wide).sum(dims), count]))  # type: ignore[misc]
        channels = x.shape[1]
        mean = sums[:channels] / sums[-1]
        var = (sums[channels:2 * channels] / sums[-1] - mean * mean).clamp_min(0.0)
        with torch.no_grad():
            self._update_moving_averages(mean, var)
        shape = [1, -1] + [1] * (x.dim() - 2)
        return self._scale_shift((x - mean.to(x.dtype).view(shape)) * torch.rsqrt(var.to(x.dtype) + self.epsilon)
                                 .view(shape))

    def _update_moving_averages(self, mean: torch.Tensor, var: torch.Tensor) -> None:
        keep = self.momentum
        self.running_mean.mul_(keep).add_(mean.to(self.running_mean.dtype), alpha=1.0 - keep)
        self.running_var.mul_(keep).add_(var.to(self.running_var.dtype), alpha=1.0 - keep)

    def _scale_shift(self, normalized: torch.Tensor) -> torch.Tensor:
        shape = [1, -1] + [1] * (normalized.dim() - 2)
        if self.weight is not None:
            normalized = normalized * self.weight.view(shape)
        if self.bias is not None:
            normalized = normalized + self.bias.view(shape)
        return normalized

    def extra_repr(self) -> str:
        frozen = ", frozen" if self.frozen else ""
        return (f"{self.features}, momentum={self.momentum:g}, epsilon={self.epsilon:g}, "
                f"center={self.bias is not None}, scale={self.weight is not None}{frozen}")
