"""The `dnnconf` command. Heavy imports (torch) happen inside the commands, so `--help` is instant.

Exit codes: 0 success; 1 the work ran and found errors (a diverged run); 2 bad input, reported as one
line naming the file, key or value (a traceback only with --debug).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from dnnconf.arguments import Parser, at_most, seed_number, tune_malloc
from dnnconf.limits import MAX_MC_SAMPLES

FAMILIES = ("initializers", "activations", "optimizers", "schedules", "regularizers", "constraints", "layers")
# lr-find, diagnose, check and recommend add their own subcommands (dnnconf.tools, dnnconf.advice)


def cmd_train(args: argparse.Namespace) -> int:
    from dnnconf.config import load_config
    from dnnconf.run import train
    from dnnconf.train.distributed import is_main

    tune_malloc()
    import torch

    torch.set_flush_denormal(True)  # before torch starts its CPU threads, which copy this thread's mode
    config = load_config(args.config, args.set)
    main = is_main()  # under torchrun only rank 0 prints
    args.quiet = args.quiet or not main
    if not args.resume and not _passes_check(config, args):
        return 1
    result = train(config, Path(args.out) if args.out else None, resume=Path(args.resume) if args.resume else None,
                   force=args.force, quiet=args.quiet)
    if not main:
        return 0
    if result.finished:  # --resume of a finished run: final, nothing trained or written (exit 0)
        print(f"dnnconf train: {result.folder}: the run had finished ({result.finished}); nothing to train, "
              f"nothing written")
        return 0
    test = ", ".join(f"{k} {v:.4f}" for k, v in result.test.items())
    print(f"run folder: {result.folder}")
    if test:
        print(f"test: {test}")
    for member in result.members or []:  # training.parallel_seeds: one line per seed, its folder and test
        member_test = ", ".join(f"{k} {v:.4f}" for k, v in member.test.items())
        print(f"  {member.folder.name}: epochs {member.state.epoch}"
              + (f", test: {member_test}" if member_test else ""))
    return 0


def _passes_check(config: object, args: argparse.Namespace) -> bool:
    """The note's rules before training: warnings print, errors stop the run unless --force."""
    from dnnconf.advice import check_config, default_lang, format_text, has_errors

    lang = default_lang()
    findings = [f for f in check_config(config, lang) if f.severity != "info"]
    if findings and not args.quiet:
        print(format_text(findings, args.config, lang), file=sys.stderr)
    if has_errors(findings) and not args.force:
        print(f"dnnconf train: {args.config}: the check found errors; fix them or pass --force", file=sys.stderr)
        return False
    return True


def cmd_evaluate(args: argparse.Namespace) -> int:
    from dnnconf.run import evaluate_run

    if args.mc_samples is not None:  # MC dropout: metrics with and without, plots, mc_metrics.json
        from dnnconf.errors import BadInput
        from dnnconf.tools.uncertainty import evaluate_mc, format_mc_table

        if args.mc_samples < 1:
            raise BadInput(f"--mc-samples: {args.mc_samples} must be at least 1")
        result = evaluate_mc(Path(args.run), args.mc_samples, args.seed, args.split)
        for line in format_mc_table(result):
            print(line)
        print(f"wrote {Path(args.run) / 'mc_metrics.json'}" + "".join(f", {p}" for p in result.get("plots", [])))
        return 0
    metrics = evaluate_run(Path(args.run), args.split)
    print(f"{args.split}: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from dnnconf.nn.activations import ACTIVATIONS
    from dnnconf.nn.constraints import CONSTRAINTS
    from dnnconf.nn.initializers import INITIALIZERS
    from dnnconf.nn.layers import LAYERS
    from dnnconf.nn.regularizers import REGULARIZERS
    from dnnconf.optim.optimizers import OPTIMIZERS
    from dnnconf.optim.schedules import SCHEDULES

    registries = {"initializers": INITIALIZERS, "activations": ACTIVATIONS, "optimizers": OPTIMIZERS,
                  "schedules": SCHEDULES, "regularizers": REGULARIZERS, "constraints": CONSTRAINTS, "layers": LAYERS}
    chosen = [args.family] if args.family else list(registries)
    for family in chosen:
        print(f"{family}:")
        for entry in registries[family]:
            params = ", ".join(entry.params.model_fields)
            aliases = f" (also {', '.join(entry.aliases)})" if entry.aliases else ""
            print(f"  {entry.name:<20} {entry.description}{aliases}" + (f"  [{params}]" if params else ""))
    return 0


def build_parser() -> Parser:
    parser = Parser(prog="dnnconf", description="Configure and train deep neural networks as the note teaches.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    from dnnconf import __version__

    parser.add_argument("--version", action="version", version=f"dnnconf {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser, metavar="COMMAND")

    train = commands.add_parser("train", help="train a config into a run folder")
    train.add_argument("config", help="YAML config file")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config key, e.g. optimizer.learning_rate=0.1 (repeatable)")
    train.add_argument("--out", help="the run folder (default runs/<name>-<timestamp>)")
    train.add_argument("--resume", metavar="RUN", help="continue the run in this folder from its last checkpoint")
    train.add_argument("--quiet", action="store_true", help="one line per epoch at most, no progress bar")
    train.add_argument("--force", action="store_true", help="write into a non-empty --out; resume a changed config")
    train.set_defaults(handler=cmd_train)

    evaluate = commands.add_parser("evaluate", help="metrics of a trained run")
    evaluate.add_argument("run", help="run folder")
    evaluate.add_argument("--split", choices=("train", "valid", "test"), default="test")
    evaluate.add_argument("--mc-samples", type=at_most(MAX_MC_SAMPLES), default=None, metavar="N",
                          help="also MC dropout with N samples: accuracy, NLL, Brier, ECE with and without, "
                               "plots/reliability.png, plots/uncertainty.png, mc_metrics.json")
    evaluate.add_argument("--seed", type=seed_number(), default=0, help="seed of the MC dropout masks (default 0)")
    evaluate.set_defaults(handler=cmd_evaluate)

    listing = commands.add_parser("list", help="the names each registry knows")
    listing.add_argument("family", nargs="?", choices=FAMILIES)
    listing.set_defaults(handler=cmd_list)

    from dnnconf.advice.commands import add_commands as add_advice
    from dnnconf.studies.command import add_command as add_study
    from dnnconf.tools.diagnose_command import add_command as add_diagnose
    from dnnconf.tools.export_command import add_command as add_export
    from dnnconf.tools.lr_find_command import add_command as add_lr_find
    from dnnconf.tools.predict_command import add_command as add_predict
    from dnnconf.tools.sweep_command import add_command as add_sweep

    add_predict(commands)
    add_lr_find(commands)
    add_diagnose(commands)
    add_advice(commands)
    add_export(commands)
    add_sweep(commands)
    add_study(commands)
    __import__("dnnconf.tools.compare_command", fromlist=["add_command"]).add_command(commands)  # dnnconf compare
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from dnnconf.errors import DnnconfError
    from dnnconf.train.threads import at_process_start

    at_process_start()  # before torch loads: the window that measures the other work on the cores starts

    try:
        if args.command != "train" and os.environ.get("WORLD_SIZE", "1") not in ("", "1"):
            from dnnconf.train.distributed import refuse_under_torchrun

            refuse_under_torchrun(args.command)  # only train is distributed; the others would race or hang
        return args.handler(args)
    except DnnconfError as error:
        if args.debug:
            raise
        rank = os.environ.get("RANK", "0")
        if not getattr(error, "reported_by_main", False):  # under torchrun: once, not by every process
            where = f" (rank {rank})" if rank != "0" else ""
            print(f"dnnconf {args.command}{where}: {error}", file=sys.stderr)
        return error.exit_code
    except OSError as error:  # an unwritable or full output folder, a file that vanished mid-run
        if args.debug:
            raise
        where = f"{error.filename}: " if error.filename else ""
        print(f"dnnconf {args.command}: {where}{error.strerror or error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"dnnconf {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
