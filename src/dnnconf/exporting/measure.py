"""Measurements for `dnnconf export`: parameter counts, stored sizes (plain and zlib-compressed), logits,
and latency per example (the median of repeated timings after warm-up).
"""

from __future__ import annotations

import io
import math
import os
import statistics
import time
import zlib
from collections.abc import Callable
from typing import Any

import torch
from safetensors.torch import save


def parameter_counts(network: torch.nn.Module) -> tuple[int, int]:
    """(parameters, non-zero parameters) of a float network."""
    params = list(network.parameters())
    return sum(p.numel() for p in params), sum(int(torch.count_nonzero(p)) for p in params)


def serialized(model: torch.nn.Module) -> bytes:
    """The model's weights as stored: safetensors for float models; torch.save for quantized ones (their
    packed int8 weights, as held in memory)."""
    state = model.state_dict()
    if all(isinstance(v, torch.Tensor) and not v.is_quantized for v in state.values()):
        return save({k: v.detach().cpu().contiguous() for k, v in state.items()})
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def sizes(model: torch.nn.Module) -> tuple[int, int]:
    """(bytes of the stored weights, bytes zlib-compressed: what zeroed weights save in a zipped download)."""
    data = serialized(model)
    return len(data), len(zlib.compress(data, 6))


def time_per_example(call: Callable[[], Any], batch: int, repeats: int = 15, target_s: float = 0.002,
                     warmup: int = 3) -> float:
    """Seconds per example: the median of `repeats` timings, each of enough calls to last ~target_s,
    after `warmup` calls."""
    for _ in range(warmup):
        call()
    started = time.perf_counter()
    call()
    once = max(time.perf_counter() - started, 1e-7)
    inner = max(1, min(1000, int(target_s / once)))
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(inner):
            call()
        times.append((time.perf_counter() - started) / inner)
    return statistics.median(times) / batch


def batch_of(x: torch.Tensor, size: int) -> torch.Tensor:
    if len(x) >= size:
        return x[:size].contiguous()
    return x.repeat((math.ceil(size / len(x)),) + (1,) * (x.dim() - 1))[:size].contiguous()


def torch_latency(model: torch.nn.Module, x: torch.Tensor, batches: tuple[int, ...] = (1, 256),
                  repeats: int = 15, target_s: float = 0.002) -> dict[int, float]:
    """Seconds per example of `model` at each batch size (inference mode, eval)."""
    model.eval()
    out = {}
    with torch.inference_mode():
        for batch in batches:
            xb = batch_of(x, batch)
            out[batch] = time_per_example(lambda xb=xb: model(xb), batch, repeats, target_s)
    return out


def machine_threads() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def logits(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
    model.eval()
    with torch.inference_mode():
        return torch.cat([model(x[i:i + batch_size]).float() for i in range(0, len(x), batch_size)])
