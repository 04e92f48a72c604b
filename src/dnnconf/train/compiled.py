"""training.compile: the training step's forward pass, and through AOTAutograd its backward, compiled.

`compiled_forward(network)` returns `torch.compile(network, dynamic=True)`, which the loop calls
for each training batch in place of the network itself. It shares the network's parameters and buffers,
so the optimizer, checkpoints (same state-dict names), freezing and max-norm see one set of weights;
evaluation, prediction and export keep using the eager network. TorchInductor fuses the pointwise work
around the matmuls (bias, activation, their gradients) into generated kernels: on a GPU that removes
kernel launches, which bound a small network's step. `dynamic=True` compiles one graph for every batch
size, so the epoch's last, smaller batch does not compile a second one; unfreezing (a change of
requires_grad) recompiles once; `check_compilable(device)` runs first, before the run folder is made.
Defaults: off (Keras's `jit_compile` is also opt-in on torch).

Measured on this project's 2-core CPU (docs/performance.md, `benchmarks/epoch_speed.py --only dnnconf
dnnconf-compiled`): compiling the note's MLP took ~20 s from a cold cache, and its epochs ran 0-20%
slower than eager ones; the option is for GPUs. On a CPU TorchInductor needs a C++ compiler, which is
checked before the run starts.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable

import torch

from dnnconf.errors import ConfigError


def check_compilable(device: torch.device) -> None:
    """Refuse training.compile where TorchInductor cannot build kernels (called before any folder is made)."""
    if device.type == "cpu" and not cpp_compiler_found():
        raise ConfigError("training.compile: true needs a C++ compiler on the CPU (TorchInductor generates C++); "
                          "none was found (g++, or $CXX): install one (apt-get install g++) or set it false")


def compiled_forward(network: torch.nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """The network's forward as compiled by torch.compile (TorchInductor, dynamic batch sizes)."""
    return torch.compile(network, dynamic=True)


def cpp_compiler_found() -> bool:
    """Whether TorchInductor finds the C++ compiler it would use (torch's own search, else g++ on PATH)."""
    try:
        from torch._inductor.cpp_builder import get_cpp_compiler  # lazy: private, may be missing
    except ImportError:  # a private module: fall back to what its search does by default
        return shutil.which("g++") is not None
    try:
        return bool(get_cpp_compiler())
    except Exception:  # torch raises its own InvalidCxxCompiler when the search finds nothing
        return False
