"""`dnnconf study all` (every study into DIR/<name>, then DIR/studies.md) and `dnnconf study report` (the page).

`study all` runs the registered studies one after another, each with its own parser and defaults, passing
on --seeds, --quick, --jobs, --threads, --vectorize and --reference where the study has them (a missing
Keras is one line before any study runs); each study resumes from
what its folder holds, so rerunning `study all` finishes an interrupted suite and more --seeds only adds
runs. It prints each study's start and duration and the total, then writes the page
(`dnnconf.studies.page`) over the folders it ran.
"""

from __future__ import annotations

import argparse
import difflib
import time
from pathlib import Path
from typing import Any

from dnnconf.studies.keras_study import REFERENCES

PASSED_ON = ("seeds", "jobs", "threads", "reference")  # valued options `study all` passes to the studies that have them
FLAGS = ("quick", "vectorize")


def add_all_arguments(parser: argparse.ArgumentParser) -> None:
    from dnnconf.arguments import at_most
    from dnnconf.limits import MAX_JOBS, MAX_STUDY_SEEDS, MAX_THREADS

    parser.add_argument("--out", default="runs/studies", help="the suite's folder: DIR/<study> each, DIR/studies.md "
                                                              "(default runs/studies)")
    parser.add_argument("--only", default=None, help="comma-separated study names to run (default: all)")
    parser.add_argument("--seeds", type=at_most(MAX_STUDY_SEEDS), default=None,
                        help="seeds per variant (default: each study's own, 5 in the full profiles)")
    parser.add_argument("--jobs", type=at_most(MAX_JOBS), default=None,
                        help="parallel processes, for the studies that take --jobs (default 1)")
    parser.add_argument("--threads", type=at_most(MAX_THREADS), default=None, help="torch threads per run "
                        "(default 1)")
    parser.add_argument("--quick", action="store_true", help="every study's CI profile (digits, seconds)")
    parser.add_argument("--vectorize", action="store_true", help="batch each variant's seeds (where supported)")
    parser.add_argument("--reference", choices=REFERENCES, default=None,
                        help="also train every run of the studies Keras can express in Keras 3 (torch backend), side "
                             "by side on the page (pip install keras)")
    parser.add_argument("--template", default=None, help="the page's template (default: a plain page)")


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folders", nargs="+", metavar="DIR", help="study folders (`dnnconf study NAME --out DIR`)")
    parser.add_argument("--out", required=True, help="the page to write, e.g. docs/studies.md (plots go to "
                                                     "images/studies/ beside it)")
    parser.add_argument("--template", default=None, help="markdown with `<!-- generated: … -->` lines, e.g. "
                                                         "docs/snippets/studies-template.md (default: a plain page)")
    parser.add_argument("--lang", default="en", choices=("en", "zh"),
                        help="the page's language: the generator's words (table headers, verdicts, claims, notes); "
                             "numbers, names and commands are the same (default en; zh: use "
                             "docs/snippets/studies-template.zh.md)")


def chosen_studies(only: str | None) -> list[str]:
    """The studies `--only` names, in the registry's order (an unknown name: BadInput with the nearest)."""
    from dnnconf.errors import BadInput
    from dnnconf.studies import STUDIES

    if only is None:
        return list(STUDIES)
    names = [name.strip() for name in only.split(",") if name.strip()]
    for name in names:
        if name not in STUDIES:
            near = difflib.get_close_matches(name, STUDIES, n=1)
            raise BadInput(f"--only: unknown study {name!r}" + (f" (did you mean {near[0]!r}?)" if near else "")
                           + f"; known: {', '.join(STUDIES)}")
    if not names:
        raise BadInput(f"--only: {only!r} names no study; known: {', '.join(STUDIES)}")
    return [name for name in STUDIES if name in names]


def study_arguments(name: str, args: argparse.Namespace, out: Path) -> argparse.Namespace:
    """Study `name`'s own arguments, its defaults, with the options `study all` passes on."""
    from dnnconf.arguments import Parser
    from dnnconf.studies import get_study

    parser = Parser(prog=f"dnnconf study {name}")
    get_study(name).add_arguments(parser)
    known = parser._option_string_actions  # argparse's table of the study's option strings
    argv = ["--out", str(out)]
    for option in PASSED_ON:
        value = getattr(args, option)
        if value is not None and f"--{option}" in known:
            argv += [f"--{option}", str(value)]
    argv += [f"--{flag}" for flag in FLAGS if getattr(args, flag) and f"--{flag}" in known]
    return parser.parse_args(argv)


def run_all(args: argparse.Namespace, log: Any = print) -> int:
    from dnnconf.studies import get_study
    from dnnconf.studies.page import write_page

    names = chosen_studies(args.only)
    if getattr(args, "reference", None):
        from dnnconf.studies.keras_reference import import_keras

        import_keras()  # a missing Keras is one line now, not after the first studies' runs
    out = Path(args.out)
    started = time.perf_counter()
    folders = []
    for index, name in enumerate(names, start=1):
        folder = out / name
        study_args = study_arguments(name, args, folder)
        log(f"== [{index}/{len(names)}] study {name} → {folder}")
        begun = time.perf_counter()
        code = get_study(name).run(study_args)
        if code:
            return code
        folders.append(folder)
        log(f"== {name}: {time.perf_counter() - begun:.0f} s")
    written = write_page(folders, out / "studies.md", Path(args.template) if args.template else None)
    log(f"wrote {written[0]} ({len(written) - 1} plots)")
    log(f"all {len(names)} studies: {time.perf_counter() - started:.0f} s")
    return 0


def run_report(args: argparse.Namespace) -> int:
    from dnnconf.studies.page import write_page

    written = write_page([Path(folder) for folder in args.folders], Path(args.out),
                         Path(args.template) if args.template else None, args.lang)
    print(f"wrote {written[0]} ({len(written) - 1} plots under {Path(args.out).parent / 'images' / 'studies'})")
    return 0
