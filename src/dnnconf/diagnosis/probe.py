"""The probe of `dnnconf diagnose`: the network's layers as groups (`layer_groups`) and `Probe`, which
measures one probe step and leaves everything as it found it.

The probe (note, section 一: vanishing and exploding gradients)
----------------------------------------------------------------
The network is built as training would build it (same seed, same init stream, same batch order) and
B probe batches — the first B training batches of the first epoch — go forward and backward in
training mode (dropout on, batch norm on batch statistics) with no update. For every layer (each
dense/conv module together with the modules that follow it up to the next one) the probe records:

- `act_mean`, `act_std`: mean and standard deviation of the layer's activation output (the
  activation module; a linear layer's dense or batch-norm output; the output layer's logits), pooled
  over the examples and units of all probe batches;
- `dead_share` (ReLU family only): share of units whose output is exactly zero for every example
  of the probe;
- `saturated_share` (tanh, sigmoid only): share of outputs in the flat parts, tanh |a| > 0.99
  (`TANH_SATURATED`), sigmoid a < 0.01 or a > 0.99 (`SIGMOID_SATURATED`), averaged over examples
  and units;
- `weight_grad_norm`: ‖∂J/∂W‖ of the layer's kernel (J the training objective, penalties included),
  the mean over the probe batches, before any clipping;
- `output_grad_norm`: ‖∂J/∂a‖ of the activation output (`retain_grad`), the mean over the batches;
- `update_ratio`: ‖ΔW‖/‖W‖ of one optimizer step on the mean gradient of the probe batches, with the
  configured optimizer, learning rate, clipping and max-norm. The weights, batch-norm statistics,
  optimizer state and torch's global RNG are restored afterwards: a probe changes nothing.

With `train_steps=N` the same probe runs again every `probe_every` steps (default N/8) along a short
training run (the project's `Loop`, on a copy when a network is passed in), which gives the
per-probe-step matrices (layers × probe steps) drawn as heatmaps.
"""

from __future__ import annotations

import copy
import math
import re
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from dnnconf.diagnosis.thresholds import SIGMOID_SATURATED, TANH_SATURATED
from dnnconf.errors import ConfigError
from dnnconf.nn.activations import ACTIVATIONS, is_relu_family
from dnnconf.nn.constraints import apply_constraints
from dnnconf.nn.regularizers import total_penalty
from dnnconf.train.losses import loss_function

# --- the probe ---

_ACTIVATION_CLASSES: dict[type, str] = {
    nn.ReLU: "relu", nn.LeakyReLU: "leaky_relu", nn.PReLU: "prelu", nn.ELU: "elu", nn.SELU: "selu",
    nn.GELU: "gelu", nn.SiLU: "swish", nn.Mish: "mish", nn.Tanh: "tanh", nn.Sigmoid: "sigmoid",
    nn.Softplus: "softplus", nn.Softmax: "softmax", nn.Identity: "linear",
}
_WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


@dataclass
class _Group:
    name: str  # the dense/conv module's name
    weighted: nn.Module
    watched: nn.Module  # whose output is "the activation"
    activation: str
    role: str  # "hidden" or "output"
    units: int


def _kind(name: str) -> str:
    """A `Network` module's kind from its name: `leaky_relu_3` → `leaky_relu`."""
    return re.sub(r"_\d+$", "", name)


def _activation_of(name: str, module: nn.Module) -> str | None:
    """The activation's registry name when `module` is an activation, else None."""
    if _kind(name) in ACTIVATIONS:
        return _kind(name)
    for cls, known in _ACTIVATION_CLASSES.items():
        if type(module) is cls:
            return known
    return "swish" if type(module).__name__ == "Swish" else None


def is_batch_norm(name: str, module: nn.Module) -> bool:
    return isinstance(module, nn.modules.batchnorm._BatchNorm) or type(module).__name__ == "BatchNorm" or (
        _kind(name) == "batch_norm")


def layer_groups(network: nn.Module) -> list[_Group]:
    """Each dense/conv module with the modules after it up to the next one; the last group is the output.

    A group's activation is its activation module (after batch norm, before dropout or pooling); without
    one, the group's last dense/conv/batch-norm output stands for it (a linear layer).
    """
    layers = getattr(network, "layers", network)
    children = list(layers.named_children())
    starts = [i for i, (_, m) in enumerate(children) if isinstance(m, _WEIGHTED)]
    groups = []
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else len(children)
        name, weighted = children[start]
        members = children[start:end]
        output = k == len(starts) - 1
        act = next(((n, m, a) for n, m in members[1:] if (a := _activation_of(n, m)) is not None), None)
        if output:
            watched, activation = weighted, getattr(network, "head", "linear")
        elif act is not None:
            watched, activation = act[1], act[2]
        else:
            kept = [m for n, m in members if m is weighted or is_batch_norm(n, m)]
            watched, activation = kept[-1], "linear"
        units = weighted.out_features if isinstance(weighted, nn.Linear) else weighted.out_channels
        groups.append(_Group(name, weighted, watched, activation, "output" if output else "hidden", units))
    return groups


@contextmanager
def _rng_kept(device: torch.device):
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        yield


class _Tally:
    """The probe's running sums over the batches, one slot per layer group: activation moments, saturated
    outputs, units ever non-zero, weight and output gradient norms, the loss."""

    def __init__(self, n: int, device: torch.device) -> None:
        f64 = dict(device=device, dtype=torch.float64)
        self.sums, self.squares, self.counts = torch.zeros(n, **f64), torch.zeros(n, **f64), torch.zeros(n, **f64)
        self.saturated = torch.zeros(n, **f64)
        self.alive: list[torch.Tensor | None] = [None] * n
        self.outputs: list[torch.Tensor | None] = [None] * n
        self.weight_norms, self.output_norms = torch.zeros(n, **f64), torch.zeros(n, **f64)
        self.loss_total = torch.zeros((), **f64)

    def hook(self, index: int, activation: str):
        """A forward hook that adds a group's outputs to the sums and keeps them for their gradient."""
        def record(module: nn.Module, inputs: Any, out: torch.Tensor) -> None:
            with torch.no_grad():
                a = out.detach()
                self.sums[index] += a.sum(dtype=torch.float64)
                self.squares[index] += a.double().square().sum()
                self.counts[index] += a.numel()
                if is_relu_family(activation):
                    units = a.transpose(0, 1).reshape(a.shape[1], -1) if a.dim() > 1 else a.reshape(1, -1)
                    nonzero = (units != 0).any(dim=1)
                    self.alive[index] = nonzero if self.alive[index] is None else self.alive[index] | nonzero
                elif activation == "tanh":
                    self.saturated[index] += (a.abs() > TANH_SATURATED).sum()
                elif activation == "sigmoid":
                    low, high = SIGMOID_SATURATED
                    self.saturated[index] += ((a < low) | (a > high)).sum()
            if out.requires_grad:
                out.retain_grad()
                self.outputs[index] = out
        return record

    def add_gradients(self, groups: list[_Group]) -> None:
        """After a backward pass: each group's weight gradient norm (NaN without one) and output gradient norm."""
        weights = [g.weighted.weight.grad for g in groups]
        present = [i for i, w in enumerate(weights) if w is not None]
        if present:
            norms = torch._foreach_norm([weights[i] for i in present])
            self.weight_norms[present] += torch.stack(norms).double()
        missing = [i for i in range(len(groups)) if weights[i] is None]
        if missing:
            self.weight_norms[missing] = math.nan
        for i, o in enumerate(self.outputs):
            grad = o.grad if o is not None else None
            self.output_norms[i] += torch.linalg.vector_norm(grad).double() if grad is not None else math.nan

    def rows(self, groups: list[_Group], ratios: torch.Tensor, batches: int
             ) -> tuple[list[dict[str, float | None]], float]:
        """One row of measurements per group (means over the `batches`) and the mean loss."""
        mean = self.sums / self.counts
        std = (self.squares / self.counts - mean.square()).clamp_min(0).sqrt()
        host = torch.stack([mean, std, self.saturated / self.counts, self.weight_norms / batches,
                            self.output_norms / batches, ratios.double()]).cpu().numpy()
        dead = [None if a is None else float(1 - a.float().mean()) for a in self.alive]
        rows = []
        for i, g in enumerate(groups):
            hidden = g.role == "hidden"
            rows.append({
                "act_mean": float(host[0, i]), "act_std": float(host[1, i]),
                "dead_share": dead[i] if hidden and is_relu_family(g.activation) else None,
                "saturated_share": float(host[2, i]) if hidden and g.activation in ("tanh", "sigmoid") else None,
                "weight_grad_norm": float(host[3, i]), "output_grad_norm": float(host[4, i]),
                "update_ratio": float(host[5, i]),
            })
        return rows, float(self.loss_total.item() / batches)


class Probe:
    """Measures one probe step; leaves the network, its buffers and the optimizer as it found them."""

    def __init__(self, network: nn.Module, batches: list[tuple[torch.Tensor, torch.Tensor]], loss: str,
                 optimizer: torch.optim.Optimizer, clipping: Any):
        self.network, self.batches, self.optimizer, self.clipping = network, batches, optimizer, clipping
        self.loss_fn = loss_function(loss)
        self.groups = layer_groups(network)
        if not self.groups:
            raise ConfigError("diagnose: the network has no dense or conv layer to probe")
        self.device = next(network.parameters()).device

    def measure(self) -> tuple[list[dict[str, float | None]], float]:
        with _rng_kept(self.device):
            return self._measure()

    def _measure(self) -> tuple[list[dict[str, float | None]], float]:
        """One pass over the probe batches in training mode (gradients, batch statistics); the weights and
        batch-norm statistics are put back afterwards."""
        network, groups = self.network, self.groups
        saved = {k: v.detach().clone() for k, v in network.state_dict().items()}
        was_training = network.training
        network.train()
        tally = _Tally(len(groups), self.device)
        params = [p for p in network.parameters() if p.requires_grad]
        mean_grads = [torch.zeros_like(p) for p in params]
        handles = [g.watched.register_forward_hook(tally.hook(i, g.activation if g.role == "hidden" else "linear"))
                   for i, g in enumerate(groups)]
        try:
            for x, y in self.batches:
                for p in params:
                    p.grad = None
                tally.outputs[:] = [None] * len(groups)
                out = network(x)
                loss = self.loss_fn(out, y)
                penalty = total_penalty(getattr(network, "penalties", []))
                objective = loss + penalty if penalty is not None else loss
                objective.backward()
                tally.loss_total += objective.detach().double()
                with torch.no_grad():
                    tally.add_gradients(groups)
                    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
                    torch._foreach_add_(mean_grads, grads, alpha=1.0 / len(self.batches))
            tally.outputs[:] = [None] * len(groups)
        finally:
            for handle in handles:
                handle.remove()
        ratios = self._update_ratios(params, mean_grads, apply_constraints)
        network.load_state_dict(saved)
        network.train(was_training)
        return tally.rows(groups, ratios, len(self.batches))

    def _update_ratios(self, params: list[torch.Tensor], mean_grads: list[torch.Tensor],
                       apply_constraints: Any) -> torch.Tensor:
        """‖ΔW‖/‖W‖ of one optimizer step on the mean probe gradient; the optimizer state is restored."""
        network, optimizer = self.network, self.optimizer
        kernels = [g.weighted.weight for g in self.groups]
        before = [w.detach().clone() for w in kernels]
        state = copy.deepcopy(optimizer.state_dict())
        for p, g in zip(params, mean_grads, strict=True):
            p.grad = g
        grads = [p.grad for p in params]
        if self.clipping is not None:
            self.clipping(grads)
        optimizer.step()
        if getattr(network, "constraints", None):
            apply_constraints(network.constraints)
        with torch.no_grad():
            deltas = torch._foreach_sub([w.detach() for w in kernels], before)
            ratios = torch.stack(torch._foreach_norm(deltas)) / torch.stack(torch._foreach_norm(before))
        optimizer.load_state_dict(state)
        for p in params:
            p.grad = None
        return ratios
