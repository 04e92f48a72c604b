"""ONNX for `dnnconf export`: the float32 model as an ONNX graph (opset 17, dynamic batch axis, the
TorchScript-based exporter, which needs only the `onnx` package), and an onnxruntime session to check and
time it (skipped when onnxruntime is not installed).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dnnconf.errors import BadInput

ONNX_OPSET = 17


def export_onnx(model: torch.nn.Module, example: torch.Tensor, path: Path) -> Path:
    """Write `model` (float32) as ONNX (opset 17, dynamic batch axis `batch`): input `input` (raw, the
    network's input normalization is in the graph), output `logits`. Needs the `onnx` package."""
    require_onnx()
    model = model.eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter is deprecated in favour of dynamo
        torch.onnx.export(model, (example[:1].float(),), str(path), opset_version=ONNX_OPSET, dynamo=False,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    return path


def require_onnx() -> None:
    try:
        import onnx  # noqa: F401 - the exporter needs it
    except ImportError:
        raise BadInput("--onnx: the onnx package is not installed (pip install onnx onnxruntime, or "
                       "pip install 'dnnconf[export]')") from None


def onnx_session(path: Path, threads: int | None = None) -> Any:
    """An onnxruntime CPU session for `path` (None when onnxruntime is not installed)."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def onnx_logits(session: Any, x: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
    outputs = [session.run(None, {"input": x[i:i + batch_size].float().numpy()})[0]
               for i in range(0, len(x), batch_size)]
    return torch.from_numpy(np.concatenate(outputs))
