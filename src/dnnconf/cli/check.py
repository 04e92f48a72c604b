"""`dnnconf check CONFIG [--set KEY=VALUE]… [--format text|json] [--lang en|zh]` lints a configuration
(a YAML file, or a run folder's config.yaml) against the note's rules (`dnnconf.advice.rules`).
The language is `--lang`, else the locale: zh when LC_ALL, LC_MESSAGES or LANG (the first one set)
starts with "zh", en otherwise.

Exit codes: 0 no findings, or warnings and info only; 1 at least one error; 2 the config could not be
read or does not validate (one line on stderr, no report).

`--format json` prints one JSON object (UTF-8, the same schema in every language; only `message` and
`fix` are translated):

    {
      "config": "examples/fashion_mnist_default.yaml",     # the path as given (a run folder: its config.yaml)
      "findings": [                                        # errors first, then warnings, then info; by id
        {
          "id": "DNC110",                                  # stable rule id, see `rules_markdown()`
          "severity": "error",                             # "error" | "warning" | "info"
          "message": "SELU normalizes on its own; …",      # what was found, in --lang
          "fix": "remove batch norm (model.batch_norm: none), …",
          "section": "§1.2",                               # the note's section the rule comes from
          "path": "model.batch_norm"                       # the config key to change
        }
      ],
      "counts": {"error": 1, "warning": 0, "info": 0}
    }
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from dnnconf.advice.messages import LANGS


def add_command(subparsers: Any) -> None:
    """Add `check` to the `dnnconf` subparsers."""
    check = subparsers.add_parser("check", help="lint a configuration against the note's rules",
                                  description="Lint a configuration against the note's rules. Exit 0: clean or "
                                              "warnings only; 1: errors; 2: the config cannot be read.")
    check.add_argument("config", help="YAML config file, or a run folder")
    check.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config key before checking (repeatable)")
    check.add_argument("--format", choices=("text", "json"), default="text", help="report format (default text)")
    check.add_argument("--lang", choices=LANGS, default=None,
                       help="language of the messages (default: zh when the locale starts with zh, else en)")
    check.set_defaults(handler=cmd_check)


def cmd_check(args: argparse.Namespace) -> int:
    from dnnconf.advice.rules import check_config, default_lang, findings_json, format_text, has_errors
    from dnnconf.config import load_config

    path = Path(args.config)
    if path.is_dir() and (path / "config.yaml").is_file():
        path = path / "config.yaml"
    config = load_config(path, args.set)  # ConfigError: one line, exit 2 (dnnconf.cli.app)
    lang = args.lang or default_lang()
    findings = check_config(config, lang)
    if args.format == "json":
        print(json.dumps(findings_json(findings, str(path)), ensure_ascii=False, indent=2))
    else:
        print(format_text(findings, str(path), lang))
    return 1 if has_errors(findings) else 0
