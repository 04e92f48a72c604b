"""K seeds at once (training.parallel_seeds) against one run and against K runs one after another.

    python benchmarks/parallel_seeds.py [--seeds 8] [--epochs 3] [--repeats 2] [--train-limit N] [--threads T]
                                        [--steps] [--quick]

The note's MLP (784-300-100-10, ReLU, He) on Fashion-MNIST with SGD (momentum 0.9, constant rate, no
early stopping), at batch 32 and 128, through `dnnconf.run.train` as a user runs it (validation,
history and run folders included). Each measurement runs in its own process, interleaved (repeat 1 of
all, then repeat 2, …):
- one: a single run (seed 42);
- batched: K seeds in one run, `training.parallel_seeds: K`;
- sequential: the same K seeds trained one after another in one process;
- floor 1 / floor K: only the matmuls of forward and backward for an epoch's training steps, of one
  network and of K networks on K batches (batched, as dnnconf computes them): the arithmetic any
  implementation must do. floor K ÷ one run bounds batched ÷ one run from below on this machine.
It prints seconds per epoch (the median of the epochs after the first, and the min–max) — for
sequential, the sum over the K runs, the cost of one epoch of every seed — and the ratios batched ÷ one
(the target is ≤ 2 for K = 8; by the medians and by the fastest epochs, the least disturbed on a shared
machine) and sequential ÷ batched (the speed-up). `--steps` also times one training
step of the stacked network (batched matmuls, what dnnconf uses; split into forward with the loss,
backward and the SGD update) against torch.func's vmap over `functional_call`, the other way to batch
K models.
`--device cuda` runs every measurement on the GPU (the clock read after the GPU has finished).
--quick (CI): 500 training and 500 validation images, 2 epochs, batch 128, one repeat, a few steps: it
checks that everything runs (its times mean nothing).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from arguments import Parser, positive_int

MODES = ("one", "batched", "sequential", "floor1", "floorK")
LABELS = {"one": "one run", "batched": "{k} seeds batched", "sequential": "{k} seeds one by one",
          "floor1": "matmul floor, 1 network", "floorK": "matmul floor, {k} networks"}


def synchronize(device: str) -> None:
    """Wait for a GPU's queued work before reading the clock (a CPU has none)."""
    if device != "cpu":
        import torch

        torch.cuda.synchronize()


def child(mode: str, seeds: int, batch: int, epochs: int, limit: int | None, threads: int | None,
          device: str = "cpu") -> dict:
    from epoch_timer import epoch_timer

    from dnnconf.config import config_from_dict
    from dnnconf.run import train

    def config(seed: int, parallel: int):
        return config_from_dict({
            "name": "bench", "seed": seed,
            "data": {"dataset": "fashion_mnist", "normalize": "minmax", "train_limit": limit,
                     "valid_size": 500 if limit and limit <= 500 else 5000},
            "model": {"hidden": [300, 100]}, "optimizer": {"name": "sgd", "learning_rate": 0.01, "momentum": 0.9},
            "schedule": {"name": "constant"},
            "training": {"epochs": epochs, "batch_size": batch, "early_stopping": None, "parallel_seeds": parallel,
                         "threads": threads, "device": device}})

    runs = {"one": [(42, 1)], "batched": [(42, seeds)], "sequential": [(42 + k, 1) for k in range(seeds)]}[mode]
    timers, accuracies = [], []
    with tempfile.TemporaryDirectory() as folder:
        for index, (seed, parallel) in enumerate(runs):
            timer = epoch_timer()
            result = train(config(seed, parallel), Path(folder) / f"run-{index}", quiet=True, log=lambda *_: None,
                           listeners=(timer,))
            timers.append(timer.times)
            members = result.members or [result]
            accuracies += [member.state.history[-1]["val_accuracy"] for member in members]
    # per epoch: the epoch of every seed (sequential: the sum over its runs)
    per_epoch = [sum(times[e] for times in timers) for e in range(epochs)]
    return {"times": per_epoch, "val_accuracy": statistics.mean(accuracies)}


def child_floor(members: int, batch: int, epochs: int, limit: int | None, threads: int | None,
                device: str = "cpu") -> dict:
    """Seconds per epoch of the 8 matmuls of each training step (3 forward; 3 weight gradients and 2
    input gradients) for `members` networks on their own batches: [K, B, in] × [K, in, out] as one bmm."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    k, sizes = members, (784, 300, 100, 10)
    acts = [torch.rand(k, batch, n, device=device) for n in sizes]  # a0 (the input), a1, a2, the logits' gradient
    kernels = [torch.rand(k, sizes[i + 1], sizes[i], device=device) for i in range(3)]  # torch's [out, in] layout
    times = []
    for _ in range(epochs):
        started = time.perf_counter()
        for _ in range(0, limit or 55_000, batch):
            for i in range(3):
                torch.bmm(acts[i], kernels[i].transpose(1, 2))  # forward
                torch.bmm(acts[i + 1].transpose(1, 2), acts[i])  # ∂W (the layer's output gradient, same shape)
            torch.bmm(acts[3], kernels[2]), torch.bmm(acts[2], kernels[1])  # ∂a2, ∂a1 (no ∂ of the input)
        synchronize(device)
        times.append(time.perf_counter() - started)
    return {"times": times, "val_accuracy": float("nan")}


def child_steps(seeds: int, batch: int, steps: int, threads: int | None, device: str = "cpu") -> dict:
    """Seconds per training step (forward, backward, SGD-momentum update) of K stacked MLPs, two ways."""
    import torch
    from torch.func import functional_call, grad, stack_module_state, vmap

    from dnnconf.nn.stacked import StackedNetwork
    from dnnconf.optim.optimizers import SGD

    torch.set_flush_denormal(True)
    if threads:
        torch.set_num_threads(threads)

    def mlp():
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 300), torch.nn.ReLU(),
                                   torch.nn.Linear(300, 100), torch.nn.ReLU(), torch.nn.Linear(100, 10))

    class Plain(torch.nn.Module):  # StackedNetwork reads `layers`, `penalties` and `constraints`
        def __init__(self):
            super().__init__()
            self.layers, self.penalties, self.constraints = mlp(), [], []

    x, y = torch.rand(20000, 28, 28, device=device), torch.randint(0, 10, (20000,), device=device)
    stacked = StackedNetwork([Plain().to(device) for _ in range(seeds)], [torch.Generator() for _ in range(seeds)])
    sgd = SGD(stacked.parameters(), 0.01, 0.9)

    phases = {"forward": 0.0, "backward": 0.0, "update": 0.0}  # the stacked step's seconds, by phase

    def step_stacked(rows):
        started = time.perf_counter()
        output = stacked(x[rows.reshape(-1)].view(seeds, batch, 28, 28))
        loss = torch.nn.functional.cross_entropy(output.reshape(-1, 10), y[rows.reshape(-1)], reduction="none")
        for p in stacked.parameters():
            p.grad = None
        synchronize(device)
        forward = time.perf_counter()
        loss.view(seeds, batch).mean(dim=1).sum().backward()
        synchronize(device)
        backward = time.perf_counter()
        sgd.step()
        synchronize(device)
        phases["forward"] += forward - started
        phases["backward"] += backward - forward
        phases["update"] += time.perf_counter() - backward

    params, _ = stack_module_state([mlp().to(device) for _ in range(seeds)])
    params = {k: v.detach() for k, v in params.items()}
    base = mlp().to("meta")
    gradient = vmap(grad(lambda p, xb, yb: torch.nn.functional.cross_entropy(functional_call(base, (p,), (xb,)), yb)))
    sgd_vmap = SGD(list(params.values()), 0.01, 0.9)

    def step_vmap(rows):
        grads = gradient(params, x[rows.reshape(-1)].view(seeds, batch, 28, 28), y[rows.reshape(-1)].view(seeds, batch))
        for name, p in params.items():
            p.grad = grads[name]
        sgd_vmap.step()

    out = {}
    for name, step in (("stacked", step_stacked), ("vmap", step_vmap)):
        step(torch.randint(0, len(y), (seeds, batch), device=device))
        phases.update(dict.fromkeys(phases, 0.0))
        synchronize(device)
        started = time.perf_counter()
        for _ in range(steps):
            step(torch.randint(0, len(y), (seeds, batch), device=device))
        synchronize(device)
        out[name] = (time.perf_counter() - started) / steps
        if name == "stacked":
            out.update({phase: seconds / steps for phase, seconds in phases.items()})
    return out


def spawn(args: list[str]) -> dict:
    result = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, timeout=3600)
    if result.returncode != 0:
        return {"error": (result.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=positive_int, default=8)
    parser.add_argument("--epochs", type=positive_int, default=3)
    parser.add_argument("--repeats", type=positive_int, default=2)
    parser.add_argument("--batches", type=positive_int, nargs="+", default=[32, 128])
    parser.add_argument("--train-limit", type=positive_int, help="train on the first N images only (a busy machine)")
    parser.add_argument("--threads", type=positive_int, help="CPU threads of each run (training.threads; default: all)")
    parser.add_argument("--steps", action="store_true", help="also time one step: stacked matmuls vs vmap")
    parser.add_argument("--steps-only", action="store_true", help="only time one step (no training runs)")
    parser.add_argument("--quick", action="store_true", help="a small check that everything runs (CI)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where every measurement runs")
    parser.add_argument("--child", choices=MODES + ("steps",), help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=positive_int, help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=positive_int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "steps":
        print(json.dumps(child_steps(args.seeds, args.batch, args.limit or 150, args.threads, args.device)))
        return
    if args.child in ("floor1", "floorK"):
        members = 1 if args.child == "floor1" else args.seeds
        print(json.dumps(child_floor(members, args.batch, args.epochs, args.limit, args.threads, args.device)))
        return
    if args.child:
        print(json.dumps(child(args.child, args.seeds, args.batch, args.epochs, args.limit, args.threads,
                               args.device)))
        return
    limit = 500 if args.quick else args.train_limit
    epochs, repeats, batches = (2, 1, [128]) if args.quick else (args.epochs, args.repeats, args.batches)
    if not args.steps_only:
        epochs_table(args, limit, epochs, repeats, batches)
    if args.steps or args.steps_only or args.quick:
        steps_lines(args, batches)


def epochs_table(args: argparse.Namespace, limit: int | None, epochs: int, repeats: int, batches: list[int]) -> None:
    times: dict[tuple[str, int], list[float]] = {}
    accuracy: dict[tuple[str, int], float] = {}
    errors: dict[tuple[str, int], str] = {}
    for repeat in range(repeats):
        for batch in batches:
            for mode in MODES:
                extra = (["--limit", str(limit)] if limit else []) + (["--threads", str(args.threads)]
                                                                       if args.threads else [])
                out = spawn(["--child", mode, "--seeds", str(args.seeds), "--batch", str(batch),
                             "--epochs", str(epochs), "--device", args.device, *extra])
                print(f"repeat {repeat + 1}/{repeats}, batch {batch}, {mode}: "
                      f"{out.get('error') or ' '.join(f'{t:.2f}' for t in out['times'])}", file=sys.stderr, flush=True)
                if "error" in out:
                    errors[(mode, batch)] = out["error"]
                    continue
                times.setdefault((mode, batch), []).extend(out["times"][1:] if epochs > 1 else out["times"])
                accuracy[(mode, batch)] = out["val_accuracy"]
    k = args.seeds
    print("| run | batch | s/epoch (all seeds) | min–max | val acc (mean) | ÷ one run | ÷ one run, fastest | "
          "sequential ÷ it |")
    print("|---|---|---|---|---|---|---|---|")
    for batch in batches:
        median = {mode: statistics.median(times[(mode, batch)]) for mode in MODES if (mode, batch) in times}
        for mode in MODES:
            label = LABELS[mode].format(k=k)
            if (mode, batch) in errors:
                print(f"| {label} | {batch} | error: {errors[(mode, batch)]} | | | | | |")
                continue
            values = times[(mode, batch)]
            ratio = median[mode] / median["one"] if "one" in median else float("nan")
            fastest = min(values) / min(times[("one", batch)]) if "one" in median else float("nan")
            speedup = median["sequential"] / median[mode] if "sequential" in median else float("nan")
            shown = "" if accuracy[(mode, batch)] != accuracy[(mode, batch)] else f"{accuracy[(mode, batch)]:.4f}"
            print(f"| {label} | {batch} | {median[mode]:.3f} | {min(values):.2f}–{max(values):.2f} | "
                  f"{shown} | {ratio:.2f} | {fastest:.2f} | {speedup:.2f} |")


def steps_lines(args: argparse.Namespace, batches: list[int]) -> None:
    k = args.seeds
    for batch in batches:
        steps = ["--limit", "5"] if args.quick else []
        threads = ["--threads", str(args.threads)] if args.threads else []
        out = spawn(["--child", "steps", "--seeds", str(k), "--batch", str(batch), "--device", args.device, *steps,
                     *threads])
        if "error" in out:
            print(f"steps, batch {batch}: error: {out['error']}")
            continue
        print(f"one step of {k} stacked MLPs, batch {batch}: batched matmuls {out['stacked'] * 1e3:.2f} ms "
              f"(forward and loss {out['forward'] * 1e3:.2f}, backward {out['backward'] * 1e3:.2f}, SGD update "
              f"{out['update'] * 1e3:.2f}), torch.func vmap {out['vmap'] * 1e3:.2f} ms "
              f"({out['vmap'] / out['stacked']:.1f}×)")


if __name__ == "__main__":
    main()
