"""MC dropout speed: dnnconf's `mc_predict` against the plain loop of N full forward passes.

The plain loop is the note's `np.stack([model(X_test, training=True) for sample in range(100)])` with
only the dropout layers in training mode (batch norm and the rest in inference mode). `mc_predict`
computes the layers below the first dropout once per batch and runs the samples in chunks. The models
are the note's, with random weights (timing needs no training): hidden [300, 100], dropout 0.2 on the
top layer only (`top_layers: 1`) and everywhere including the inputs (`top_layers: 3`); N = 100 on the
Fashion-MNIST test set (10,000 images; random images when the data is not installed).

    python benchmarks/mc_dropout_speed.py [--samples 100] [--examples 10000] [--threads 1] [--quick]

`--quick` (a smoke test, a few seconds): 10 samples of 1,000 examples.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from arguments import Parser, positive_int

from dnnconf.config import config_from_dict
from dnnconf.nn.build import Network
from dnnconf.train import setup
from dnnconf.uncertainty.mc_dropout import mc_predict

MODELS = {"dropout on the top layer (top_layers: 1)": 1, "dropout everywhere, inputs too (top_layers: 3)": 3}


def network(top_layers: int) -> Network:
    config = config_from_dict({
        "name": f"mc-speed-top{top_layers}",
        "model": {"input_shape": [28, 28], "hidden": [300, 100], "activation": "relu",
                  "kernel_initializer": "he_normal", "dropout": {"rate": 0.2, "top_layers": top_layers},
                  "output": {"units": 10, "activation": "softmax"}},
        "loss": "sparse_categorical_crossentropy",
    })
    return setup.make_network(config).eval()


def test_images(examples: int) -> tuple[torch.Tensor, str]:
    try:
        from dnnconf.data.fashion_mnist import load_fashion_mnist

        raw = load_fashion_mnist(None)
        x, source = raw.x_test[:examples], "Fashion-MNIST test set"
    except Exception:  # noqa: BLE001 - not installed, no network: random images time the same
        x, source = np.random.default_rng(0).integers(0, 256, (examples, 28, 28)), "random images"
    x = torch.as_tensor(np.asarray(x, dtype=np.float32) / 255.0)
    return (x - x.mean()) / x.std(), source


@torch.inference_mode()
def plain_loop(model: Network, x: torch.Tensor, samples: int, batch_size: int = 1024) -> np.ndarray:
    """N full forward passes, dropout in training mode and everything else in inference mode."""
    model.eval()
    for module in model.layers:
        if isinstance(module, (torch.nn.Dropout, torch.nn.AlphaDropout)):
            module.train()
    try:
        total = torch.zeros(len(x), 10, dtype=torch.float64)
        for _ in range(samples):
            total += torch.cat([model.predict(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]).double()
    finally:
        model.eval()
    return (total / samples).numpy()


def main(argv: list[str] | None = None) -> int:
    parser = Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=positive_int, default=100)
    parser.add_argument("--examples", type=positive_int, default=10_000)
    parser.add_argument("--threads", type=positive_int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--quick", action="store_true", help="smoke test: 10 samples of 1,000 examples")
    args = parser.parse_args(argv)
    if args.quick:
        args.samples, args.examples = 10, 1000
    if args.threads:
        torch.set_num_threads(args.threads)
    x, source = test_images(args.examples)
    torch.manual_seed(0)
    print(f"MC dropout, {args.samples} samples of {len(x)} examples ({source}), {torch.get_num_threads()} "
          f"thread(s)")
    print(f"  {'model':<48}{'plain loop s':>14}{'mc_predict s':>14}{'speed-up':>10}{'mean |Δ p|':>14}")
    for label, top_layers in MODELS.items():
        model = network(top_layers)
        mc_predict(model, x[:64], 2)  # warm-up
        started = time.perf_counter()
        reference = plain_loop(model, x, args.samples)
        plain = time.perf_counter() - started
        started = time.perf_counter()
        fast = mc_predict(model, x, args.samples, seed=0)
        quick = time.perf_counter() - started
        difference = float(np.abs(fast.mean - reference).mean())  # different masks: close, not equal
        print(f"  {label:<48}{plain:>14.2f}{quick:>14.2f}{plain / quick:>9.1f}x{difference:>14.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
