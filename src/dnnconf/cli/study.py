"""`dnnconf study NAME …`: one subcommand a study, each with its own options (see `dnnconf.studies`)."""

from __future__ import annotations

import argparse
from typing import Any

from dnnconf.studies import STUDIES, get_study


def add_command(subparsers: Any) -> argparse.ArgumentParser:
    """Add `study` to the `dnnconf` subcommands, with one sub-subcommand per registered study."""
    parser = subparsers.add_parser("study", help="re-measure one of the note's claims over several seeds",
                                   description="Re-measure one of the note's claims over several seeds: a "
                                               "markdown summary, a CSV of every run, plots.")
    studies = parser.add_subparsers(dest="study", required=True, metavar="NAME",
                                    parser_class=type(parser))
    for name in STUDIES:
        module = get_study(name)
        sub = studies.add_parser(name, help=module.HELP, description=module.__doc__.split("\n\n")[0])
        module.add_arguments(sub)
        sub.set_defaults(handler=module.run)
    return parser
