"""training.precision: the training step's forward pass and loss in bfloat16 (autocast), weights in float32.

`bf16`: the forward pass runs under `torch.autocast(device, torch.bfloat16)`, so matmuls (and on a GPU
other autocast-listed ops) compute in bfloat16 with float32 accumulation; the output is cast back to
float32 before the loss, as autocast itself does for losses. Parameters, gradients, optimizer state
(momentum, Adam's moments), penalties, clipping, checkpoints, evaluation, prediction and export stay in
float32: only the training forward pass (and through autograd its backward) is lowered. bfloat16 has
float32's exponent range, so unlike float16 it needs no loss scaling; float16 is not offered (it would
need a GradScaler and its state in checkpoints; every GPU with fast float16 since Ampere has bf16).
Resume is exact as in float32: autocast adds no state. Default: float32.

Measured on this project's 2-core CPU (docs/performance.md, `benchmarks/epoch_speed.py --precision bf16`):
see there whether it pays; it is meant for GPUs and CPUs with AVX-512 BF16 / AMX.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from dnnconf.errors import ConfigError

DTYPES = {"bf16": torch.bfloat16}


def check_precision(precision: str, device: torch.device, parallel_seeds: int = 1) -> None:
    """Refuse what bf16 cannot do here, with one line (called before the run folder is made)."""
    if precision == "float32":
        return
    if parallel_seeds > 1:
        raise ConfigError(f"training.precision: {precision} is not available with training.parallel_seeds: "
                          f"{parallel_seeds} (its batched layers have no autocast form); use float32")
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"training.precision: {precision} runs on cpu or cuda, not {device.type}; use float32")


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU computes bfloat16 matmuls natively (AVX-512 BF16 or AMX) rather than emulated."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def mixed_forward(forward: Callable[[torch.Tensor], torch.Tensor], device: torch.device, precision: str
                  ) -> Callable[[torch.Tensor], torch.Tensor]:
    """`forward` under autocast to `precision`, its output back in float32 for the loss and the metric."""
    dtype = DTYPES[precision]

    def lowered(x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device.type, dtype=dtype):
            output = forward(x)
        return output.float()

    return lowered
