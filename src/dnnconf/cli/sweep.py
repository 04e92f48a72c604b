"""`dnnconf sweep CONFIG --space SPACE.yaml --trials N`: an Optuna study over any config keys.

Each trial trains into OUT/trial-NNNN/ (a normal run folder); at the end OUT holds best.yaml (the best
trial's resolved config, ready for `dnnconf train`), trials.csv, plots/*.png and study.db (the default
storage). Several `dnnconf sweep` processes given the same --storage and --study-name share one study.
Bad options or a bad search space exit 2 with one line naming the key.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from dnnconf.arguments import at_most, seed_number
from dnnconf.limits import MAX_JOBS


def add_command(subparsers: Any) -> argparse.ArgumentParser:
    """Add `sweep` to the `dnnconf` subcommands; its handler is `cmd_sweep`."""
    parser = subparsers.add_parser(
        "sweep", help="hyperparameter search with Optuna over any config keys (--set paths)",
        description="Sample the config keys listed in --space (one entry per key path, e.g. "
                    "`optimizer.learning_rate: {type: float, low: 1.0e-4, high: 0.1, log: true}`), train each "
                    "trial into OUT/trial-NNNN/, prune the poor ones after each epoch, and write OUT/best.yaml, "
                    "OUT/trials.csv and OUT/plots/. The objective is the best value of --metric over a trial's "
                    "epochs.")
    parser.add_argument("config", help="YAML config file (the base every trial overrides)")
    parser.add_argument("--space", required=True, metavar="SPACE.yaml",
                        help="search space: key path -> {type: float|int|categorical, low, high, log, step, "
                             "choices}")
    parser.add_argument("--trials", type=at_most(), required=True, metavar="N",
                        help="trials this command runs (shared among --jobs workers)")
    parser.add_argument("--storage", metavar="URL",
                        help="Optuna storage (default sqlite:///OUT/study.db); e.g. "
                             "postgresql://user:password@host/db to share a study across machines")
    parser.add_argument("--study-name", metavar="S", help="study name (default: the config's name)")
    parser.add_argument("--jobs", type=at_most(MAX_JOBS), default=1, metavar="J",
                        help="worker processes on this machine, sharing the storage (default 1)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key for every trial, e.g. training.epochs=5 (repeatable)")
    parser.add_argument("--out", metavar="DIR", help="sweep folder (default runs/sweep-<name>-<timestamp>)")
    parser.add_argument("--metric", default="val_loss",
                        help="the validation metric to optimize: val_loss (default), val_accuracy, val_mae, …")
    parser.add_argument("--direction", choices=("auto", "minimize", "maximize"), default="auto",
                        help="auto: maximize accuracies, minimize losses (default)")
    parser.add_argument("--pruner", choices=("median", "threshold", "none"), default="median",
                        help="median: MedianPruner(n_startup_trials=3, n_warmup_steps=1) (default); threshold: "
                             "prune a trial whose metric is worse than --threshold after any epoch; none")
    parser.add_argument("--threshold", type=float, metavar="VALUE",
                        help="the bound of --pruner threshold (upper for a minimized metric, lower otherwise)")
    parser.add_argument("--seed", type=seed_number(2**32 - MAX_JOBS, "worker i uses seed + i, and Optuna's sampler "
                                                   "takes seeds below 2**32"),
                        help="sampler seed (worker i of --jobs uses seed + i)")
    parser.set_defaults(handler=cmd_sweep)
    return parser


def cmd_sweep(args: argparse.Namespace, log: Any = print) -> int:
    from dnnconf.config import load_config
    from dnnconf.sweeps.search import SweepOptions, default_out, require_optuna, sweep

    require_optuna()  # before anything is read or created

    out = Path(args.out) if args.out else default_out(load_config(args.config, args.set).name)
    options = SweepOptions(config=args.config, space=args.space, trials=args.trials, out=out, storage=args.storage,
                           study_name=args.study_name, jobs=args.jobs, sets=list(args.set), metric=args.metric,
                           direction=args.direction, pruner=args.pruner, threshold=args.threshold, seed=args.seed,
                           log=log)
    result = sweep(options)
    if result.best is None:
        log(f"no trial of the study {result.study.study_name} completed (all pruned or failed); see "
            f"{out / 'trials.csv'}")
        return 1
    best = result.best
    log(f"best: trial {best.number}, {options.metric} {best.value:.4f}; {out / 'best.yaml'} "
        f"({result.seconds:.1f} s)")
    return 0
