"""K networks of one architecture as one: every parameter and buffer stacked on a leading member axis.

`StackedNetwork` holds member k's copy of each tensor of a `Network`'s state dict at index k
(`[K, *shape]`, under the same name) and runs all K forward passes as one batched computation on
inputs `[K, B, …]` (member k sees its own batch):
- dense: y = x·Wᵀ + b as one `torch.baddbmm` over the members ([K, B, in] × [K, in, out]), the kernels
  stacked as torch's Linear keeps them, [K, out, in], and their gradient computed as gᵀ·x straight into
  that layout (`StackedLinear`; autograd's own comes out transposed and costs a copy every step). Timed
  step by step on 2 cores against kernels kept as [K, in, out] and against autograd on [K, out, in], it
  was the fastest or level at batch 32 and 128, with 1 and 2 threads;
- batch_norm: each member's own batch mean and biased variance, per feature (the batch of member k is
  normalized with member k's statistics; the moving averages are per member, with Keras's momentum);
- dropout / alpha_dropout: member k's mask comes from member k's own generator, drawn exactly as
  PyTorch's CPU dropout draws a solo run's mask from the global RNG (`empty_like(x).bernoulli_(1 − p)`),
  so a member seeded like a solo run drops the same units at the same steps;
- flatten and parameterless activations act on each example as they would alone.
Penalties (l1/l2) and max-norm constraints work per member too (`member_penalties`, `apply_max_norm`).

Batched matmuls rather than torch.func's vmap over `functional_call`: timed step by step on the note's
MLP (K = 8, `benchmarks/parallel_seeds.py --steps`, docs/performance.md) on this project's busy 2-core
machine, neither was consistently faster; the stacked form was kept because it makes each member's
dropout masks and batch statistics explicit (a member draws the solo run's masks from its own generator,
which vmap's randomness modes cannot give) and keeps the step in plain tensors the optimizer can update.
Layers without a batched form here (conv2d, pooling, prelu, a trainable swish,
mc_dropout) are refused by `unsupported_layer` with one config error, never run wrongly.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from dnnconf.nn.batch_norm import BatchNorm
from dnnconf.nn.build import Network
from dnnconf.nn.constraints import KERAS_EPSILON
from dnnconf.nn.feature_maps import ToChannelsFirst
from dnnconf.nn.layers import MCDropout

SELU_ALPHA = 1.7580993408473766  # λα of SELU: alpha dropout sends dropped units to −λα (torch's constant)


def unsupported_layer(network: Network) -> str | None:
    """The name of the first module `StackedNetwork` cannot batch (e.g. conv2d_1), or None."""
    for name, module in network.layers.named_children():
        if isinstance(module, torch.nn.Linear | BatchNorm | torch.nn.Flatten | ToChannelsFirst):  # the last: only
            # ever before a conv or pooling layer, which names the problem better
            continue
        if isinstance(module, torch.nn.Dropout | torch.nn.AlphaDropout) and not isinstance(module, MCDropout):
            continue
        if any(True for _ in module.parameters()) or any(True for _ in module.buffers()):
            return name
        if type(module).__module__.startswith("dnnconf.nn.layers"):  # conv, pooling, channels-first
            return name
    return None


class StackedNetwork:
    """The stacked tensors of K member networks and their batched forward pass (module docstring)."""

    def __init__(self, members: list[Network], dropout_generators: list[torch.Generator]):
        self.template = members[0]
        self.size = len(members)
        states = [member.state_dict() for member in members]
        trainable = {name for name, p in self.template.named_parameters() if p.requires_grad}
        self.tensors: dict[str, torch.Tensor] = {}
        for name in states[0]:
            stacked = torch.stack([state[name].detach() for state in states]).contiguous()
            self.tensors[name] = stacked.requires_grad_(name in trainable)
        self._parameters = [t for name, t in self.tensors.items() if name in trainable]
        self.generators = dropout_generators
        self.training = True
        self.names = {id(p): name for name, p in self.template.named_parameters()}

    def parameters(self) -> list[torch.Tensor]:
        """The stacked trainable tensors (leaves with gradients), in the template's parameter order."""
        return self._parameters

    def train(self, mode: bool = True) -> StackedNetwork:
        self.training = mode
        return self

    def eval(self) -> StackedNetwork:
        return self.train(False)

    def member_state(self, k: int) -> dict[str, torch.Tensor]:
        """Member k's state dict (views into the stacked tensors)."""
        return {name: tensor[k].detach() for name, tensor in self.tensors.items()}

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Every stacked tensor under its members' state-dict name ([K, …]; dense kernels [K, out, in]), what a
        checkpoint keeps."""
        return {name: tensor.detach() for name, tensor in self.tensors.items()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Copy `state` (as `state_dict` gives it) into the stacked tensors; KeyError or RuntimeError when its
        names or shapes differ."""
        if state.keys() != self.tensors.keys():
            unexpected, missing = sorted(state.keys() - self.tensors.keys()), sorted(self.tensors.keys() - state.keys())
            raise KeyError(f"missing {missing[:3]}, unexpected {unexpected[:3]}")
        for name, tensor in self.tensors.items():  # copy_ would broadcast a [1, …] tensor to every member
            if state[name].shape != tensor.shape:
                raise RuntimeError(f"{name}: shape {list(state[name].shape)}, this network's is {list(tensor.shape)}")
        with torch.no_grad():
            for name, tensor in self.tensors.items():
                tensor.copy_(state[name])

    def load_member_state(self, k: int, state: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            for name, tensor in self.tensors.items():
                tensor[k].copy_(state[name])

    def __call__(self, x: torch.Tensor, shared: bool = False) -> torch.Tensor:
        """Logits [K, B, out] of member k on x[k] (raw inputs); `shared`: x is one batch [B, …] that every
        member sees."""
        x = self._normalize(x, shared)
        for name, module in self.template.layers.named_children():
            prefix = f"layers.{name}."
            if isinstance(module, torch.nn.Flatten):
                x = x.reshape(x.shape[0], -1) if shared else x.reshape(x.shape[0], x.shape[1], -1)
            elif isinstance(module, torch.nn.Linear):
                x = self._dense(x, prefix, shared)
                shared = False
            elif isinstance(module, torch.nn.Dropout | torch.nn.AlphaDropout):
                if self.training and module.p > 0:
                    x = self._dropout(x, module.p, isinstance(module, torch.nn.AlphaDropout))
            else:
                if shared:
                    x, shared = x.expand(self.size, *x.shape), False
                x = self._batch_norm(x, module, prefix) if isinstance(module, BatchNorm) else module(x)
        return x.expand(self.size, *x.shape) if shared else x

    def _normalize(self, x: torch.Tensor, shared: bool) -> torch.Tensor:
        """The members' input normalization (the `normalization` layer of a `Network`). The members are
        adapted on the one training split they share, so member 0's statistics are every member's; applied
        with the solo layer's very shapes, the rounding is the solo run's too (torch divides by a
        one-element tensor as a multiplication by its reciprocal, by a [K, …] one exactly)."""
        shift, scale = self.tensors.get("normalization.shift"), self.tensors.get("normalization.scale")
        if shift is None or scale is None:
            return x
        return (x - shift[0]) / scale[0]

    def _dense(self, x: torch.Tensor, prefix: str, shared: bool) -> torch.Tensor:
        weight, bias = self.tensors[prefix + "weight"], self.tensors.get(prefix + "bias")  # weight: [K, out, in]
        if shared:  # one GEMM against every member's kernel side by side: [B, in] × [in, K·out]
            out = weight.shape[1]
            y = (x @ weight.reshape(self.size * out, -1).T).view(x.shape[0], self.size, out).transpose(0, 1)
            return y + bias.unsqueeze(1) if bias is not None else y
        return StackedLinear.apply(x, weight, bias)

    def _dropout(self, x: torch.Tensor, p: float, alpha: bool) -> torch.Tensor:
        noise = torch.stack([torch.empty(x.shape[1:], dtype=x.dtype).bernoulli_(1 - p, generator=generator)
                             for generator in self.generators]).to(x.device)
        if not alpha:
            return x * noise.div_(1 - p)
        # torch's CPU alpha_dropout, step for step: a = ((λα)²p + 1)(1 − p))^−½, b = (m − 1)·λα·a + λα·a·p,
        # y = x·(m·a) + b
        a = 1.0 / ((SELU_ALPHA**2 * p + 1) * (1 - p)) ** 0.5
        b = noise.add(-1).mul_(SELU_ALPHA * a).add_(SELU_ALPHA * a * p)
        return x * noise.mul_(a) + b

    def _batch_norm(self, x: torch.Tensor, module: BatchNorm, prefix: str) -> torch.Tensor:
        weight, bias = self.tensors.get(prefix + "weight"), self.tensors.get(prefix + "bias")
        mean_name, var_name = prefix + "running_mean", prefix + "running_var"
        if self.training:
            with torch.no_grad():
                var, mean = torch.var_mean(x, dim=1, correction=0)
                keep = module.momentum
                self.tensors[mean_name].mul_(keep).add_(mean, alpha=1.0 - keep)
                self.tensors[var_name].mul_(keep).add_(var, alpha=1.0 - keep)
            if x.shape[1] > 1:  # PyTorch's kernel on [B, K·F]: each member's features are separate features
                members, batch, features = x.shape
                flat = x.transpose(0, 1).reshape(batch, members * features)
                y = F.batch_norm(flat, None, None, None if weight is None else weight.reshape(-1),
                                 None if bias is None else bias.reshape(-1), True, 0.0, module.epsilon)
                return y.view(batch, members, features).transpose(0, 1)
            centered = x - x.mean(dim=1, keepdim=True)  # one example: variance 0, y = β (as Keras)
            y = centered * torch.rsqrt(centered.square().mean(dim=1, keepdim=True) + module.epsilon)
        else:
            mean, var = self.tensors[mean_name].unsqueeze(1), self.tensors[var_name].unsqueeze(1)
            y = (x - mean) * torch.rsqrt(var + module.epsilon)
        if weight is not None:
            y = y * weight.unsqueeze(1)
        if bias is not None:
            y = y + bias.unsqueeze(1)
        return y

    def member_penalties(self) -> torch.Tensor | None:
        """Each member's l1/l2 penalty, [K] (Σ over its regularized kernels), or None when none is set."""
        total = None
        for penalty in self.template.penalties:
            w = self.tensors[self.names[id(penalty.weight)]]
            dims = tuple(range(1, w.dim()))
            term = w.new_zeros(self.size)
            if penalty.l1:
                term = term + penalty.l1 * w.abs().sum(dim=dims)
            if penalty.l2:
                term = term + penalty.l2 * (w * w).sum(dim=dims)
            total = term if total is None else total + term
        return total

    @torch.no_grad()
    def apply_max_norm(self) -> None:
        """Keras's max-norm on each member's kernels: every neuron's incoming vector to ‖w‖ ≤ r."""
        for constraint in self.template.constraints:
            w = self.tensors[self.names[id(constraint.weight)]]
            norms = torch.linalg.vector_norm(w, dim=tuple(range(2, w.dim())), keepdim=True)
            w.mul_(norms.clamp(max=constraint.max_value) / (norms + KERAS_EPSILON))


class StackedLinear(torch.autograd.Function):
    """y = x·Wᵀ + b per member: x [K, B, in], W [K, out, in], b [K, out] or None → y [K, B, out].

    Backward: ∂x = g·W, ∂W = gᵀ·x (contiguous [K, out, in], the parameter's own layout), ∂b = Σ_B g.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        if bias is None:
            return torch.bmm(x, weight.transpose(1, 2))
        return torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        grad_x = torch.bmm(grad, weight) if ctx.needs_input_grad[0] else None
        grad_weight = torch.bmm(grad.transpose(1, 2), x) if ctx.needs_input_grad[1] else None
        grad_bias = grad.sum(dim=1) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return grad_x, grad_weight, grad_bias
