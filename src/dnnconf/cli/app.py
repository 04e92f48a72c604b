"""The `dnnconf` command: one module a command in this package, each with `add_command(subparsers)` and a
handler that returns the exit code. Heavy imports (torch) happen inside the handlers, so `--help` is instant.

Exit codes: 0 success; 1 the work ran and found errors (a diverged run); 2 bad input, reported as one
line naming the file, key or value (a traceback only with --debug); 130 interrupted.
"""

from __future__ import annotations

import os
import sys

from dnnconf.arguments import Parser
from dnnconf.cli import (
    check,
    compare,
    diagnose,
    evaluate,
    export,
    list_names,
    lr_find,
    predict,
    recommend,
    study,
    sweep,
    train,
)

COMMANDS = (train, evaluate, list_names, predict, lr_find, diagnose, check, recommend, export, sweep, study, compare)


def build_parser() -> Parser:
    parser = Parser(prog="dnnconf", description="Configure and train deep neural networks as the note teaches.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    from dnnconf import __version__

    parser.add_argument("--version", action="version", version=f"dnnconf {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser, metavar="COMMAND")

    for command in COMMANDS:
        command.add_command(commands)
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
