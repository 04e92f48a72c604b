"""A study from its command line to its outputs: options from the profile, the study built and prepared,
every (variant, seed) run or read back (`dnnconf.studies.framework`), then results.csv, summary.md and the
plots (`dnnconf.studies.report`), with the invocation recorded in study.json (`dnnconf.studies.metadata`)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dnnconf.studies.framework import ROW_FILE, Options, Profile, Study, options_from, run_tasks, tasks_of
from dnnconf.studies.keras_reference import import_keras
from dnnconf.studies.keras_study import run_reference
from dnnconf.studies.language import plural
from dnnconf.studies.metadata import finish_invocation, start_invocation
from dnnconf.studies.report import summary_table, write_outputs


def command_line(study: Study, options: Options, reference: str | None = None) -> str:
    """The `dnnconf study` command equivalent to this invocation (every option spelled out, `--reference`
    when given)."""
    size = options.train_size if options.train_size is not None else "all"
    own = "".join(f" --{key.replace('_', '-')} {value}" for key, value in study.parameters.items())
    return (f"dnnconf study {study.name} --seeds {options.seeds} --epochs {options.epochs} --dataset "
            f"{options.dataset} --train-size {size}{own} --jobs {options.jobs} --threads {options.threads}"
            + (" --vectorize" if options.vectorize else "") + (" --quick" if options.quick else "")
            + (f" --reference {reference}" if reference else "")
            + f" --out {options.out}")


def run_study(study: Study, options: Options, log: Callable[[str], None] = print, reference: str | None = None
              ) -> list[dict[str, Any]]:
    """Run (or resume) every variant × seed, then write results.csv, summary.md and the plots; study.json
    records the invocation (`dnnconf.studies.metadata`; `reference`: the Keras part that follows, which
    `keras_study.run_reference` records)."""
    tasks = tasks_of(study, options)
    profile = {"epochs": options.epochs, "dataset": options.dataset, "train_size": options.train_size}
    finished_before = sum((Path(task.folder) / ROW_FILE).is_file() for task in tasks)
    metadata = start_invocation(options.out, profile, {"study": study.name, "quick": options.quick,
                                                       "parameters": study.parameters},
                                {"command": command_line(study, options, reference), "seeds": options.seeds,
                                 "runs": len(tasks), "jobs": options.jobs, "threads": options.threads,
                                 "vectorize": options.vectorize})
    log(f"study {study.name}: {plural(len(study.variants), 'variant')} × {plural(options.seeds, 'seed')} = "
        f"{plural(len(tasks), 'run')}, "
        f"{options.epochs} epochs, {options.dataset}"
        + (f" (first {options.train_size} training images)" if options.train_size else "") + f", --jobs {options.jobs}"
        + (", seeds batched (--vectorize)" if options.vectorize else ""))
    started = time.perf_counter()
    rows = run_tasks(tasks, options.jobs, log, options.vectorize)
    finish_invocation(options.out, metadata, time.perf_counter() - started, len(tasks) - finished_before)
    files = write_outputs(study, options, rows)
    log("wrote " + ", ".join(str(p) for p in files))
    return rows


def prepare(study: Study, options: Options) -> Study:
    """The study as this profile runs it: --quick's variants only, no published numbers off Fashion-MNIST."""
    if options.quick and study.quick_variants:
        study.variants = [v for v in study.variants if v.name in study.quick_variants]
    if options.dataset != "fashion_mnist" and any(v.published is not None for v in study.variants):
        study.variants = [dataclasses.replace(v, published=None) for v in study.variants]
        study.notes.append("the published numbers are Fashion-MNIST's: left out for this dataset")
        study.notes_zh.append("公布的数字是 Fashion-MNIST 上的：这个数据集不列出")
    return study


def run_command(args: Any, build: Callable[[Options], Study], full: Profile, quick: Profile) -> int:
    """A study module's `run(args)`: options from the profile, build the study, run it, print the table."""
    options = options_from(args, full, quick)
    study = prepare(build(options), options)
    reference = getattr(args, "reference", None)  # --reference keras (dnnconf.studies.keras_study)
    if reference:
        import_keras()  # a missing Keras is one line before the dnnconf runs, not after them
    rows = run_study(study, options, reference=reference)
    print("\n".join(summary_table(study, rows)))
    if reference:
        print("\n".join(run_reference(study, options, rows)))
    return 0
