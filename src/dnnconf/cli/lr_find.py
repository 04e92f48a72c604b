"""`dnnconf lr-find CONFIG`: the learning-rate range test on the config's model, data and optimizer.

Writes lr_find.png, lr_find.csv and lr_find.json into --out (default runs/lr-find-<name>-<timestamp>/),
prints each rule's suggestion (with its band over --repeats batch orders) and the recommended one, and
with --apply FILE writes the resolved config using it. Bad options exit 2 with one line.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from dnnconf.arguments import at_most
from dnnconf.errors import RunFolderError


def add_command(subparsers: Any) -> argparse.ArgumentParser:
    """Add `lr-find` to the `dnnconf` subcommands; its handler is `cmd_lr_find`."""
    parser = subparsers.add_parser(
        "lr-find", help="learning-rate range test: plot, suggestions; weights and optimizer restored",
        description="Sweep the learning rate exponentially from --min-lr to --max-lr over --steps optimizer steps "
                    "(the note's section 4), record each batch's loss, and suggest a learning rate.")
    parser.add_argument("config", help="YAML config file")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. training.batch_size=128 (repeatable)")
    parser.add_argument("--min-lr", type=float, default=1e-6, help="first learning rate (default 1e-6)")
    parser.add_argument("--max-lr", type=float, default=10.0, help="last learning rate (default 10)")
    parser.add_argument("--steps", type=at_most(least=10), default=None,
                        help="optimizer steps of the sweep (default: one epoch's, within 200..300; at least 10)")
    parser.add_argument("--repeats", type=at_most(), default=1,
                        help="sweeps on that many batch orders; each suggestion gets a band (default 1)")
    parser.add_argument("--out", help="folder for lr_find.png/.csv/.json (default runs/lr-find-<name>-<timestamp>)")
    parser.add_argument("--apply", metavar="FILE",
                        help="write the resolved config with the recommended learning rate as "
                             "optimizer.learning_rate (schedule.max_lr for one_cycle)")
    parser.set_defaults(handler=cmd_lr_find)
    return parser


def default_folder(name: str, root: Path = Path("runs")) -> Path:
    from dnnconf.train.run_folder.naming import timestamped_folder

    return timestamped_folder(f"lr-find-{name}", root)


def _check_folder(folder: Path) -> None:
    if folder.exists() and not folder.is_dir():
        raise RunFolderError(f"--out {folder}: exists and is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RunFolderError(f"--out {folder}: cannot create the folder ({error.strerror})") from None


def _check_apply(path: Path) -> None:
    if path.is_dir():
        raise RunFolderError(f"--apply {path}: is a folder; give a file name such as tuned.yaml")
    if not path.parent.is_dir():
        raise RunFolderError(f"--apply {path}: the folder {path.parent} does not exist")


def cmd_lr_find(args: argparse.Namespace, log: Any = print) -> int:
    from dnnconf.config import dump_config, load_config
    from dnnconf.lr_finder.curve import RULES
    from dnnconf.lr_finder.finder import DIVERGENCE_FACTOR, check_options, lr_find
    from dnnconf.lr_finder.outputs import applied_config, write_outputs
    from dnnconf.safe_write import write_atomic

    check_options(args.min_lr, args.max_lr, args.steps, args.repeats)  # before the slow part
    config = load_config(args.config, args.set)
    apply = Path(args.apply) if args.apply else None
    if apply is not None:
        _check_apply(apply)
    folder = Path(args.out) if args.out else default_folder(config.name)
    _check_folder(folder)
    try:
        from dnnconf.train.malloc import tune_malloc  # fewer page faults a step, as for `train`

        tune_malloc()
    except ImportError:
        pass
    result = lr_find(config, min_lr=args.min_lr, max_lr=args.max_lr, steps=args.steps, repeats=args.repeats)
    repeats = len(result.lrs)
    orders = f"{repeats} batch orders" if repeats > 1 else "1 batch order"
    log(f"lr-find {result.config.name}: {result.steps} steps from {result.min_lr:.3g} to {result.max_lr:.3g}, "
        f"batches of {result.batch_size}, {orders}, {result.seconds:.1f} s")
    diverged = [lr for lr in result.diverged_lr if lr is not None]
    if diverged:
        log(f"the loss diverged (smoothed loss > {DIVERGENCE_FACTOR:g} x its best, or NaN) at lr "
            + ", ".join(f"{lr:.3g}" for lr in diverged))
    else:
        log(f"the smoothed loss stayed below {DIVERGENCE_FACTOR:g} x its best up to --max-lr (no divergence)")
    log(f"  {'rule':<10}{'lr':>10}" + (f"  {'band (lowest-highest)':<22}" if repeats > 1 else ""))
    for name in RULES:
        low, high = result.band[name]
        band = f"  {f'{low:.3g} - {high:.3g}':<22}" if repeats > 1 else ""
        mark = "  <- recommended" if name == result.recommended else ""
        log(f"  {name:<10}{result.suggestions[name]:>10.3g}{band}{mark}")
    log(f"recommended: {result.recommended} = {result.recommended_lr:.3g} ({result.why})")
    for warning in result.warnings:
        log(f"warning: {warning}")
    paths = write_outputs(result, folder, title=result.config.name)
    log(f"wrote {folder}/: " + ", ".join(p.name for p in paths))
    if apply is not None:
        tuned = applied_config(result.config, result.recommended_lr)
        write_atomic(apply, dump_config(tuned))
        schedule = tuned.schedule if isinstance(tuned.schedule, dict) else {"name": tuned.schedule}
        key, value = (("schedule.max_lr", schedule["max_lr"]) if schedule.get("name") == "one_cycle"
                      else ("optimizer.learning_rate", tuned.optimizer.model_dump()["learning_rate"]))
        log(f"applied: {apply} ({key}: {value:g})")
    return 0
