"""Feature maps: the shapes of images through convolutions and pooling (channels-first `Maps`, TensorFlow's
`same` padding), and the modules that compute them (`ToChannelsFirst`, `Conv2d`, the pooling layers).
`dnnconf.nn.layers` explains the image layout."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from dnnconf.errors import ConfigError

# --- shapes ---


class Maps(tuple):
    """The shape of channels-first feature maps (C, H, W), as opposed to raw image data (H, W[, C])."""

    def __new__(cls, channels: int, height: int, width: int) -> Maps:
        return super().__new__(cls, (int(channels), int(height), int(width)))

    def __getnewargs__(self) -> tuple[int, int, int]:  # pickling
        return tuple(self)  # type: ignore[return-value]

    @property
    def channels(self) -> int:
        return self[0]

    @property
    def spatial(self) -> tuple[int, int]:
        return self[1], self[2]

    def __repr__(self) -> str:
        return f"Maps(C={self[0]}, H={self[1]}, W={self[2]})"


def keras_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The shape as Keras writes it: feature maps (C, H, W) become (H, W, C); others are unchanged."""
    if isinstance(shape, Maps):
        return shape[1], shape[2], shape[0]
    return tuple(shape)


def _pair(value: Any, name: str) -> list[int]:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer or [height, width]")
    if isinstance(value, int):
        value = [value, value]
    if not isinstance(value, list | tuple) or len(value) != 2 or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        raise ValueError(f"{name} must be an integer or [height, width]")
    if min(value) < 1:
        raise ValueError(f"{name} must be >= 1")
    return [int(v) for v in value]


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's 'same' padding along one axis: (before, after), the extra pixel after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _output_size(size: int, kernel: int, stride: int, padding: str) -> int:
    if padding == "same":
        return -(-size // stride)
    return (size - kernel) // stride + 1


def _spatial(shape: Maps, kernel: list[int], strides: list[int], padding: str, kind: str
             ) -> tuple[tuple[int, int], tuple[int, int, int, int]]:
    """Output (H, W) and F.pad-style padding (left, right, top, bottom) of a window layer."""
    (h, w), (kh, kw), (sh, sw) = shape.spatial, kernel, strides
    if padding == "valid" and (kh > h or kw > w):
        raise ConfigError(
            f"model.layers: {kind} with a {kh}×{kw} window does not fit its {h}×{w} input (padding valid); "
            f"use a smaller window or padding: same"
        )
    out = (_output_size(h, kh, sh, padding), _output_size(w, kw, sw, padding))
    if padding == "valid":
        return out, (0, 0, 0, 0)
    top, bottom = _same_padding(h, kh, sh)
    left, right = _same_padding(w, kw, sw)
    return out, (left, right, top, bottom)


def _symmetric(pad: tuple[int, int, int, int]) -> tuple[int, int] | None:
    """(top, left) when the padding is the same on both sides of each axis, else None."""
    left, right, top, bottom = pad
    return (top, left) if left == right and top == bottom else None


# --- modules ---


class ToChannelsFirst(torch.nn.Module):
    """Raw image data to PyTorch's layout: (N, H, W) → (N, 1, H, W), (N, H, W, C) → (N, C, H, W)."""

    def __init__(self, channels_last: bool):
        super().__init__()
        self.channels_last = channels_last

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 3, 1, 2) if self.channels_last else x.unsqueeze(1)

    def extra_repr(self) -> str:
        return "(N, H, W, C) -> (N, C, H, W)" if self.channels_last else "(N, H, W) -> (N, 1, H, W)"


class Conv2d(torch.nn.Conv2d):
    """`torch.nn.Conv2d` that first zero-pads asymmetrically when Keras's 'same' needs it (stride > 1)."""

    def __init__(self, *args: Any, pad: tuple[int, int, int, int] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pad is not None:
            x = F.pad(x, self.pad)
        return super().forward(x)

    def extra_repr(self) -> str:
        extra = f", pad(l, r, t, b)={self.pad}" if self.pad is not None else ""
        return super().extra_repr() + extra


class _Pool2d(torch.nn.Module):
    def __init__(self, kernel: list[int], strides: list[int], pad: tuple[int, int, int, int],
                 input_size: tuple[int, int]):
        super().__init__()
        self.kernel = tuple(kernel)
        self.strides = tuple(strides)
        self.pad = pad
        self.symmetric = _symmetric(pad)

    def extra_repr(self) -> str:
        return f"pool_size={self.kernel}, strides={self.strides}, pad(l, r, t, b)={self.pad}"


class MaxPool2d(_Pool2d):
    """Max over each window; 'same' padding never wins the max (TF/Keras)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.symmetric is not None:
            return F.max_pool2d(x, self.kernel, self.strides, self.symmetric)
        return F.max_pool2d(F.pad(x, self.pad, value=-math.inf), self.kernel, self.strides)


class AvgPool2d(_Pool2d):
    """Mean over each window's real inputs; 'same' padding is not counted (TF/Keras)."""

    def __init__(self, kernel: list[int], strides: list[int], pad: tuple[int, int, int, int],
                 input_size: tuple[int, int]):
        super().__init__(kernel, strides, pad, input_size)
        if self.symmetric is None:
            # 1 / (share of real inputs in each window), fixed by the shapes
            ones = F.pad(torch.ones(1, 1, *input_size), pad)
            self.register_buffer("rescale", 1.0 / F.avg_pool2d(ones, self.kernel, self.strides), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.symmetric is not None:
            return F.avg_pool2d(x, self.kernel, self.strides, self.symmetric, count_include_pad=False)
        return F.avg_pool2d(F.pad(x, self.pad), self.kernel, self.strides) * self.rescale


class GlobalAvgPool2d(torch.nn.Module):
    """(N, C, H, W) → (N, C): the mean of each channel."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


class GlobalMaxPool2d(torch.nn.Module):
    """(N, C, H, W) → (N, C): the max of each channel."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.amax(dim=(2, 3))
