"""MC dropout (the note's §5.4): many stochastic predictions, averaged, and what their spread says.

`mc_predict(network, x, samples)` keeps dropout on at inference (dropout, alpha_dropout and mc_dropout
layers sample a mask) while every other layer stays in inference mode: batch norm uses its moving
statistics and never updates them. That is the trap of Keras's `model(X, training=True)`, which puts
batch norm in training mode too; the note's `MCDropout` class (and `mc_model` here) avoids it.

Per example it returns the mean class probabilities E[p], their standard deviation per class (over the
samples, ddof 0 as numpy's `std`), the predictive entropy H[E p] and the mutual information
H[E p] − E H[p] (the part of the uncertainty that comes from the model, clipped at 0 against rounding).
A sigmoid head gives two columns, P(class 0) and P(class 1); a linear head (regression) gives the mean
and the std of the output and no entropy or mutual information.

Speed. The layers below the first dropout are deterministic: they run once per batch of examples. Only
the rest runs per sample, for a chunk of samples at once (the intermediate activations broadcast along
a new sample axis, one big matrix product instead of many small ones); the chunk is as many samples as
keep the widest activation under `max_batch_elements` values. `method="loop"` is the plain reference:
one full forward pass per sample.

Randomness. The masks of sample s for batch b come from a generator seeded from (seed, b, s), drawn
layer by layer in order, as torch's dropout draws them (bernoulli(1 − rate), scaled by 1/(1 − rate);
alpha dropout's affine map). So a result depends on `seed` and `batch_size` only: not on
`max_batch_elements`, not on the method ("batched" and "loop" use the very same masks), and it does
not touch torch's global RNG. CPU and CUDA generators give different streams.

Calibration metrics and the reliability and entropy plots: `dnnconf.uncertainty.calibration`; a run's split
without and with MC dropout (`dnnconf evaluate --mc-samples`): `dnnconf.uncertainty.evaluation`.
"""

from __future__ import annotations

import copy
import functools
import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

from dnnconf.errors import BadInput
from dnnconf.nn.build import LayerInfo, Network
from dnnconf.nn.layers import MCDropout

BATCH_SIZE = 1024  # examples per batch; the masks depend on it (see the module docstring)
# values in the widest activation of one chunk of samples: on a CPU bigger chunks gain nothing (measured: the
# matrix products are as fast per row at 1024 rows, and the masks' random numbers dominate); a GPU wants them big
MAX_BATCH_ELEMENTS = {"cpu": 2**20, "other": 2**26}
_ALPHA = 1.7580993408473766  # −λα of SELU: where alpha dropout sends a dropped input (torch's constant)
_MASK64 = (1 << 64) - 1


class MCAlphaDropout(torch.nn.AlphaDropout):
    """Alpha dropout that stays on in eval mode too: `MCDropout`'s counterpart for SELU networks."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.alpha_dropout(x, self.p, True, self.inplace)


def is_stochastic(module: torch.nn.Module) -> bool:
    """Whether MC dropout samples this module: dropout, alpha dropout or mc_dropout with a rate > 0."""
    return isinstance(module, (torch.nn.Dropout, torch.nn.AlphaDropout)) and module.p > 0


def always_on(module: torch.nn.Module) -> torch.nn.Module:
    """The always-on version of a Dropout / AlphaDropout (a new module); other modules are returned as they are."""
    if isinstance(module, torch.nn.AlphaDropout):
        return MCAlphaDropout(module.p)
    if isinstance(module, torch.nn.Dropout):
        return MCDropout(module.p)
    return module


def mc_model(network: Network) -> Network:
    """The trained `network` as its MC version, the note's list comprehension over the layers:
    every Dropout / AlphaDropout becomes its always-on version, every other layer a copy, the weights
    copied (`set_weights`). The new network shares no state with `network`, which stays untouched."""
    memo: dict[int, Any] = {}  # one memo: the penalties and constraints point at the copied weights
    layers = OrderedDict(
        (name, always_on(module) if isinstance(module, (torch.nn.Dropout, torch.nn.AlphaDropout))
         else copy.deepcopy(module, memo))
        for name, module in network.layers.named_children()
    )
    summary = [LayerInfo(info.name, type(layers[info.name]).__name__ if info.name in layers else info.kind,
                         info.shape, info.parameters) for info in network.summary]
    mc = Network(layers, network.head, network.input_shape, copy.deepcopy(network.penalties, memo),
                 copy.deepcopy(network.constraints, memo), summary, copy.deepcopy(network.normalization, memo))
    mc.load_state_dict(network.state_dict())
    return mc.train(network.training)


@dataclass
class MCPrediction:
    """Per-example results as float64 numpy arrays; `samples` (N, n, k) float32 when asked for.

    `mean`: (n, k) mean class probabilities (sigmoid head: k = 2 columns, P(0) and P(1); linear head:
    the mean output). `std`: (n, k) their standard deviation over the samples (None for a plain
    prediction). `entropy`: (n,) predictive entropy H[E p] in nats (None for regression).
    `mutual_information`: (n,) H[E p] − E H[p] (None for regression and for a plain prediction).
    `n_samples`: the MC samples (0: a plain prediction, every dropout off).
    """

    mean: np.ndarray
    std: np.ndarray | None
    entropy: np.ndarray | None
    mutual_information: np.ndarray | None
    head: str
    n_samples: int
    samples: np.ndarray | None = None

    @property
    def pred(self) -> np.ndarray:
        """The predicted class (argmax of the mean probabilities), or the mean output for regression."""
        if self.head == "linear":
            return self.mean[:, 0] if self.mean.shape[1] == 1 else self.mean
        return self.mean.argmax(axis=1)

    def __len__(self) -> int:
        return len(self.mean)


# --- the forward pass with masks ---


def _stream_seed(seed: int, batch: int, sample: int) -> int:
    """A well-mixed 63-bit seed for (seed, batch, sample) (splitmix64 of their combination)."""
    z = (seed * 0x9E3779B97F4A7C15 + batch * 0xBF58476D1CE4E5B9 + sample * 0x94D049BB133111EB) & _MASK64
    z = (z + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return (z ^ (z >> 31)) >> 1


Noise = dict[int, tuple[torch.Tensor, torch.Tensor | None]]  # module index → (scale, shift), each (c, B, *f)


def _draw_noise(modules: list[torch.nn.Module], shapes: dict[int, tuple[int, ...]], count: int, rows: int,
                batch: int, first_sample: int, seed: int, generator: torch.Generator, like: torch.Tensor) -> Noise:
    """The masks of samples first_sample .. first_sample + count − 1 for one batch of `rows` examples, as
    torch's dropout uses them: bernoulli(1 − p) / (1 − p) (drawn as uniform < 1 − p); alpha dropout: a·mask
    and the shift b."""
    raw = {i: like.new_empty((count, rows, *shape)) for i, shape in shapes.items()}
    for j in range(count):
        generator.manual_seed(_stream_seed(seed, batch, first_sample + j))
        for i in shapes:  # layer by layer, in order
            raw[i][j].uniform_(0, 1, generator=generator)  # ~2x faster than bernoulli_ on CPU
    noise: Noise = {}
    for i, mask in raw.items():
        p = modules[i].p
        mask.lt_(1 - p)  # 1.0 (kept) with probability 1 − p, else 0.0
        if isinstance(modules[i], torch.nn.AlphaDropout):  # torch's (and Keras's) alpha dropout
            a = 1.0 / math.sqrt((_ALPHA * _ALPHA * p + 1) * (1 - p))
            shift = mask.add(-1).mul_(_ALPHA * a).add_(_ALPHA * a * p)
            noise[i] = (mask.mul_(a), shift)
        else:
            noise[i] = (mask.div_(1 - p), None)
    return noise


def _run(modules: list[torch.nn.Module], start: int, x: torch.Tensor, noise: Noise, count: int,
         stop: int | None = None) -> torch.Tensor:
    """modules[start:stop] on x (B, ...). A module in `noise` multiplies by its mask for each of the `count`
    samples (the first one broadcasts x along a new sample axis: rows become count·B, sample-major);
    a stochastic module without noise is skipped (dropout off); the rest run as they are (eval mode)."""
    rows = len(x)
    repeated = False
    for i in range(start, len(modules) if stop is None else stop):
        module = modules[i]
        if i in noise:
            scale, shift = noise[i]
            y = scale * (x.reshape(count, rows, *x.shape[1:]) if repeated else x.unsqueeze(0))
            if shift is not None:
                y.add_(shift)
            x, repeated = y.reshape(count * rows, *y.shape[2:]), True
        elif not is_stochastic(module):
            x = module(x)
    return x.reshape(count, rows, *x.shape[1:]) if repeated else x.unsqueeze(0).expand(count, *x.shape)


def _noise_shapes(modules: list[torch.nn.Module], example: torch.Tensor, first: int) -> tuple[dict[int, tuple], int]:
    """Each stochastic module's input shape per example, and the widest activation from `first` on."""
    shapes: dict[int, tuple[int, ...]] = {}
    x, widest = example, 0
    for i, module in enumerate(modules):
        if i >= first:
            widest = max(widest, x[0].numel())
        if is_stochastic(module):
            shapes[i] = tuple(x.shape[1:])
        else:
            x = module(x)
    return shapes, max(widest, x[0].numel())


def _head(output: torch.Tensor, head: str) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(probabilities, log-probabilities) of the output layer's logits; the output itself for linear."""
    if head == "softmax":
        return torch.softmax(output, dim=-1), torch.log_softmax(output, dim=-1)
    if head == "sigmoid":
        z = output[..., :1]
        return torch.cat([torch.sigmoid(-z), torch.sigmoid(z)], -1), torch.cat([F.logsigmoid(-z), F.logsigmoid(z)], -1)
    return output, None


class _Sums:
    """Running sums over the samples of one batch, in float64."""

    def __init__(self) -> None:
        self.p: torch.Tensor | float = 0.0
        self.p2: torch.Tensor | float = 0.0
        self.h: torch.Tensor | float = 0.0

    def add(self, probs: torch.Tensor, logp: torch.Tensor | None) -> None:  # probs (c, B, k)
        wide = probs.double()
        self.p = self.p + wide.sum(0)
        self.p2 = self.p2 + wide.square().sum(0)
        if logp is not None:
            self.h = self.h - (probs * logp).sum(-1).double().sum(0)


def _entropy(p: np.ndarray) -> np.ndarray:
    """−Σ_k p_k log p_k per row, with 0·log 0 = 0."""
    positive = p > 0
    return -np.where(positive, p * np.log(np.where(positive, p, 1.0)), 0.0).sum(axis=1)


def _device_of(network: Network) -> torch.device:
    tensor = next(iter(network.parameters()), None)
    return tensor.device if tensor is not None else torch.device("cpu")


def _as_tensor(network: Network, x: Any) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x,
                           dtype=torch.float32).to(_device_of(network))


def plain_predict(network: Network, x: Any, batch_size: int = BATCH_SIZE) -> MCPrediction:
    """The deterministic prediction with every dropout off (mc_dropout too), batch norm in inference mode:
    the mean (probabilities or output) and, for classification, the entropy of the prediction."""
    if batch_size < 1:
        raise BadInput(f"batch_size: {batch_size} must be at least 1")
    x = _as_tensor(network, x)
    modules = _modules(network)
    outputs = []
    was_training = network.training
    network.eval()
    try:
        with torch.inference_mode():
            for start in range(0, len(x), batch_size):
                probs, _ = _head(_run(modules, 0, x[start:start + batch_size], {}, 1)[0], network.head)
                outputs.append(probs.double().cpu())
    finally:
        network.train(was_training)
    mean = torch.cat(outputs).numpy() if outputs else np.zeros((0, _width(network)))
    entropy = None if network.head == "linear" else _entropy(mean)
    return MCPrediction(mean, None, entropy, None, network.head, 0)


def _modules(network: Network) -> list[torch.nn.Module]:
    """The modules a forward pass runs, in order: the input normalization (raw inputs in), then the layers."""
    normalization = getattr(network, "normalization", None)
    return ([normalization] if normalization is not None else []) + list(network.layers)


def _width(network: Network) -> int:
    last = [m for m in network.layers if isinstance(m, torch.nn.Linear)]
    units = last[-1].out_features if last else 1
    return 2 if network.head == "sigmoid" else units


def mc_predict(network: Network, x: Any, samples: int = 100, seed: int = 0, *, batch_size: int = BATCH_SIZE,
               max_batch_elements: int | None = None, return_samples: bool = False,
               method: Literal["batched", "loop"] = "batched") -> MCPrediction:
    """MC dropout: `samples` stochastic predictions of `x` (raw inputs, (n, *input_shape): the network's
    first layer normalizes them), dropout on and everything else in inference mode; the network's mode and
    state are left as found.

    With no dropout layer (or only rate-0 ones) every sample is the plain prediction: that is returned,
    with std and mutual information 0. `method="loop"`: one full forward pass per sample, the reference.
    """
    max_batch_elements = _checked_options(network, samples, batch_size, max_batch_elements, method)
    modules = _modules(network)
    stochastic = [i for i, module in enumerate(modules) if is_stochastic(module)]
    if not stochastic:
        return _constant_prediction(network, x, samples, batch_size, return_samples)
    x = _as_tensor(network, x)
    first = stochastic[0]
    generator = torch.Generator(device=x.device)
    means, stds, entropies, kept = [], [], [], []
    was_training = network.training
    network.eval()
    try:
        with torch.inference_mode():
            shapes, widest = _noise_shapes(modules, x[:1], first) if len(x) else ({}, 1)
            chunk = max(1, min(samples, max_batch_elements // max(1, min(batch_size, len(x)) * widest)))
            for batch, start in enumerate(range(0, len(x), batch_size)):
                xb = x[start:start + batch_size]
                draw = functools.partial(_draw_noise, modules, shapes, rows=len(xb), batch=batch, seed=seed,
                                         generator=generator, like=xb)
                if method == "loop":
                    sums, draws = _loop_samples(modules, xb, draw, samples, network.head, return_samples)
                else:
                    sums, draws = _batched_samples(modules, first, xb, draw, samples, chunk, network.head,
                                                   return_samples)
                mean = sums.p / samples
                means.append(mean.cpu())
                stds.append((sums.p2 / samples - mean.square()).clamp_(min=0).sqrt_().cpu())
                if network.head != "linear":
                    entropies.append((sums.h / samples).cpu())
                if return_samples:
                    kept.append(torch.cat(draws))
    finally:
        network.train(was_training)
    return _prediction(network, samples, means, stds, entropies, kept, return_samples)


def _checked_options(network: Network, samples: int, batch_size: int, max_batch_elements: int | None,
                     method: str) -> int:
    """`mc_predict`'s sizes checked (BadInput naming the one at fault); returns `max_batch_elements` with
    the device's default filled in."""
    if samples < 1:
        raise BadInput(f"--mc-samples: {samples} must be at least 1")
    if max_batch_elements is None:
        max_batch_elements = MAX_BATCH_ELEMENTS["cpu" if _device_of(network).type == "cpu" else "other"]
    if batch_size < 1 or max_batch_elements < 1:
        raise BadInput(f"batch_size {batch_size} and max_batch_elements {max_batch_elements} must be at least 1")
    if method not in ("batched", "loop"):
        raise BadInput(f"method: {method!r} is not batched or loop")
    return max_batch_elements


def _constant_prediction(network: Network, x: Any, samples: int, batch_size: int,
                         return_samples: bool) -> MCPrediction:
    """Without a stochastic layer every sample is the plain prediction: std and mutual information 0."""
    plain = plain_predict(network, x, batch_size)
    zeros = np.zeros_like(plain.mean)
    mutual = None if network.head == "linear" else np.zeros(len(plain))
    draws = np.broadcast_to(plain.mean.astype(np.float32), (samples, *plain.mean.shape)).copy() \
        if return_samples else None
    return MCPrediction(plain.mean, zeros, plain.entropy, mutual, network.head, samples, draws)


def _loop_samples(modules: list[torch.nn.Module], xb: torch.Tensor, draw: Callable[..., Noise], samples: int,
                  head: str, return_samples: bool) -> tuple[_Sums, list[torch.Tensor]]:
    """The reference: one full forward pass per sample, every layer from the input."""
    sums, draws = _Sums(), []
    for sample in range(samples):
        probs, logp = _head(_run(modules, 0, xb, draw(count=1, first_sample=sample), 1), head)
        sums.add(probs, logp)
        if return_samples:
            draws.append(probs.cpu())
    return sums, draws


def _batched_samples(modules: list[torch.nn.Module], first: int, xb: torch.Tensor, draw: Callable[..., Noise],
                     samples: int, chunk: int, head: str, return_samples: bool) -> tuple[_Sums, list[torch.Tensor]]:
    """The layers below the first dropout once, the rest for `chunk` samples at a time."""
    sums, draws = _Sums(), []
    prefix = _run(modules, 0, xb, {}, 1, stop=first)[0]  # deterministic: once per batch
    for sample in range(0, samples, chunk):
        count = min(chunk, samples - sample)
        probs, logp = _head(_run(modules, first, prefix, draw(count=count, first_sample=sample), count), head)
        sums.add(probs, logp)
        if return_samples:
            draws.append(probs.cpu())
    return sums, draws


def _prediction(network: Network, samples: int, means: list[torch.Tensor], stds: list[torch.Tensor],
                entropies: list[torch.Tensor], kept: list[torch.Tensor], return_samples: bool) -> MCPrediction:
    """The batches' sums put together: mean, std, predictive entropy and mutual information."""
    k = _width(network)
    mean = torch.cat(means).numpy() if means else np.zeros((0, k))
    std = torch.cat(stds).numpy() if stds else np.zeros((0, k))
    entropy = mutual = None
    if network.head != "linear":
        entropy = _entropy(mean)
        expected = torch.cat(entropies).numpy() if entropies else np.zeros(0)
        mutual = np.clip(entropy - expected, 0.0, None)
    draws = torch.cat(kept, dim=1).numpy() if return_samples and kept else (
        np.zeros((samples, 0, k), np.float32) if return_samples else None)
    return MCPrediction(mean, std, entropy, mutual, network.head, samples, draws)
