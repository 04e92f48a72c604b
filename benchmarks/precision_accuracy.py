"""float32 against bf16 (`training.precision`) on the note's MLP: accuracy after the same epochs, over seeds.

    python benchmarks/precision_accuracy.py [--seeds 3] [--epochs 5] [--limit 20000] [--batch 128]

Fashion-MNIST scaled to [0, 1], 784-300-100-10 ReLU/He, SGD momentum 0.9 at 0.01, constant rate, no early
stopping, through `dnnconf.run.train` (one process, the seeds interleaved float32 / bf16). Prints each
run's validation and test accuracy and seconds per epoch (median of the epochs after the first; the
fastest beside it), then the means per precision. Speed belongs to benchmarks/epoch_speed.py
(`--only dnnconf dnnconf-bf16`); this measures whether bf16 learns as well.
"""

from __future__ import annotations

import contextlib
import io
import statistics
import sys
import tempfile
from pathlib import Path

from arguments import Parser, positive_int


def run(precision: str, seed: int, epochs: int, limit: int, batch: int) -> tuple[float, float, float, float]:
    from epoch_timer import epoch_timer

    from dnnconf.config import config_from_dict
    from dnnconf.run import train

    config = config_from_dict({
        "name": f"precision-{precision}", "seed": seed,
        "data": {"dataset": "fashion_mnist", "normalize": "minmax", "train_limit": limit},
        "model": {"hidden": [300, 100]}, "optimizer": {"name": "sgd", "learning_rate": 0.01, "momentum": 0.9},
        "schedule": {"name": "constant"},
        "training": {"epochs": epochs, "batch_size": batch, "early_stopping": None, "precision": precision}})
    timer = epoch_timer()
    with tempfile.TemporaryDirectory() as folder, contextlib.redirect_stdout(io.StringIO()):  # its epoch lines
        result = train(config, Path(folder) / "run", quiet=True, log=lambda *_: None, listeners=(timer,), plots=False)
    later = timer.times[1:] or timer.times
    return result.state.history[-1]["val_accuracy"], result.test["accuracy"], statistics.median(later), min(later)


def main() -> None:
    parser = Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=positive_int, default=3)
    parser.add_argument("--epochs", type=positive_int, default=5)
    parser.add_argument("--limit", type=positive_int, default=20000, help="training images (default 20,000)")
    parser.add_argument("--batch", type=positive_int, default=128)
    args = parser.parse_args()
    rows: dict[str, list[tuple[float, float, float, float]]] = {"float32": [], "bf16": []}
    print("| precision | seed | val acc | test acc | s/epoch | fastest |\n|---|---|---|---|---|---|")
    for seed in range(args.seeds):
        for precision in rows:
            rows[precision].append(run(precision, seed, args.epochs, args.limit, args.batch))
            val, test, median, fastest = rows[precision][-1]
            print(f"| {precision} | {seed} | {val:.4f} | {test:.4f} | {median:.3f} | {fastest:.3f} |", flush=True)
    for precision, results in rows.items():
        means = [statistics.mean(r[i] for r in results) for i in range(4)]
        print(f"| {precision} | mean | {means[0]:.4f} | {means[1]:.4f} | {means[2]:.3f} | {means[3]:.3f} |")


if __name__ == "__main__":
    sys.exit(main())
