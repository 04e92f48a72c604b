"""`dnnconf train CONFIG [--set KEY=VALUE]… [--out RUN] [--resume RUN] [--quiet] [--force]`: train a config
into a run folder (`dnnconf.run.train`), after the note's rules pass (`dnnconf check`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from dnnconf.train.malloc import tune_malloc


def add_command(commands: Any) -> None:
    train = commands.add_parser("train", help="train a config into a run folder")
    train.add_argument("config", help="YAML config file")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config key, e.g. optimizer.learning_rate=0.1 (repeatable)")
    train.add_argument("--out", help="the run folder (default runs/<name>-<timestamp>)")
    train.add_argument("--resume", metavar="RUN", help="continue the run in this folder from its last checkpoint")
    train.add_argument("--quiet", action="store_true", help="one line per epoch at most, no progress bar")
    train.add_argument("--force", action="store_true", help="write into a non-empty --out; resume a changed config")
    train.set_defaults(handler=cmd_train)


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
