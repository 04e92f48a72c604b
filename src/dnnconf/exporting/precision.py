"""Precision for `dnnconf export`: a network at float16, bfloat16 or dynamically quantized int8, wrapped
in `ExportedModel` (float32 in, float32 logits out).

Precision (`to_dtype`): float16 / bfloat16 cast the weights and the computation (inputs are cast on the
way in, logits back to float32 on the way out); int8 is PyTorch's dynamic quantization
(`torch.ao.quantization.quantize_dynamic`) of the dense layers: int8 weights, activations quantized per
batch at run time (conv layers stay float32). safetensors cannot hold its packed weights, so an int8
export stores the float32 weights with `"quantization": "dynamic_int8"` in export.json and
`load_model` quantizes them again when it loads (deterministic: the same weights give the same model).
"""

from __future__ import annotations

import copy
import warnings
from typing import Any

import torch
from torch.ao.quantization import quantize_dynamic

from dnnconf.errors import BadInput
from dnnconf.nn.build import head_output

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16, "int8": torch.float32}
QUANTIZATION = "dynamic_int8"


class ExportedModel(torch.nn.Module):
    """A network at a precision: takes float32 inputs, returns float32 logits; `predict` applies the head.

    `network` is the converted network (float16/bfloat16 weights, or dynamically quantized dense layers).
    It offers what the tools use of a `Network`: `head`, `input_shape`, `predict`, empty `penalties`.
    """

    def __init__(self, network: torch.nn.Module, dtype: str = "float32", quantization: str | None = None):
        super().__init__()
        self.network = network
        self.dtype_name = dtype
        self.quantization = quantization
        self.compute_dtype = DTYPES[dtype]
        self.head = getattr(network, "head", "linear")
        self.input_shape = getattr(network, "input_shape", None)
        self.penalties: list[Any] = []
        self.constraints: list[Any] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.is_floating_point() and x.dtype != self.compute_dtype:
            x = x.to(self.compute_dtype)
        return self.network(x).float()

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return head_output(self.forward(x), self.head)

    def extra_repr(self) -> str:
        return f"dtype={self.dtype_name}, quantization={self.quantization}"


def quantize_int8(network: torch.nn.Module) -> torch.nn.Module:
    """PyTorch's dynamic int8 quantization of the dense layers (a copy; conv layers stay float32)."""
    with warnings.catch_warnings():  # torch.ao.quantization announces its move to torchao
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        return quantize_dynamic(copy.deepcopy(network).eval(), {torch.nn.Linear}, dtype=torch.qint8)


def to_dtype(network: torch.nn.Module, dtype: str) -> ExportedModel:
    """The network at `dtype` (float32, float16, bfloat16, int8), as a new `ExportedModel` in eval mode."""
    if dtype not in DTYPES:
        raise BadInput(f"--dtype {dtype}: accepted: {', '.join(DTYPES)}")
    if dtype == "int8":
        return ExportedModel(quantize_int8(network), "int8", QUANTIZATION).eval()
    converted = copy.deepcopy(network).to(DTYPES[dtype]).eval()
    return ExportedModel(converted, dtype).eval()
