"""Pruning for `dnnconf export`: small kernel weights set to zero (a sparse model), and the sparsity reached.

Pruning (`prune`): `threshold=T` zeroes exactly the kernel weights with |w| < T; `sparsity=S` zeroes the
round(S·n) smallest-magnitude weights of each kernel (ties broken by position); biases are untouched.
"""

from __future__ import annotations

import copy
import math

import torch

from dnnconf.errors import BadInput
from dnnconf.exporting.fold import KERNELS


def prune(network: torch.nn.Module, threshold: float | None = None, sparsity: float | None = None) -> torch.nn.Module:
    """A copy with small kernel weights set to zero: |w| < threshold, or the `sparsity` share of each
    kernel's smallest-magnitude weights (biases untouched). Exactly one of the two."""
    if (threshold is None) == (sparsity is None):
        raise BadInput("prune: give either a threshold or a sparsity")
    check_prune(threshold, sparsity)
    copied = copy.deepcopy(network)
    with torch.no_grad():
        for module in copied.modules():
            if not isinstance(module, KERNELS):
                continue
            weight = module.weight
            if threshold is not None:
                weight.masked_fill_(weight.abs() < threshold, 0.0)
                continue
            count = round(sparsity * weight.numel())
            if count:
                order = torch.argsort(weight.detach().abs().flatten(), stable=True)
                weight.view(-1)[order[:count]] = 0.0
    return copied


def check_prune(threshold: float | None, sparsity: float | None) -> None:
    if threshold is not None and sparsity is not None:
        raise BadInput("--prune and --sparsity: give one of them, not both")
    if threshold is not None and (not math.isfinite(threshold) or threshold <= 0):
        raise BadInput(f"--prune {threshold}: the threshold must be a positive number (weights with |w| below "
                       f"it become 0), e.g. 0.01")
    if sparsity is not None and not (0 <= sparsity < 1):
        raise BadInput(f"--sparsity {sparsity}: must be in [0, 1), the share of each kernel's weights set to 0, "
                       f"e.g. 0.5")


def kernel_sparsity(network: torch.nn.Module) -> dict[str, float]:
    """The share of zero weights of each dense/conv kernel, by module name, and `total` over all of them."""
    out: dict[str, float] = {}
    zeros = total = 0
    for name, module in network.named_modules():
        if isinstance(module, KERNELS):
            n, z = module.weight.numel(), int((module.weight == 0).sum())
            out[name.removeprefix("layers.")] = z / n
            zeros, total = zeros + z, total + n
    out["total"] = zeros / total if total else 0.0
    return out
