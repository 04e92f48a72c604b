"""Latency per example of the note's low-latency steps on its default MLP, with random weights (no training).

    python benchmarks/export_latency.py [--repeats 25] [--threads N] [--quick]

Two models: `mlp`, the note's default 784-300-100-10 ReLU network (He initialization), and `mlp-bn`, the
same with batch norm before each activation (`batch_norm: before_activation`, random moving statistics).
For each: original, batch norm folded (`fold_batch_norm`; for `mlp` there is nothing to fold), float16,
bfloat16, int8 (dynamic quantization of the folded model) and ONNX Runtime (the folded float32 graph;
when onnx and onnxruntime are installed). Each latency is the median of --repeats timings after warm-up,
in `torch.inference_mode`, at batch 1 and 256, with --threads threads (default: this machine's cores).
Ratios are the original's latency over the variant's (> 1: faster); max Δlogit is the largest absolute
difference of an output from the original's on 1,024 random inputs (256 with --quick). Accuracy needs a trained model:
`dnnconf export RUN` reports it on the run's test split.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from arguments import Parser, positive_int  # noqa: E402

from dnnconf.config import config_from_dict  # noqa: E402
from dnnconf.config.layers import model_layers  # noqa: E402
from dnnconf.exporting.exporter import (  # noqa: E402
    ExportedModel,
    export_onnx,
    fold_batch_norm,
    machine_threads,
    onnx_session,
    time_per_example,
    to_dtype,
    torch_latency,
)
from dnnconf.nn.build import build_network  # noqa: E402
from dnnconf.nn.layers import BatchNorm  # noqa: E402

BATCHES = (1, 256)


def network(batch_norm: str, seed: int = 0) -> torch.nn.Module:
    config = config_from_dict({"model": {"hidden": [300, 100], "activation": "relu", "kernel_initializer": "he_normal",
                                         "batch_norm": batch_norm}})
    net = build_network(model_layers(config.model, 10, "softmax"), (28, 28), torch.Generator().manual_seed(seed))
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, BatchNorm):
                module.running_mean.normal_(generator=generator)
                module.running_var.uniform_(0.5, 2.0, generator=generator)
                module.weight.uniform_(0.5, 1.5, generator=generator)
                module.bias.normal_(generator=generator)
    return net.eval()


def variants(net: torch.nn.Module, folder: Path) -> list[tuple[str, object]]:
    """(name, a model or an onnxruntime session) for every variant."""
    folded = fold_batch_norm(net).eval()
    out: list[tuple[str, object]] = [("original", ExportedModel(net)), ("folded", ExportedModel(folded))]
    out += [(dtype, to_dtype(folded, dtype)) for dtype in ("float16", "bfloat16", "int8")]
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        print("onnxruntime: not installed (pip install onnx onnxruntime)", file=sys.stderr)
        return out
    path = export_onnx(folded, torch.zeros(1, 28, 28), folder / f"{id(net)}.onnx")
    out.append(("onnxruntime", onnx_session(path, torch.get_num_threads())))
    return out


def measure(model: object, x: torch.Tensor, repeats: int, target_s: float) -> tuple[dict[int, float], torch.Tensor]:
    if isinstance(model, torch.nn.Module):
        with torch.inference_mode():
            output = model(x).float()
        return torch_latency(model, x, BATCHES, repeats, target_s), output
    feeds = {batch: {"input": x[:batch].numpy()} for batch in BATCHES}
    latency = {batch: time_per_example(lambda feed=feeds[batch]: model.run(None, feed), batch, repeats, target_s)
               for batch in BATCHES}
    return latency, torch.from_numpy(model.run(None, {"input": x.numpy()})[0])


def main(argv: list[str] | None = None) -> int:
    parser = Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=positive_int, default=25, help="timings per measurement (median; default 25)")
    parser.add_argument("--threads", type=positive_int, default=None, help="torch/onnxruntime threads (default: cores)")
    parser.add_argument("--quick", action="store_true",
                        help="3 short timings each, 1 thread unless --threads: a smoke test in a few seconds")
    args = parser.parse_args(argv)
    repeats, target_s = (3, 0.0005) if args.quick else (args.repeats, 0.002)
    torch.set_num_threads(args.threads or (1 if args.quick else machine_threads()))
    x = torch.rand(256 if args.quick else 1024, 28, 28, generator=torch.Generator().manual_seed(7))
    print(f"threads {torch.get_num_threads()}, torch {torch.__version__}, median of {repeats} timings")
    print(f"{'model':<8}{'variant':<13}{'µs/ex @1':>11}{'µs/ex @256':>12}{'×@1':>8}{'×@256':>8}{'max Δlogit':>12}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, batch_norm in (("mlp", "none"), ("mlp-bn", "before_activation")):
            net = network(batch_norm)
            base, reference = None, None
            for variant, model in variants(net, Path(tmp)):
                latency, output = measure(model, x, repeats, target_s)
                if base is None:
                    base, reference = latency, output
                diff = float((output - reference).abs().max())
                print(f"{name:<8}{variant:<13}{latency[1] * 1e6:>11.2f}{latency[256] * 1e6:>12.3f}"
                      f"{base[1] / latency[1]:>7.2f}×{base[256] / latency[256]:>7.2f}×{diff:>12.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
