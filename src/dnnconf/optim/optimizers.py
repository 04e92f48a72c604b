"""Optimizers with Keras 3's parameter names, defaults and update rules.

Every name, default and formula below is Keras 3's (keras/src/optimizers/*.py, the torch backend's
keras/src/backend/torch/optimizers/*.py, and base_optimizer.py for weight decay); the tests compare
50 steps of each optimizer with Keras's own. With gradient g, learning rate η (read from the param
group at every step, so schedules may change it), and t the step count starting at 1:

- sgd (η 0.01, momentum β 0.0, nesterov false): θ ← θ − ηg; with momentum: m ← βm − ηg, θ ← θ + m;
  with nesterov: m ← βm − ηg, θ ← θ + βm − ηg. Keras's velocity m includes η, so a schedule that
  changes η between steps changes only the new gradient's share (torch.optim.SGD's velocity is Σg and
  rescales the whole history instead).
- momentum, nesterov: the note's names for "momentum optimization" and "Nesterov accelerated gradient"
  (§3), presets of sgd with the note's momentum β 0.9 (η 0.01): `{name: momentum}` resolves to
  `{name: sgd, momentum: 0.9, nesterov: false}`, `{name: nesterov}` to the same with nesterov true.
  Keras has no such classes; the note builds both as `SGD(learning_rate=0.001, momentum=0.9[, nesterov=True])`.
- adagrad (η 0.001, initial_accumulator_value 0.1, ε 1e-7): s ← s + g², θ ← θ − ηg/√(s + ε).
- rmsprop (η 0.001, rho ρ 0.9, momentum β 0.0, ε 1e-7, centered false): s ← ρs + (1−ρ)g²; centered:
  ḡ ← ρḡ + (1−ρ)g and the denominator is √(s − ḡ² + ε), else √(s + ε); Δ = ηg/denominator; with
  momentum: m ← βm + Δ, θ ← θ − m; else θ ← θ − Δ.
- adam (η 0.001, beta_1 β₁ 0.9, beta_2 β₂ 0.999, ε 1e-7, amsgrad false): m ← β₁m + (1−β₁)g,
  v ← β₂v + (1−β₂)g², α = η·√(1−β₂ᵗ)/(1−β₁ᵗ), θ ← θ − α·m/(√v + ε) (ε is added to the uncorrected
  √v, not to the bias-corrected one as torch.optim does); amsgrad: v̂ ← max(v̂, v) replaces v.
- adamax (η 0.001, β₁ 0.9, β₂ 0.999, ε 1e-7): m ← β₁m + (1−β₁)g, u ← max(β₂u, |g|),
  θ ← θ − η·m/((1−β₁ᵗ)(u + ε)).
- nadam (η 0.001, β₁ 0.9, β₂ 0.999, ε 1e-7): Keras's momentum cache μₜ = β₁(1 − ½·0.96ᵗ) (Keras 3
  uses 0.96ᵗ; the paper and tf.keras 2 used 0.96^(0.004t)) and its running product Πₜ = μ₁…μₜ;
  m, v as in adam; m̂ = μₜ₊₁m/(1 − Πₜμₜ₊₁) + (1−μₜ)g/(1 − Πₜ), v̂ = v/(1−β₂ᵗ),
  θ ← θ − η·m̂/(√v̂ + ε).
- adamw (adam's parameters plus weight_decay λ 0.004): adam with decoupled weight decay.
- weight_decay λ (every optimizer; default null except adamw): before the update, θ ← θ − θ·λ·η, with
  the current η, as Keras's base optimizer applies it (to every parameter that has a gradient).

The step count t is Keras's optimizer-wide `iterations`, kept per param group (`group["step"]`, with
nadam's Πₜ in `group["u_product"]`), so a state_dict round trip continues bit for bit. The state
tensors are Keras's (momentum, velocity, …; adagrad's holds s + ε), whichever path below computed
them. The training loop may write `group["lr"]`, `group["momentum"]` (sgd, rmsprop) and
`group["betas"] = (β₁, β₂)` (adam family) between steps; the next step uses them.

Each step runs multi-tensor `torch._foreach_*` ops over all the parameters of a group. Where torch has
a fused CPU kernel that computes the same rule after a change of its arguments, and every parameter
allows it (`fused=True`, the default; dense, contiguous float32/float64 CPU tensors), that kernel runs
instead, a single pass over memory where the foreach ops take 3 to 7:
- adagrad: the state holds s + ε rather than s; torch's Adagrad kernel with ε' = 0 then computes
  θ ← θ − ηg/√(s + ε).
- adam/adamw: torch's AdamW kernel computes θ ← θ(1 − ηλ) − (η/(1−β₁ᵗ))·m/(√v/√(1−β₂ᵗ) + ε');
  with ε' = ε/√(1−β₂ᵗ) this is Keras's θ ← θ(1 − ηλ) − α·m/(√v + ε) (m, v, v̂ are the same tensors).
- sgd with momentum: torch's SGD kernel computes b ← μb + (1−d)g, θ ← θ − lr·b; with μ = β,
  d = 1 + η and lr = −1 it is Keras's m ← βm − ηg, θ ← θ + m, whatever η was at earlier steps (b is
  Keras's m). Nesterov: torch's Nesterov kernel (b ← βb + g, θ ← θ − η(g + βb)) is Keras's rule with
  m = −ηb while η stays the same, so the buffer is kept in that form, its η in `state["velocity_lr"]`,
  and rescaled (b ← b·η_old/η_new) only when η changes; the other paths convert it back to m first.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any, Literal

import torch

from dnnconf.optim import optimizer_params as models
from dnnconf.optim.facts import ADAGRAD_FACTS, ADAM_FACTS, RMSPROP_FACTS, SGD_FACTS, OptimizerFacts
from dnnconf.registry import Registry

OPTIMIZERS = Registry("optimizers")

Tensors = list[torch.Tensor]


class KerasOptimizer(torch.optim.Optimizer):
    """Base: Keras's step counter and decoupled weight decay; subclasses implement `_update`.

    Like Keras, a parameter without a gradient is skipped (no decay, no state change), and the step
    count of a group advances whenever any of its parameters has a gradient.
    """

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any], fused: bool = True):
        super().__init__(params, {**defaults, "step": 0})
        self.fused = fused  # use a fused CPU kernel where the rule has one and the tensors allow it

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            grads = [p.grad for p in params]
            if any(g.is_sparse for g in grads):
                raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
            group["step"] += 1
            self._update(group, params, grads, group["step"])
        return loss

    def _update(self, group: dict[str, Any], params: Tensors, grads: Tensors, t: int) -> None:
        """One step of the rule for the parameters of `group` that have gradients (t counts from 1)."""
        raise NotImplementedError

    @staticmethod
    def _decay(group: dict[str, Any], params: Tensors) -> None:
        """Keras's decoupled weight decay, before the update: θ ← θ − θ·λ·η."""
        decay = group.get("weight_decay")
        if decay:
            torch._foreach_mul_(params, 1.0 - decay * group["lr"])

    def _fusable(self, *lists: Tensors) -> bool:
        """Whether torch's fused CPU kernels may take these tensors (one dense, contiguous CPU float dtype)."""
        if not self.fused:
            return False
        dtype = lists[0][0].dtype
        return dtype in (torch.float32, torch.float64) and all(
            t.dtype == dtype and t.device.type == "cpu" and t.layout == torch.strided and t.is_contiguous()
            for tensors in lists for t in tensors
        )

    def _buffers(self, params: Tensors, key: str, fill: float = 0.0) -> Tensors:
        """The state tensor `key` of each parameter, created (filled with `fill`) on first use."""
        out = []
        for p in params:
            state = self.state[p]
            buffer = state.get(key)
            if buffer is None:
                buffer = state[key] = torch.full_like(p, fill, memory_format=torch.preserve_format)
            out.append(buffer)
        return out


@OPTIMIZERS.register("sgd", "gradient descent: m ← βm − ηg, θ ← θ + m (nesterov: θ ← θ + βm − ηg)", models.SGDParams,
                  facts=SGD_FACTS)
class SGD(KerasOptimizer):
    def __init__(self, params: Iterable[Any], learning_rate: float = 0.01, momentum: float = 0.0,
                 nesterov: bool = False, weight_decay: float | None = None, fused: bool = True):
        super().__init__(params, {"lr": learning_rate, "momentum": momentum, "nesterov": nesterov,
                                  "weight_decay": weight_decay}, fused)

    def _update(self, group: dict[str, Any], params: Tensors, grads: Tensors, t: int) -> None:
        lr, beta = group["lr"], group["momentum"]
        self._decay(group, params)
        if beta == 0:
            torch._foreach_add_(params, grads, alpha=-lr)
            return
        m = self._buffers(params, "momentum")
        if self._fusable(params, grads, m) and group["nesterov"]:
            # torch's fused Nesterov rule b ← βb + g, θ ← θ − η(g + βb) is Keras's with m = −ηb for a fixed
            # η; the buffer is kept in that form (`velocity_lr` = its η) and rescaled only when η changes
            self._velocity_form(params, m, lr)
            torch._fused_sgd_(params, grads, m, weight_decay=0.0, momentum=beta, lr=lr, dampening=0.0,
                              nesterov=True, maximize=False, is_first_step=False)
            return
        self._velocity_form(params, m, None)
        if self._fusable(params, grads, m):
            # torch's b ← μb + (1−d)g, θ ← θ − lr·b with μ = β, d = 1 + η and lr = −1 is Keras's
            # m ← βm − ηg, θ ← θ + m, as the module docstring explains
            torch._fused_sgd_(params, grads, m, weight_decay=0.0, momentum=beta, lr=-1.0, dampening=1.0 + lr,
                              nesterov=False, maximize=False, is_first_step=False)
            return
        torch._foreach_mul_(m, beta)
        torch._foreach_add_(m, grads, alpha=-lr)
        if group["nesterov"]:
            torch._foreach_add_(params, grads, alpha=-lr)
            torch._foreach_add_(params, m, alpha=beta)
        else:
            torch._foreach_add_(params, m)

    def _velocity_form(self, params: Tensors, buffers: Tensors, lr: float | None) -> None:
        """Put each momentum buffer in torch's form b = −m/lr (lr given) or Keras's m (lr None).

        `state["velocity_lr"]` records the η of a buffer in torch's form; without it the buffer is m.
        """
        for p, buffer in zip(params, buffers, strict=True):
            state = self.state[p]
            current = state.get("velocity_lr")
            if current == lr:
                continue
            if current is not None:
                buffer.mul_(-current)  # back to m
            if lr is None:
                state.pop("velocity_lr", None)
            else:
                buffer.div_(-lr)
                state["velocity_lr"] = lr


OPTIMIZERS.preset("momentum", "momentum optimization (the note's §3): sgd with momentum 0.9, nesterov false",
                  models.MomentumParams, "sgd", {"nesterov": False})
OPTIMIZERS.preset("nesterov", "Nesterov accelerated gradient (the note's §3): sgd with momentum 0.9, nesterov true",
                  models.MomentumParams, "sgd", {"nesterov": True})


@OPTIMIZERS.register("adagrad", "per-parameter rates from the sum of squared gradients: s ← s + g², "
                     "θ ← θ − ηg/√(s + ε)", models.AdagradParams, facts=ADAGRAD_FACTS)
class Adagrad(KerasOptimizer):
    def __init__(self, params: Iterable[Any], learning_rate: float = 0.001, initial_accumulator_value: float = 0.1,
                 epsilon: float = 1e-7, weight_decay: float | None = None, fused: bool = True):
        super().__init__(params, {"lr": learning_rate, "initial_accumulator_value": initial_accumulator_value,
                                  "eps": epsilon, "weight_decay": weight_decay}, fused)

    def _update(self, group: dict[str, Any], params: Tensors, grads: Tensors, t: int) -> None:
        self._decay(group, params)
        # the state holds s + ε (starting at initial_accumulator_value + ε), so θ ← θ − ηg/√state
        s = self._buffers(params, "accumulator_plus_epsilon", group["initial_accumulator_value"] + group["eps"])
        if self._fusable(params, grads, s):
            torch._fused_adagrad_(params, grads, s, _steps(t, params), lr=group["lr"],
                                  lr_decay=0.0, weight_decay=0.0, eps=0.0, maximize=False)
            return
        torch._foreach_addcmul_(s, grads, grads)
        torch._foreach_addcmul_(params, grads, torch._foreach_rsqrt(s), value=-group["lr"])


@OPTIMIZERS.register("rmsprop", "RMSProp, a decaying mean of squared gradients: s ← ρs + (1−ρ)g², "
                     "θ ← θ − ηg/√(s + ε) (optionally centered, with momentum)", models.RMSpropParams,
                     facts=RMSPROP_FACTS)
class RMSprop(KerasOptimizer):
    def __init__(self, params: Iterable[Any], learning_rate: float = 0.001, rho: float = 0.9, momentum: float = 0.0,
                 epsilon: float = 1e-7, centered: bool = False, weight_decay: float | None = None,
                 fused: bool = True):
        super().__init__(params, {"lr": learning_rate, "rho": rho, "momentum": momentum, "eps": epsilon,
                                  "centered": centered, "weight_decay": weight_decay}, fused)

    def _update(self, group: dict[str, Any], params: Tensors, grads: Tensors, t: int) -> None:
        lr, rho, beta, eps = group["lr"], group["rho"], group["momentum"], group["eps"]
        self._decay(group, params)
        s = self._buffers(params, "velocity")
        torch._foreach_mul_(s, rho)
        torch._foreach_addcmul_(s, grads, grads, value=1 - rho)
        if group["centered"]:
            mean = self._buffers(params, "average_gradient")
            torch._foreach_lerp_(mean, grads, 1 - rho)
            scale = torch._foreach_addcmul(s, mean, mean, value=-1)
            torch._foreach_add_(scale, eps)
        else:
            scale = torch._foreach_add(s, eps)
        torch._foreach_rsqrt_(scale)  # 1/√(s + ε): the increment is η·g·scale
        if beta > 0:
            m = self._buffers(params, "momentum")
            torch._foreach_mul_(m, beta)
            torch._foreach_addcmul_(m, grads, scale, value=lr)
            torch._foreach_sub_(params, m)
        else:
            torch._foreach_addcmul_(params, grads, scale, value=-lr)


def _steps(t: int, params: Tensors) -> Tensors:
    """The step count as the fused kernels read it: one float32 CPU tensor per parameter."""
    return [torch.tensor(float(t), dtype=torch.float32)] * len(params)


def _sqrt_plus(v: Tensors, eps: float) -> Tensors:
    """√v + ε, as new tensors."""
    out = torch._foreach_sqrt(v)
    torch._foreach_add_(out, eps)
    return out


def _moments(m: Tensors, v: Tensors, grads: Tensors, beta_1: float, beta_2: float) -> None:
    """Adam's m ← β₁m + (1−β₁)g and v ← β₂v + (1−β₂)g², in place."""
    torch._foreach_lerp_(m, grads, 1 - beta_1)
    torch._foreach_mul_(v, beta_2)
    torch._foreach_addcmul_(v, grads, grads, value=1 - beta_2)


@OPTIMIZERS.register("adam", "adaptive moments: m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², "
                     "θ ← θ − η·√(1−β₂ᵗ)/(1−β₁ᵗ)·m/(√v + ε)", models.AdamParams, facts=ADAM_FACTS)
class Adam(KerasOptimizer):
    def __init__(self, params: Iterable[Any], learning_rate: float = 0.001, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-7, amsgrad: bool = False,
                 weight_decay: float | None = None, fused: bool = True):
        super().__init__(params, {"lr": learning_rate, "betas": (beta_1, beta_2), "eps": epsilon,
                                  "amsgrad": amsgrad, "weight_decay": weight_decay}, fused)

    def _update(self, group: dict[str, Any], params: Tensors, grads: Tensors, t: int) -> None:
        beta_1, beta_2 = group["betas"]
        lr, amsgrad = group["lr"], group["amsgrad"]
        m = self._buffers(params, "momentum")
        v = self._buffers(params, "velocity")
        v_max = self._buffers(params, "velocity_hat") if amsgrad else []
        if self._fusable(params, grads, m, v, v_max):
            # torch's AdamW kernel with ε' = ε/√(1−β₂ᵗ) is Keras's rule (module docstring)
            torch._fused_adamw_(params, grads, m, v, v_max, _steps(t, params), lr=lr,
                                beta1=beta_1, beta2=beta_2, weight_decay=group["weight_decay"] or 0.0,
                                eps=group["eps"] / math.sqrt(1 - beta_2**t), amsgrad=amsgrad, maximize=False)
            return
        self._decay(group, params)
        _moments(m, v, grads, beta_1, beta_2)
        if amsgrad:
            torch._foreach_maximum_(v_max, v)
            v = v_max
        alpha = lr * math.sqrt(1 - beta_2**t) / (1 - beta_1**t)
        torch._foreach_addcdiv_(params, m, _sqrt_plus(v, group["eps"]), value=-alpha)


@OPTIMIZERS.register("adamw", "Adam with decoupled weight decay: θ ← θ − ηλθ before each Adam step", models.AdamWParams,
                  facts=ADAM_FACTS)
class AdamW(Adam):
    def __init__(self, params: Iterable[Any], learning_rate: float = 0.001, weight_decay: float = 0.004,
                 beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7, amsgrad: bool = False,
                 fused: bool = True):
        super().__init__(params, learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon,
                         amsgrad=amsgrad, weight_decay=weight_decay, fused=fused)


@OPTIMIZERS.register("adamax", "Adam with the infinity norm: u ← max(β₂u, abs(g)), θ ← θ − η·m/((1−β₁ᵗ)(u + ε))",
                     models.AdamaxParams, facts=ADAM_FACTS)
class Adamax(KerasOptimizer):
    def __init__(self, params: Iterable[Any], learning_rate: float = 0.001, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-7, weight_decay: float | None = None,
                 fused: bool = True):
        super().__init__(params, {"lr": learning_rate, "betas": (beta_1, beta_2), "eps": epsilon,
                                  "weight_decay": weight_decay}, fused)

    def _update(self, group: dict[str, Any], params: Tensors, grads: Tensors, t: int) -> None:
        beta_1, beta_2 = group["betas"]
        self._decay(group, params)
        m = self._buffers(params, "momentum")
        u = self._buffers(params, "norm")
        torch._foreach_lerp_(m, grads, 1 - beta_1)
        torch._foreach_mul_(u, beta_2)
        torch._foreach_maximum_(u, torch._foreach_abs(grads))
        denominator = torch._foreach_add(u, group["eps"])
        torch._foreach_addcdiv_(params, m, denominator, value=-group["lr"] / (1 - beta_1**t))


@OPTIMIZERS.register("nadam", "Adam with Nesterov momentum, on Keras's momentum-cache schedule "
                     "μₜ = β₁(1 − ½·0.96ᵗ)", models.NadamParams, facts=ADAM_FACTS)
class Nadam(KerasOptimizer):
    def __init__(self, params: Iterable[Any], learning_rate: float = 0.001, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-7, weight_decay: float | None = None,
                 fused: bool = True):
        super().__init__(params, {"lr": learning_rate, "betas": (beta_1, beta_2), "eps": epsilon,
                                  "weight_decay": weight_decay, "u_product": 1.0}, fused)

    def _update(self, group: dict[str, Any], params: Tensors, grads: Tensors, t: int) -> None:
        beta_1, beta_2 = group["betas"]
        self._decay(group, params)
        mu_t = beta_1 * (1 - 0.5 * 0.96**t)
        mu_next = beta_1 * (1 - 0.5 * 0.96 ** (t + 1))
        product = group["u_product"] = group["u_product"] * mu_t
        m = self._buffers(params, "momentum")
        v = self._buffers(params, "velocity")
        _moments(m, v, grads, beta_1, beta_2)
        # θ ← θ − η·m̂/(√(v/c) + ε) with c = 1 − β₂ᵗ, written as η√c·m̂/(√v + ε√c)
        root_c = math.sqrt(1 - beta_2**t)
        denominator = _sqrt_plus(v, group["eps"] * root_c)
        step = group["lr"] * root_c
        torch._foreach_addcdiv_(params, m, denominator, value=-step * mu_next / (1 - product * mu_next))
        torch._foreach_addcdiv_(params, grads, denominator, value=-step * (1 - mu_t) / (1 - product))


def facts_of(optimizer: torch.optim.Optimizer) -> OptimizerFacts | None:
    """The registry's facts of an optimizer built from it (None for one that is not, e.g. torch's own)."""
    for entry in OPTIMIZERS:
        if entry.expands_to is None and type(optimizer) is entry.factory:
            return entry.facts
    return None


def momentum_key(optimizer: torch.optim.Optimizer) -> str | None:
    """The param-group key that holds the momentum a 1cycle schedule may cycle, if any.

    "betas" for the adam family (β₁ is cycled, β₂ kept), "momentum" for sgd and rmsprop when their
    momentum is on, None otherwise (adagrad; sgd and rmsprop without momentum): the registry's
    `OptimizerFacts.momentum_key`; an optimizer from elsewhere is judged by its param-group keys.
    """
    group = optimizer.param_groups[0]
    facts = facts_of(optimizer)
    key = facts.momentum_key if facts is not None else "betas" if "betas" in group else "momentum"
    if key == "momentum" and not group.get("momentum"):
        return None
    return key


RateScaling = Literal["gradient", "step", "none"]


def rate_scaling(spec: dict[str, Any]) -> RateScaling:
    """How a factor s on one member's learning rate is applied exactly in a stacked step, for a resolved
    optimizer spec (`{name, **params}`), from its `OptimizerFacts`:
    - "gradient": s·g (sgd without weight decay: m ← βm − η·(s·g) is the rule with η·s);
    - "step": θ ← θ_old + s·(θ_new − θ_old), when the step is linear in η given the state (adam family,
      adagrad; sgd and rmsprop without momentum);
    - "none": neither is exact (sgd with momentum and weight decay, rmsprop with momentum).
    """
    facts = OPTIMIZERS.get(spec["name"], "optimizer.name").facts
    if facts.gradient_scales_rate and not spec.get("weight_decay"):
        return "gradient"
    if facts.step_linear_in_rate and not (facts.momentum_holds_rate and spec.get("momentum")):
        return "step"
    return "none"
