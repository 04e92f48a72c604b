"""`dnnconf recommend [--deep] [--self-normalizing] [--regularize] [--sparse] [--low-latency]
[--risk-sensitive] [--schedule performance|one_cycle] [--optimizer nesterov|adamw]
[--task classification|binary|regression] [--dataset NAME] [--input-shape 28,28] [--classes N]
[--hidden 300,100] [--name NAME] [--out FILE]` prints (or writes) a complete configuration from the
note's summary tables, each choice commented (`dnnconf.advice.recommend`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from dnnconf.arguments import whole_number
from dnnconf.safe_write import write_atomic


def _sizes(text: str) -> tuple[int, ...]:
    """`300,100` → (300, 100); argparse turns the error into one line and exit 2."""
    try:
        sizes = tuple(int(part) for part in text.replace(" ", "").strip("[]").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers, e.g. 300,100") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: every size must be at least 1")
    return sizes


def add_command(subparsers: Any) -> None:
    """Add `recommend` to the `dnnconf` subparsers."""
    from dnnconf.advice.recommend import DATASETS

    recommend = subparsers.add_parser(
        "recommend", help="print a configuration following the note's summary tables",
        description="Print a complete configuration following the note's summary tables (§6), every choice "
                    "commented with its reason and the note's section.")
    table = recommend.add_argument_group("the summary tables")
    table.add_argument("--deep", action="store_true", help="a deep network: Swish and batch norm (default table)")
    table.add_argument("--self-normalizing", action="store_true",
                       help="the self-normalizing table: LeCun normal, SELU, no normalization, Nesterov")
    table.add_argument("--regularize", action="store_true",
                       help="add the table's regularization: weight decay (default), alpha dropout (self-normalizing)")
    table.add_argument("--schedule", choices=("performance", "one_cycle"), default="performance",
                       help="learning-rate schedule (default performance)")
    table.add_argument("--optimizer", choices=("nesterov", "adamw"), default="nesterov",
                       help="the default table's optimizer (default nesterov)")
    exceptions = recommend.add_argument_group("the exceptions")
    exceptions.add_argument("--sparse", action="store_true", help="a sparse model: l1 regularization")
    exceptions.add_argument("--low-latency", action="store_true",
                            help="fewer layers, ReLU, batch norm folded and lower precision at export")
    exceptions.add_argument("--risk-sensitive", action="store_true",
                            help="dropout on the top layers, for MC dropout at evaluation")
    task = recommend.add_argument_group("the task")
    task.add_argument("--task", choices=("classification", "binary", "regression"), default="classification")
    task.add_argument("--dataset", choices=tuple(DATASETS), default="fashion_mnist")
    task.add_argument("--input-shape", type=_sizes, metavar="H,W", help="e.g. 28,28 (default: the dataset's)")
    task.add_argument("--classes", type=whole_number(2, "a classifier needs at least 2 classes"), metavar="N",
                      help="output units (default: inferred from the data)")
    task.add_argument("--hidden", type=_sizes, metavar="UNITS", help="hidden layer sizes, e.g. 300,100")
    task.add_argument("--name", help="the config's name (default: from the options)")
    recommend.add_argument("--out", metavar="FILE", help="write the YAML here instead of printing it")
    recommend.set_defaults(handler=cmd_recommend)


def cmd_recommend(args: argparse.Namespace) -> int:
    from dnnconf.advice.recommend import Options, recommend

    options = Options(deep=args.deep, self_normalizing=args.self_normalizing, regularize=args.regularize,
                      sparse=args.sparse, low_latency=args.low_latency, risk_sensitive=args.risk_sensitive,
                      schedule=args.schedule, optimizer=args.optimizer, task=args.task, dataset=args.dataset,
                      input_shape=args.input_shape, classes=args.classes, hidden=args.hidden, name=args.name)
    text = recommend(options)
    if not args.out:
        print(text, end="")
        return 0
    write_atomic(Path(args.out), text)  # a failure names the file; the user's previous file stays whole
    print(f"wrote {args.out}")
    return 0
