"""Losses and metrics of the three heads, computed on the output layer's logits.

- softmax head: sparse categorical cross-entropy, −log softmax(z)_y, averaged over the batch.
- sigmoid head: binary cross-entropy, −[y·log σ(z) + (1−y)·log(1−σ(z))], averaged.
- linear head: mean squared error.
Working on logits (log-sum-exp inside) is what Keras does with `from_logits=True`: the same
values as softmax followed by cross-entropy, without its overflow.
Binary CE and MSE also take targets with several values per example (an autoencoder's, shaped like the
output): the losses average over every value, and the metrics (pixel accuracy, MAE) are per value too,
summed over examples like one-value targets, so the loop's division by the example count gives means.
`member_loss` and `member_metric_sum` compute the same per member on stacked outputs [K, B, …] of K
members trained at once (training.parallel_seeds): one value per member.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
HEAD_OF_LOSS = {"sparse_categorical_crossentropy": "softmax", "binary_crossentropy": "sigmoid", "mse": "linear"}


def loss_function(name: str) -> LossFn:
    if name == "sparse_categorical_crossentropy":
        return F.cross_entropy
    if name == "binary_crossentropy":
        return lambda logits, y: F.binary_cross_entropy_with_logits(logits.reshape(-1), y.reshape(-1))
    if name == "mse":
        return lambda output, y: F.mse_loss(output.view(-1) if output.shape[-1] == 1 else output, y)
    raise ValueError(f"unknown loss {name!r}")


def metric_name(loss: str) -> str:
    return "mae" if loss == "mse" else "accuracy"


def metric_sum(loss: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Σ over the batch of the head's metric (correct predictions, or absolute errors), on the device."""
    if loss == "sparse_categorical_crossentropy":
        return lambda logits, y: (logits.argmax(dim=1) == y).sum()
    if loss == "binary_crossentropy":
        return lambda logits, y: ((logits.reshape(-1) > 0) == (y.reshape(-1) > 0.5)).sum() * (len(y) / y.numel())
    return lambda output, y: (output.reshape(-1) - y.reshape(-1)).abs().sum() * (len(y) / y.numel())


def member_loss(name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Each member's mean loss, [K], from stacked outputs [K, B, out] and targets [K, B]."""
    def loss(output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        members, batch = y.shape
        if name == "sparse_categorical_crossentropy":
            values = F.cross_entropy(output.reshape(members * batch, -1), y.reshape(-1), reduction="none")
            return values.view(members, batch).mean(dim=1)
        if name == "binary_crossentropy":
            return F.binary_cross_entropy_with_logits(output.view(members, batch), y, reduction="none").mean(dim=1)
        if output.shape[-1] == 1:
            output = output.view(members, batch)
        values = F.mse_loss(output, y, reduction="none")
        return values.reshape(members, -1).mean(dim=1)
    return loss


def member_metric_sum(name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Σ over each member's batch of the head's metric, [K] (stacked outputs [K, B, out], targets [K, B])."""
    if name == "sparse_categorical_crossentropy":
        return lambda logits, y: (logits.argmax(dim=-1) == y).sum(dim=1)
    if name == "binary_crossentropy":
        return lambda logits, y: ((logits.view(y.shape) > 0) == (y > 0.5)).sum(dim=1)
    return lambda output, y: (output.view(y.shape) - y).abs().sum(dim=1)
