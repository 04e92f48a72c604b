"""`dnnconf compare RUN RUN… [--out DIR] [--lang en|zh] [--format markdown|csv]`: runs, study variants
or sweep trials side by side in one page (compare.html), with the metrics table printed for the terminal.
The work is `dnnconf.report.compare`."""

from __future__ import annotations

import argparse
from typing import Any


def cmd_compare(args: argparse.Namespace) -> int:
    from dnnconf.report.compare import compare

    result = compare(args.runs, args.out, args.lang)
    print((result.folder / "compare.csv").read_text() if args.format == "csv" else result.markdown, end="")
    print(f"wrote {result.folder / 'compare.html'}, compare.md, compare.csv")
    return 0


def add_command(commands: Any) -> None:
    parser = commands.add_parser(
        "compare", help="runs, a study's variants or a sweep's trials side by side (compare.html)",
        description="Overlay the learning curves of run folders (or every variant of a `dnnconf study` folder, every "
                    "trial of a `dnnconf sweep` folder: the mean ± std over seeds) on shared axes, with the config "
                    "keys that differ and the final/best/test metrics side by side.")
    parser.add_argument("runs", nargs="+", metavar="RUN", help="run, parallel-seeds, study or sweep folders "
                        "(2 runs or more in all)")
    parser.add_argument("--out", metavar="DIR", help="where compare.html/.md/.csv go (default runs/compare-<time>)")
    parser.add_argument("--lang", choices=("en", "zh"), default=None,
                        help="the page's first language (default: zh under a zh locale, else en; the page switches)")
    parser.add_argument("--format", choices=("markdown", "csv"), default="markdown", help="what is printed")
    parser.set_defaults(handler=cmd_compare)
