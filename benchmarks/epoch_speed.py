"""Seconds per epoch of the note's MLP (784-300-100-10, ReLU, He) on Fashion-MNIST, side by side.

    python benchmarks/epoch_speed.py [--repeats 3] [--epochs 3] [--quick] [--busy N]

Each measurement runs in its own process, and the implementations are interleaved (repeat 1 of all,
then repeat 2 of all, …), so a slow minute on the machine hits them alike. For SGD with momentum 0.9
and Adam, at batch 32 and 128:
- dnnconf: `dnnconf.run.train` (checkpoints, history and validation included, as in real use);
- keras: Keras 3 `model.fit` with validation, on TensorFlow when it is installed, else on torch (said);
- dataloader: the idiomatic PyTorch loop (TensorDataset + DataLoader(shuffle=True), torch.optim's
  default optimizer, `loss.item()` every step for the running loss);
- handwritten: the best hand-written loop (data in one tensor, randperm + slicing, fused optimizer,
  flush-to-zero, no host sync per step);
- floor: only the matmuls of forward and backward, the arithmetic any implementation must do;
- handwritten-tuned: the hand-written loop with dnnconf's thread policy at its start (the free cores,
  dnnconf.train.threads; not re-chosen during the run);
- dnnconf-compiled, dnnconf-bf16, handwritten-bf16 (only when named in --only): dnnconf with
  `training.compile: true`; dnnconf and the tuned hand-written loop with the forward pass and loss under
  bfloat16 autocast (`training.precision: bf16`).
`--busy N` runs N CPU-burning processes (`while 1: pass`) beside every measurement, as other work on a
user's machine would; the benchmark starts them and always stops them (also on Ctrl-C; each burner also
ends by itself when the benchmark's process is gone).
`--device cuda` runs dnnconf, the DataLoader loop (pinned memory, batches copied as they come), the
hand-written loop (all data on the GPU) and the floor on the GPU (each epoch's clock read after the
GPU has finished); Keras picks its own device.
It prints the median seconds per epoch after the first (and the spread), the validation accuracy after
the same epochs (to show the work is the same), peak memory, and dnnconf's ratio to each other, by the
medians and by each one's fastest epoch (the least disturbed by other work on a shared machine, where
medians of a few epochs swing by tens of percent).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from arguments import Parser, non_negative_int, positive_int

IMPLEMENTATIONS = ("dnnconf", "keras", "dataloader", "handwritten", "handwritten-tuned", "floor")
OPTIONAL = ("dnnconf-compiled", "dnnconf-bf16", "handwritten-bf16")  # measured only when named in --only
BURNER = "import os\nparent = os.getppid()\nwhile os.getppid() == parent: pass  # epoch_speed --busy"
SETTINGS = (("sgd", 32), ("adam", 32), ("sgd", 128), ("adam", 128))


def load(limit: int | None):
    """Fashion-MNIST scaled to [0, 1] as the note does, 55,000 / 5,000 (optionally fewer for --quick)."""
    import torch

    from dnnconf.config.schema import DataConfig
    from dnnconf.data import apply_normalization, load_data

    data = load_data(DataConfig(dataset="fashion_mnist", normalize="minmax", train_limit=limit))

    def scaled(x: torch.Tensor) -> torch.Tensor:  # load_data gives raw pixels: dnnconf's model scales its own
        return torch.from_numpy(apply_normalization(x.numpy(), data.normalization))

    return scaled(data.x_train), data.y_train, scaled(data.x_valid), data.y_valid


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_dnnconf(optimizer: str, batch: int, epochs: int, limit: int | None, device: str = "cpu",
                compile: bool = False, precision: str = "float32") -> dict:
    from epoch_timer import epoch_timer

    from dnnconf.config import config_from_dict
    from dnnconf.run import train

    spec = {"name": "sgd", "learning_rate": 0.01, "momentum": 0.9} if optimizer == "sgd" else {"name": "adam"}
    config = config_from_dict({
        "name": "bench", "data": {"dataset": "fashion_mnist", "normalize": "minmax", "train_limit": limit},
        "model": {"hidden": [300, 100]}, "optimizer": spec, "schedule": {"name": "constant"},
        "training": {"epochs": epochs, "batch_size": batch, "early_stopping": None, "compile": compile,
                     "device": device, "precision": precision}})
    timer = epoch_timer()
    with tempfile.TemporaryDirectory() as folder:
        result = train(config, Path(folder) / "run", quiet=True, log=lambda *_: None, listeners=(timer,))
    # the Timer runs last, so each time covers the epoch, its validation, history and checkpoint
    import torch

    return {"times": timer.times, "val_accuracy": result.state.history[-1]["val_accuracy"],
            "threads": torch.get_num_threads()}  # at the end: the thread watch may have changed it


def run_keras(optimizer: str, batch: int, epochs: int, limit: int | None, device: str = "cpu") -> dict:
    """Keras picks its own device (TensorFlow: a GPU when its build has one); `device` is not passed on."""
    try:
        import tensorflow  # noqa: F401

        os.environ["KERAS_BACKEND"] = "tensorflow"
    except ImportError:
        os.environ["KERAS_BACKEND"] = "torch"
    x, y, xv, yv = (t.numpy() for t in load(limit))
    import keras

    class Timer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.times, self.started = [], 0.0

        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self.started)

    keras.utils.set_random_seed(42)
    model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
                              keras.layers.Dense(300, activation="relu", kernel_initializer="he_normal"),
                              keras.layers.Dense(100, activation="relu", kernel_initializer="he_normal"),
                              keras.layers.Dense(10, activation="softmax")])
    opt = keras.optimizers.SGD(0.01, momentum=0.9) if optimizer == "sgd" else keras.optimizers.Adam()
    model.compile(loss="sparse_categorical_crossentropy", optimizer=opt, metrics=["accuracy"])
    timer = Timer()
    history = model.fit(x, y, epochs=epochs, batch_size=batch, validation_data=(xv, yv), verbose=0,
                        callbacks=[timer])
    return {"times": timer.times, "val_accuracy": float(history.history["val_accuracy"][-1]),
            "backend": keras.backend.backend()}


def _torch_mlp():
    import torch

    torch.manual_seed(42)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 300), torch.nn.ReLU(),
                                torch.nn.Linear(300, 100), torch.nn.ReLU(), torch.nn.Linear(100, 10))
    for layer in model:
        if isinstance(layer, torch.nn.Linear):
            torch.nn.init.kaiming_normal_(layer.weight)
            torch.nn.init.zeros_(layer.bias)
    return model


def _accuracy(model, x, y) -> float:
    import torch

    with torch.inference_mode():
        return float((model(x).argmax(1) == y).float().mean())


def run_dataloader(optimizer: str, batch: int, epochs: int, limit: int | None, device: str = "cpu") -> dict:
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    x, y, xv, yv = load(limit)
    xv, yv = xv.to(device), yv.to(device)
    model = _torch_mlp().to(device)
    opt = (torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9) if optimizer == "sgd"
           else torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7))
    loader = DataLoader(TensorDataset(x, y), batch_size=batch, shuffle=True, pin_memory=device != "cpu")
    loss_fn = torch.nn.CrossEntropyLoss()
    times = []
    for _ in range(epochs):
        started, running = time.perf_counter(), 0.0
        model.train()
        for xb, yb in loader:
            xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            running += loss.item()
        model.eval()
        _accuracy(model, xv, yv)
        times.append(time.perf_counter() - started)
    return {"times": times, "val_accuracy": _accuracy(model, xv, yv)}


def run_handwritten(optimizer: str, batch: int, epochs: int, limit: int | None, device: str = "cpu",
                    tuned: bool = False, bf16: bool = False) -> dict:
    """`tuned`: threads from dnnconf's policy at the start; `bf16`: forward and loss under bfloat16 autocast."""
    import contextlib

    import torch
    import torch.nn.functional as F

    if tuned:
        from dnnconf.train.threads import apply

        apply()
    torch.set_flush_denormal(True)
    x, y, xv, yv = (t.to(device) for t in load(limit))
    model = _torch_mlp().to(device)
    opt = (torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, fused=True) if optimizer == "sgd"
           else torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7, fused=True))
    times = []
    for _ in range(epochs):
        started = time.perf_counter()
        order = torch.randperm(len(y), device=device)
        xs, ys = x[order], y[order]
        total = torch.zeros((), device=device)
        for start in range(0, len(y), batch):
            with torch.autocast(torch.device(device).type, torch.bfloat16) if bf16 else contextlib.nullcontext():
                output = model(xs[start:start + batch])
            loss = F.cross_entropy(output.float(), ys[start:start + batch])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach()
        total.item()
        _accuracy(model, xv, yv)
        times.append(time.perf_counter() - started)
    return {"times": times, "val_accuracy": _accuracy(model, xv, yv), "threads": torch.get_num_threads()}


def run_floor(optimizer: str, batch: int, epochs: int, limit: int | None, device: str = "cpu") -> dict:
    """The 8 matmuls of one step (3 forward; 3 weight gradients and 2 input gradients), per epoch."""
    import torch

    n = limit or 55_000
    shapes = ((batch, 784), (784, 300), (300, 100), (100, 10), (batch, 300), (batch, 100), (batch, 10), (batch, 100),
              (batch, 300))
    a0, w1, w2, w3, a1, a2, g3, g2, g1 = (torch.rand(shape, device=device) for shape in shapes)
    times = []
    for _ in range(epochs):
        started = time.perf_counter()
        for _ in range(0, n, batch):
            a0 @ w1, a1 @ w2, a2 @ w3  # noqa: B018
            a2.T @ g3, g3 @ w3.T, a1.T @ g2, g2 @ w2.T, a0.T @ g1  # noqa: B018
        if device != "cpu":
            torch.cuda.synchronize()  # a GPU runs them asynchronously: wait before reading the clock
        times.append(time.perf_counter() - started)
    return {"times": times, "val_accuracy": float("nan")}


def run_dnnconf_compiled(optimizer: str, batch: int, epochs: int, limit: int | None, device: str = "cpu") -> dict:
    """dnnconf with training.compile (its first epoch, not counted, includes the compilation)."""
    return run_dnnconf(optimizer, batch, epochs, limit, device, compile=True)


WORKERS = {"dnnconf": run_dnnconf, "keras": run_keras, "dataloader": run_dataloader,
           "handwritten": run_handwritten, "floor": run_floor, "dnnconf-compiled": run_dnnconf_compiled,
           "handwritten-tuned": lambda *args: run_handwritten(*args, tuned=True),
           "dnnconf-bf16": lambda *args: run_dnnconf(*args, precision="bf16"),
           "handwritten-bf16": lambda *args: run_handwritten(*args, tuned=True, bf16=True)}


@contextlib.contextmanager
def burners(count: int):
    """`count` processes that keep a core busy each, stopped when the block ends (Ctrl-C or SIGTERM too)."""
    processes = [subprocess.Popen([sys.executable, "-c", BURNER]) for _ in range(count)]
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143)) if count else None
    try:
        yield
    finally:
        for process in processes:
            process.kill()
            process.wait()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def worker(args: argparse.Namespace) -> None:
    result = WORKERS[args.worker](args.optimizer, args.batch, args.epochs, args.limit, args.device)
    result["peak_mib"] = peak_mib()
    print("RESULT " + json.dumps(result))


def measure(name: str, optimizer: str, batch: int, epochs: int, limit: int | None, device: str = "cpu") -> dict:
    command = [sys.executable, __file__, "--worker", name, "--optimizer", optimizer, "--batch", str(batch),
               "--epochs", str(epochs), "--device", device] + (["--limit", str(limit)] if limit else [])
    output = subprocess.run(command, capture_output=True, text=True, check=False)
    line = next((x for x in output.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        return {"error": (output.stderr.strip().splitlines() or ["no output"])[-1]}
    return json.loads(line.removeprefix("RESULT "))


def main() -> None:
    parser = Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=positive_int, default=3)
    parser.add_argument("--epochs", type=positive_int, default=3, help="epochs per run; the first is not counted")
    parser.add_argument("--quick", action="store_true", help="a smoke test: 1 repeat, 2 epochs, 2,000 images")
    parser.add_argument("--only", nargs="*", choices=IMPLEMENTATIONS + OPTIONAL, default=list(IMPLEMENTATIONS),
                        help="implementations to measure (default: all but dnnconf-compiled, dnnconf with "
                        "training.compile)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="where the torch implementations run (Keras picks its own): cuda on a GPU machine")
    parser.add_argument("--busy", type=non_negative_int, default=0, metavar="N",
                        help="N CPU-burning processes beside every measurement (default 0: a quiet machine)")
    parser.add_argument("--worker", choices=IMPLEMENTATIONS + OPTIONAL, help=argparse.SUPPRESS)
    parser.add_argument("--optimizer", default="sgd", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=positive_int, default=32, help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=positive_int, default=None, metavar="N",
                        help="the first N training images (default all 55,000; --quick: 2,000)")
    parser.add_argument("--optimizers", nargs="+", choices=("sgd", "adam"), default=["sgd", "adam"],
                        help="the optimizers to measure (default both)")
    parser.add_argument("--batches", nargs="+", type=positive_int, choices=(32, 128), default=[32, 128],
                        help="the batch sizes to measure (default both)")
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    repeats, epochs, limit = (1, 2, args.limit or 2000) if args.quick else (args.repeats, args.epochs, args.limit)
    settings = tuple(s for s in SETTINGS if s[0] in args.optimizers and s[1] in args.batches)
    settings = settings[:1] if args.quick else settings
    runs: dict[tuple[str, str, int], list[dict]] = {}
    with burners(args.busy):
        for repeat in range(repeats):
            for optimizer, batch in settings:
                for name in args.only:
                    result = measure(name, optimizer, batch, epochs, limit, args.device)
                    runs.setdefault((name, optimizer, batch), []).append(result)
                    print(f"repeat {repeat + 1}/{repeats} {name:<12} {optimizer:<5} batch {batch:<4} "
                          f"{result.get('times', result.get('error'))}", file=sys.stderr, flush=True)
    if args.busy or limit:
        print(f"\n{limit or 55_000:,} training images; {args.busy} CPU-burning process(es) beside each measurement")
    report(runs, settings, args.only, epochs)


def _median(results: list[dict]) -> tuple[float, float, float]:
    per_epoch = [t for r in results if "times" in r for t in (r["times"][1:] or r["times"])]
    if not per_epoch:
        return float("nan"), float("nan"), float("nan")
    return statistics.median(per_epoch), min(per_epoch), max(per_epoch)


def report(runs: dict, settings: tuple, names: list[str], epochs: int) -> None:
    print(f"\nseconds per epoch (median after the first of {epochs}; min–max), validation accuracy, peak memory;"
          "\ndnnconf ÷ it by the medians and by the fastest epochs; the torch threads at the end (- : not recorded)")
    print(f"{'implementation':<20}{'optimizer':<10}{'batch':>6}{'s/epoch':>10}{'min–max':>16}{'val acc':>9}"
          f"{'MiB':>7}{'÷ median':>10}{'÷ fastest':>11}{'threads':>9}")
    for optimizer, batch in settings:
        ours, ours_fastest, _ = _median(runs.get(("dnnconf", optimizer, batch), []))
        for name in names:
            results = runs[(name, optimizer, batch)]
            median, low, high = _median(results)
            ok = [r for r in results if "times" in r]
            accuracy = statistics.mean(r["val_accuracy"] for r in ok) if ok else float("nan")
            memory = max((r["peak_mib"] for r in ok), default=float("nan"))
            label = name + (f" ({ok[0]['backend']})" if ok and "backend" in ok[0] else "")
            threads = "/".join(sorted({str(r["threads"]) for r in ok if "threads" in r})) or "-"
            errors = [r["error"] for r in results if "error" in r]
            ratio = ours / median if median == median and median else float("nan")
            fastest = ours_fastest / low if low == low and low else float("nan")
            print(f"{label:<20}{optimizer:<10}{batch:>6}{median:>10.3f}{f'{low:.2f}–{high:.2f}':>16}"
                  f"{accuracy:>9.4f}{memory:>7.0f}{ratio:>10.2f}{fastest:>11.2f}{threads:>9}"
                  + (f"  error: {errors[0]}" if errors else ""))

if __name__ == "__main__":
    main()
