"""Input normalization as the network's first layer (Keras's `Normalization` layer, which the note's book
uses): the model owns its preprocessing, so every consumer feeds it raw inputs.

`InputNormalization` computes y = (x − shift) / scale with `shift` and `scale` as buffers, saved in
model.safetensors with the weights (`normalization.shift`, `normalization.scale`), copied with them
(transfer learning, export, ONNX) and never trained. `fit_statistics` adapts them on training inputs:

- `standardize`: shift = mean, scale = standard deviation (ddof 0, as Keras and scikit-learn);
- `minmax`: shift = minimum, scale = maximum − minimum, so the training range maps to [0, 1];
- `none`: shift 0, scale 1 (the identity).

Which values share one statistic (`data.normalize_axis`):
- `feature`: every input feature its own (scikit-learn's StandardScaler, Keras's `Normalization()` on
  flat inputs); the default for rank-1 (tabular) inputs;
- `channel`: one per channel, over every example and every pixel of it (torchvision's
  `Normalize(mean, std)`, Keras's `Normalization(axis=-1)` on (H, W, C) images): a grey image (H, W) has
  one mean and one std, an (H, W, C) image one per channel C (the last axis, the layout the layers read);
  on rank-1 inputs one statistic for all features (e.g. flattened images in a CSV);
- `auto` (the default): `channel` for image-shaped inputs (rank ≥ 2), `feature` for rank 1. Per-pixel
  statistics on few images harm: a pixel that is almost always 0 gets a tiny std and becomes a huge value
  on new images (issue #18: task B, 200 images, docs/data.md). minmax per channel on 8-bit images is the
  book's 1/255.

The std floor. A feature (or channel) that is exactly constant in training keeps scale 1 (it maps to
x − c: scikit-learn's rule for zero variance). Any other std is raised to at least `STD_FLOOR` (1e-3)
times the largest magnitude of that feature's training values, so a near-constant feature (a std of
float noise) cannot turn new inputs into values of 10⁶: no normalized training value exceeds 1/STD_FLOOR
in magnitude. Keras's layer floors at an absolute 1e-7 (its backend epsilon), which depends on the units;
this floor does not.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from dnnconf.errors import DataError

METHODS = ("standardize", "minmax", "none")
AXES = ("auto", "channel", "feature")
STD_FLOOR = 1e-3  # of the feature's largest training magnitude (module docstring)


def resolve_axis(axis: str, input_shape: tuple[int, ...]) -> str:
    """`channel` or `feature`: what `auto` means for this input shape (module docstring)."""
    if axis not in AXES:
        raise DataError(f"data.normalize_axis: unknown value {axis!r} (accepted: {', '.join(AXES)})")
    if axis != "auto":
        return axis
    return "feature" if len(input_shape) <= 1 else "channel"


def statistics_shape(axis: str, input_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The shape of shift and scale, which broadcasts against one example of `input_shape`."""
    if resolve_axis(axis, input_shape) == "feature":
        return tuple(input_shape)
    return (input_shape[-1],) if len(input_shape) >= 3 else (1,)


def fit_statistics(x: np.ndarray, method: str, axis: str = "auto") -> dict[str, Any]:
    """The statistics of training inputs `x` (N, *shape) for `method` along `axis`, as plain data:
    {"method", "axis", "shape", "mean"/"std" or "min"/"max" (row-major lists of `shape`)}."""
    if method not in METHODS:
        raise DataError(f"data.normalize: unknown method {method!r} (accepted: {', '.join(METHODS)})")
    if method == "none":
        return {"method": "none"}
    input_shape = tuple(x.shape[1:])
    axis = resolve_axis(axis, input_shape)
    shape = statistics_shape(axis, input_shape)
    # one row per value that shares a statistic, one column per statistic
    if axis == "feature":
        table = x.reshape(len(x), -1)
    else:
        table = x.reshape(-1, shape[0])
    constant = np.ptp(table, axis=0) == 0 if len(table) else np.ones(table.shape[1], bool)
    plain = {"method": method, "axis": axis, "shape": list(shape)}
    if method == "minmax":
        low, high = table.min(axis=0), table.max(axis=0)
        return {**plain, "min": _as_stored(low), "max": _as_stored(high)}
    # two passes over one working copy: ~10x faster than np.std's float64 temporaries on images
    work = table.astype(np.float64 if table.dtype == np.float64 else np.float32)
    mean = work.mean(axis=0, dtype=np.float64)
    largest = np.abs(work).max(axis=0).astype(np.float64)
    work -= mean.astype(work.dtype)
    std = np.sqrt(np.square(work, out=work).mean(axis=0, dtype=np.float64))
    std = np.maximum(std, STD_FLOOR * largest)
    mean[constant], std[constant] = table[0, constant], 1.0  # a constant feature maps to exactly 0
    return {**plain, "mean": _as_stored(mean), "std": _as_stored(std)}


def _as_stored(values: np.ndarray) -> list[float]:
    """As the layer holds them (float32 buffers), so the JSON and the weights say the same."""
    return np.asarray(values).astype(np.float32).astype(np.float64).tolist()


def shift_and_scale(statistics: dict[str, Any], input_shape: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """(shift, scale) as float64 tensors shaped to broadcast over one example of `input_shape`.

    Reads the format `fit_statistics` writes and the older one (normalization.json of runs before the
    layer existed: per-feature lists without "axis" and "shape")."""
    try:
        method = statistics["method"]
        if method == "none":
            return torch.zeros(1, dtype=torch.float64), torch.ones(1, dtype=torch.float64)
        shape = tuple(statistics.get("shape") or input_shape)
        if method == "standardize":
            shift, scale = torch.tensor(statistics["mean"]), torch.tensor(statistics["std"])
        elif method == "minmax":
            shift = torch.tensor(statistics["min"], dtype=torch.float64)
            scale = torch.tensor(statistics["max"], dtype=torch.float64) - shift
            scale[scale == 0] = 1.0  # a constant training feature maps to 0
        else:
            raise DataError(f"normalization: unknown method {method!r} (accepted: {', '.join(METHODS)})")
    except (KeyError, TypeError, ValueError) as error:
        raise DataError(f"normalization: malformed statistics ({type(error).__name__}: {error})") from None
    count = int(np.prod(shape))
    if shift.numel() != count or scale.numel() != count:
        raise DataError(f"normalization: {shift.numel()} statistics do not fit shape {list(shape)}")
    _check_broadcasts(shape, input_shape)
    return shift.double().reshape(shape), scale.double().reshape(shape)


def _check_broadcasts(shape: tuple[int, ...], input_shape: tuple[int, ...]) -> None:
    try:
        fits = torch.broadcast_shapes(tuple(shape), tuple(input_shape)) == tuple(input_shape)
    except RuntimeError:
        fits = False
    if not fits:
        raise DataError(f"normalization: statistics of shape {list(shape)} do not fit inputs of shape "
                        f"{list(input_shape)}")


class InputNormalization(torch.nn.Module):
    """y = (x − shift) / scale, the network's first layer (module docstring). `method` and `axis` say
    where the statistics came from (for the summary); the buffers are what computes. Loading a state
    dict adopts its buffer shapes (per feature or per channel), checked against `input_shape`."""

    def __init__(self, input_shape: tuple[int, ...], statistics: dict[str, Any] | None = None):
        super().__init__()
        self.input_shape = tuple(input_shape)
        self.register_buffer("shift", torch.zeros(1))
        self.register_buffer("scale", torch.ones(1))
        self.method, self.axis = "none", None
        if statistics is not None:
            self.adapt(statistics)

    def adapt(self, statistics: dict[str, Any]) -> InputNormalization:
        """Take the statistics of `fit_statistics` (or an older normalization.json); returns self."""
        shift, scale = shift_and_scale(statistics, self.input_shape)
        device = self.shift.device
        self._buffers["shift"] = shift.to(device=device, dtype=torch.float32)
        self._buffers["scale"] = scale.to(device=device, dtype=torch.float32)
        self.method = statistics["method"]
        self.axis = statistics.get("axis", "feature") if self.method != "none" else None
        return self

    def copy_from(self, other: InputNormalization) -> None:
        """Take another layer's statistics (transfer learning: the source's)."""
        _check_broadcasts(tuple(other.shift.shape), self.input_shape)
        for name in ("shift", "scale"):
            self._buffers[name] = getattr(other, name).detach().clone().to(self.shift.device)
        self.method, self.axis = other.method, other.axis

    def statistics(self) -> dict[str, Any]:
        """The statistics as `fit_statistics` writes them (standardize: mean/std; minmax: min/max)."""
        if self.method == "none":
            return {"method": "none"}
        shift, scale = self.shift.double().flatten(), self.scale.double().flatten()
        plain = {"method": self.method, "axis": self.axis, "shape": list(self.shift.shape)}
        if self.method == "minmax":
            return {**plain, "min": shift.tolist(), "max": (shift + scale).tolist()}
        return {**plain, "mean": shift.tolist(), "std": scale.tolist()}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.shift) / self.scale

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any) -> None:
        for name in ("shift", "scale"):
            value = state_dict.get(prefix + name)
            if isinstance(value, torch.Tensor) and value.shape != getattr(self, name).shape:
                try:
                    _check_broadcasts(tuple(value.shape), self.input_shape)
                except DataError as error:
                    raise RuntimeError(str(error)) from None
                self._buffers[name] = torch.empty(value.shape, dtype=self.shift.dtype, device=self.shift.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        return f"method={self.method}, axis={self.axis}, statistics={list(self.shift.shape)}"
