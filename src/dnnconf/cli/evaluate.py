"""`dnnconf evaluate RUN [--split S] [--mc-samples N] [--seed S]`: a trained run's metrics (a run or an
export folder, at its own precision), optionally with MC dropout."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from dnnconf.arguments import at_most, seed_number
from dnnconf.limits import MAX_MC_SAMPLES


def add_command(commands: Any) -> None:
    evaluate = commands.add_parser("evaluate", help="metrics of a trained run")
    evaluate.add_argument("run", help="run folder")
    evaluate.add_argument("--split", choices=("train", "valid", "test"), default="test")
    evaluate.add_argument("--mc-samples", type=at_most(MAX_MC_SAMPLES), default=None, metavar="N",
                          help="also MC dropout with N samples: accuracy, NLL, Brier, ECE with and without, "
                               "plots/reliability.png, plots/uncertainty.png, mc_metrics.json")
    evaluate.add_argument("--seed", type=seed_number(), default=0, help="seed of the MC dropout masks (default 0)")
    evaluate.set_defaults(handler=cmd_evaluate)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from dnnconf.model import evaluate_run

    if args.mc_samples is not None:  # MC dropout: metrics with and without, plots, mc_metrics.json
        from dnnconf.errors import BadInput
        from dnnconf.uncertainty.evaluation import evaluate_mc, format_mc_table

        if args.mc_samples < 1:
            raise BadInput(f"--mc-samples: {args.mc_samples} must be at least 1")
        from dnnconf.model import Model

        result = evaluate_mc(Model.load(Path(args.run)), Path(args.run), args.mc_samples, args.seed, args.split)
        for line in format_mc_table(result):
            print(line)
        print(f"wrote {Path(args.run) / 'mc_metrics.json'}" + "".join(f", {p}" for p in result.get("plots", [])))
        return 0
    metrics = evaluate_run(Path(args.run), args.split)
    print(f"{args.split}: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
    return 0
