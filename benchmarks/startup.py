"""Start-up: how long `dnnconf --help` takes, and how long a Fashion-MNIST run takes to its first step.

    python benchmarks/startup.py [--repeats 5] [--quick]

Each measurement is a fresh process, so imports are paid as a user pays them:
- help: `dnnconf --help` from launch to exit (torch is imported only by commands that need it);
- first step, cold cache: `dnnconf train` on the note's default Fashion-MNIST config, from launch to the
  end of its first optimizer step, with an empty data cache (`$DNNCONF_CACHE` set to a new folder), so
  the IDX files are decoded and the arrays cached;
- first step, warm cache: the same with that cache filled (the arrays read back from the cache).
It prints the median and the min–max of each over the repeats (the first step's moment is written by a
listener in the child process; the launch time is taken just before the process starts).
--quick (CI): one repeat on 2,000 training images, to check that it runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from arguments import Parser, positive_int

ROOT = Path(__file__).resolve().parents[1]


def child_first_step(limit: int | None) -> None:
    """Train the default config until its first step ends; print that moment (time.time())."""
    from dnnconf.config import config_from_dict
    from dnnconf.run import train
    from dnnconf.train.callbacks import Listener

    class FirstStep(Listener):
        def on_batch_end(self, loop):
            print(json.dumps({"first_step": time.time()}), flush=True)
            os._exit(0)  # the measurement is over; skip the rest of the run

    config = config_from_dict({"name": "startup", "data": {"dataset": "fashion_mnist", "train_limit": limit},
                               "training": {"epochs": 1}})
    with tempfile.TemporaryDirectory() as folder:
        train(config, Path(folder) / "run", quiet=True, log=lambda *_: None, listeners=(FirstStep(),))


def first_step(cache: Path, limit: int | None) -> float:
    env = {**os.environ, "DNNCONF_CACHE": str(cache)}
    command = [sys.executable, __file__, "--child"] + (["--limit", str(limit)] if limit else [])
    launched = time.time()
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, check=False)
    line = next((x for x in result.stdout.splitlines() if x.startswith("{")), None)
    if line is None:
        raise SystemExit(f"first step: no result ({(result.stderr.strip().splitlines() or ['?'])[-1]})")
    return json.loads(line)["first_step"] - launched


def help_seconds() -> float:
    dnnconf = shutil.which("dnnconf", path=str(Path(sys.executable).parent)) or "dnnconf"
    started = time.perf_counter()
    subprocess.run([dnnconf, "--help"], capture_output=True, check=True, timeout=120)
    return time.perf_counter() - started


def main() -> None:
    parser = Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=positive_int, default=5)
    parser.add_argument("--quick", action="store_true", help="one repeat on 2,000 images (CI)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=positive_int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child_first_step(args.limit)
    repeats, limit = (1, 2000) if args.quick else (args.repeats, None)
    times: dict[str, list[float]] = {"help": [], "first step, cold cache": [], "first step, warm cache": []}
    for repeat in range(repeats):
        times["help"].append(help_seconds())
        with tempfile.TemporaryDirectory() as cache:
            times["first step, cold cache"].append(first_step(Path(cache), limit))
            times["first step, warm cache"].append(first_step(Path(cache), limit))
        print(f"repeat {repeat + 1}/{repeats}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()),
              file=sys.stderr, flush=True)
    print("| measurement | median s | min–max |")
    print("|---|---|---|")
    for name, values in times.items():
        print(f"| {name} | {statistics.median(values):.2f} | {min(values):.2f}–{max(values):.2f} |")


if __name__ == "__main__":
    main()
