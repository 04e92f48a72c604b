"""The `dnnconf` command line: `main` parses and dispatches (`dnnconf.cli.app`); one module per command.
Nothing else in dnnconf imports from this package."""

from dnnconf.cli.app import build_parser, main

__all__ = ["build_parser", "main"]
