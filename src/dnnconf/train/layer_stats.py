"""Per-layer gradient norms in the run's history: the training-time view of `dnnconf diagnose`.

`LayerGradientNorms(every=16)` is a listener. Every `every` optimizer steps (the steps whose index is
a multiple of `every`, as the loop's own `grad_norm`) it adds, on the device and with no host sync,
the L2 norm of each dense/conv kernel's gradient (one `torch._foreach_norm`); at the end of each
epoch it writes the mean over those samples into the epoch's `logs` as `grad_norm/<layer name>`
(`grad_norm/dense_1`, …), so `history.csv` gets one column a layer.

The norms are those of the gradient before clipping (like the loop's `grad_norm`): a tensor hook on
each kernel, armed only for the sampled steps, records the norm as backward produces it, before the loop
clips it and before any optimizer that reuses `.grad` in place.
A layer with no gradient (frozen) gets NaN. Every epoch has every column (the CSV writer takes its
columns from the first row).

Wiring (run.py): put it before `HistoryLog`, which writes the history in its own `on_epoch_end`:

    if config.training.layer_stats:
        listeners.insert(0, LayerGradientNorms())   # before HistoryLog

and after training, `plot_layer_grad_norms(state.history, folder / "plots" / "layer_grad_norms.png")`
draws the heatmap (epochs × layers; it returns None when the history has no such columns).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from dnnconf.plots import draw_heatmap, log10_masked, plt, save_figure
from dnnconf.train.callbacks import Listener

if TYPE_CHECKING:
    from dnnconf.train.loop import Loop

PREFIX = "grad_norm/"
_WEIGHTED = (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d)


def weighted_layers(network: torch.nn.Module) -> list[tuple[str, torch.nn.Parameter]]:
    """(name, kernel) of each dense/conv module, input side first."""
    layers = getattr(network, "layers", network)
    return [(name, module.weight) for name, module in layers.named_children() if isinstance(module, _WEIGHTED)]


class LayerGradientNorms(Listener):
    """Mean weight-gradient norm of each dense/conv layer per epoch, as `grad_norm/<layer>` log columns."""

    def __init__(self, every: int = 16):
        if every < 1:
            raise ValueError(f"every must be >= 1 (received {every})")
        self.every = every
        self.layers: list[tuple[str, torch.nn.Parameter]] = []
        self.sums: torch.Tensor | None = None
        self.counts: list[int] = []
        self.hooks: list[Any] = []
        self.hooked: list[torch.Tensor | None] = []

    def on_train_begin(self, loop: Loop) -> None:
        self.layers = weighted_layers(loop.network)
        self._arm(loop)

    def on_epoch_begin(self, loop: Loop) -> None:
        device = self.layers[0][1].device if self.layers else torch.device("cpu")
        self.sums = torch.zeros(len(self.layers), device=device)
        self.counts = [0] * len(self.layers)

    def _sampled(self, step: int) -> bool:
        return step % self.every == 0

    def _arm(self, loop: Loop) -> None:
        """Hook the kernels for the coming step when it is a sampled one: the hooks see each gradient as
        backward produces it, before clipping and before an optimizer that reuses `.grad` in place."""
        self._disarm()
        if not self._sampled(loop.state.step):
            return
        self.hooked = [None] * len(self.layers)

        def hook(index: int):
            def record(grad: torch.Tensor) -> None:
                self.hooked[index] = torch.linalg.vector_norm(grad.detach())
            return record

        self.hooks = [weight.register_hook(hook(i)) for i, (_, weight) in enumerate(self.layers)
                      if weight.requires_grad]  # a frozen layer gets no gradient, and so no hook

    def _disarm(self) -> None:
        for handle in self.hooks:
            handle.remove()
        self.hooks = []

    def on_batch_end(self, loop: Loop) -> None:
        step = loop.state.step - 1  # the step just taken
        if self.sums is None:
            self.on_epoch_begin(loop)
        if self._sampled(step) and self.layers:
            if self.hooks:
                norms = list(self.hooked)
            else:
                grads = [weight.grad for _, weight in self.layers]
                present = [g for g in grads if g is not None]
                found = iter(torch._foreach_norm(present)) if present else iter(())
                norms = [next(found) if g is not None else None for g in grads]
            present_index = [i for i, n in enumerate(norms) if n is not None]
            if present_index:
                stacked = torch.stack([norms[i] for i in present_index]).to(self.sums.dtype)
                if len(present_index) == len(norms):
                    self.sums += stacked
                else:
                    self.sums[present_index] += stacked
                for i in present_index:
                    self.counts[i] += 1
        self._arm(loop)

    def on_epoch_end(self, loop: Loop, logs: dict[str, float]) -> None:
        means = (self.sums.tolist() if self.sums is not None else [0.0] * len(self.layers))
        for (name, _), total, count in zip(self.layers, means, self.counts or [0] * len(self.layers), strict=True):
            logs[f"{PREFIX}{name}"] = total / count if count else math.nan

    def on_train_end(self, loop: Loop) -> None:
        self._disarm()


def layer_grad_norm_columns(history: list[dict[str, float]]) -> list[str]:
    """The `grad_norm/<layer>` keys of a history, in layer order."""
    return [key for key in history[0] if key.startswith(PREFIX)] if history else []


def plot_layer_grad_norms(history: list[dict[str, float]], path: Path, title: str = "") -> Path | None:
    """Heatmap of log10 mean ‖∂J/∂W‖, layers (rows, input at the bottom) × epochs; None without columns."""
    columns = layer_grad_norm_columns(history)
    if not columns:
        return None
    matrix = np.array([[row.get(key, math.nan) for row in history] for key in columns], dtype=float)
    epochs = [int(row.get("epoch", i + 1)) for i, row in enumerate(history)]
    fig, ax = plt.subplots(figsize=(min(4.0 + 0.3 * len(epochs), 12.0), min(3.0 + 0.25 * len(columns), 9.0)))
    draw_heatmap(ax, log10_masked(matrix), columns=epochs, rows=[key[len(PREFIX):] for key in columns],
                 title=f"{title + ': ' if title else ''}log10 mean ‖∂J/∂W‖ per layer", colorbar="log10 ‖∂J/∂W‖",
                 xlabel="epoch", ylabel="layer (input at the bottom)")
    return save_figure(fig, path)
