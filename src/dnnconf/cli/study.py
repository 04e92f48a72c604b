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
    from dnnconf.studies import suite

    every = studies.add_parser("all", help="run every study into DIR/<name>, then write DIR/studies.md",
                               description=suite.__doc__.split("\n\n")[0])
    suite.add_all_arguments(every)
    every.set_defaults(handler=suite.run_all)
    report = studies.add_parser("report", help="write the studies page from study folders",
                                description="Write the studies page (tables, claims with paired 95%% intervals "
                                            "and verdicts, plots) from study folders; nothing in them is written.")
    suite.add_report_arguments(report)
    report.set_defaults(handler=suite.run_report)
    return parser
