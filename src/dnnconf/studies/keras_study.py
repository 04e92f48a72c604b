"""`dnnconf study NAME --reference keras` for the framework's studies (optimizers, schedules, activations,
init): every variant × seed trained again in Keras 3 (`dnnconf.studies.keras_reference`), beside dnnconf's.

Writes OUT/reference-keras/: <variant>/seed-<s>.json (one finished Keras run each: read back, not redone),
results.csv (dnnconf's rows and Keras's, an `implementation` column), summary.md: per variant, both
implementations' mean final validation and test accuracy, and dnnconf − Keras paired by seed with its 95%
t-interval ("within noise" when the interval holds 0, else "differs"). A variant Keras cannot express
(e.g. 1cycle) is listed with the one-line reason and left out, the others still run. A study's per-run
measurement (`framework.RunMeasure`) is compared too when it has a Keras form (`RunMeasure.keras`), else
the summary says its columns were not measured in Keras. The study's paired claims (variant against a
baseline, by seed) are then judged on the Keras runs alone, as summary.md judges them on dnnconf's.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

REFERENCES = ("keras",)
MEASURES = (("final_val_accuracy", "final val acc"), ("test_accuracy", "test acc"))


def add_reference_argument(parser: Any) -> None:
    parser.add_argument("--reference", choices=REFERENCES, default=None,
                        help="also train every run in Keras 3 (torch backend, same data and seeds) and print both "
                             "side by side (pip install keras)")


def keras_study_row(task: Any, folder: Path) -> dict[str, Any]:
    """One task trained in Keras (or read back from `folder`/seed-<s>.json): the framework row's accuracy
    columns, `implementation` keras."""
    from dnnconf.config import config_from_dict
    from dnnconf.safe_write import write_atomic
    from dnnconf.studies.keras_reference import train_run

    path = folder / f"seed-{task.seed}.json"
    if path.is_file():
        return json.loads(path.read_text())
    result = train_run(config_from_dict(task.raw, task.raw["name"]), task.seed)
    history = result["history"]
    accuracies = [a for a in history.get("val_accuracy", []) if math.isfinite(a)]
    diverged = any(not math.isfinite(loss) for loss in history.get("loss", []))
    row = {"study": task.study, "variant": task.variant, **task.labels, "implementation": "keras", "seed": task.seed,
           "epochs_run": len(history.get("loss", [])), "final_val_accuracy": accuracies[-1] if accuracies else None,
           "best_val_accuracy": max(accuracies, default=None),
           "test_accuracy": None if diverged else result["test_accuracy"], "diverged": int(diverged)}
    measure = getattr(task, "measure", None)
    if measure is not None:
        values = measure.keras(result) if measure.keras is not None and not diverged else {}
        row.update({column: values.get(column) for column in measure.columns})
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(row))
    return row


def run_reference(study: Any, options: Any, rows: list[dict[str, Any]], log: Callable[[str], None] = print
                  ) -> list[str]:
    """Train the study's tasks in Keras, write OUT/reference-keras/{results.csv,summary.md}; the summary's lines."""
    from dnnconf.csv_text import csv_text
    from dnnconf.errors import ConfigError
    from dnnconf.safe_write import write_atomic
    from dnnconf.studies.framework import tasks_of

    out = options.out / "reference-keras"
    keras_rows, refused = [], {}
    for task in tasks_of(study, options):
        if task.variant in refused:
            continue
        try:
            keras_rows.append(keras_study_row(task, out / task.variant))
        except ConfigError as error:
            refused[task.variant] = str(error)
            continue
        log(f"keras {task.variant} seed {task.seed}: final val acc {keras_rows[-1]['final_val_accuracy']}")
    ours = [{**row, "implementation": "dnnconf"} for row in rows]
    labels = list(dict.fromkeys(k for v in study.variants for k in v.labels))
    columns = ["variant", *labels, "implementation", "seed", "epochs_run", "final_val_accuracy", "best_val_accuracy",
               "test_accuracy", "diverged", *(study.measure.columns if study.measure else ())]
    write_atomic(out / "results.csv", csv_text([{k: r.get(k) for k in columns} for r in ours + keras_rows], columns))
    lines = summary_lines(study, ours, keras_rows, refused) + keras_claims(study, keras_rows)
    write_atomic(out / "summary.md", "\n".join(lines) + "\n")
    log(f"wrote {out / 'results.csv'}, {out / 'summary.md'}")
    return lines


def keras_claims(study: Any, keras_rows: list[dict[str, Any]]) -> list[str]:
    """The study's paired claims judged on the Keras runs (`claims.comparison_lines`), under their own heading."""
    from dnnconf.studies.claims import compare, comparison_lines

    paired = [claim for claim in study.claims if claim.baseline is not None]
    lines = comparison_lines(compare(paired, study.variants, keras_rows), study.target)
    return ["", "## The note's claims, on the Keras runs", *lines[1:]] if lines else []


def summary_lines(study: Any, ours: list[dict[str, Any]], theirs: list[dict[str, Any]],
                  refused: dict[str, str]) -> list[str]:
    from dnnconf.studies.claims import METRIC_NAMES
    from dnnconf.studies.stats import mean_std, paired_difference, plus_minus

    measure = getattr(study, "measure", None)
    measures = MEASURES + tuple((column, METRIC_NAMES.get(column, column.replace("_", " ")))
                                for column in (measure.columns if measure is not None and measure.keras else ()))

    lines = [f"# {study.title}: dnnconf beside Keras 3", "",
             "The same configs, data splits, input scaling and seeds; Keras draws its own initial weights and batch "
             "order from a seed, so the pairs share data, not randomness. dnnconf − Keras: mean of the per-seed "
             "differences with its 95% t-interval.", "",
             "| variant | seeds | " + " | ".join(f"dnnconf {label} | Keras {label} | dnnconf − Keras" for _, label in
                                              measures) + " | |",
             "|---|---|" + "---|---|---|" * len(measures) + "---|"]
    for variant in dict.fromkeys(row["variant"] for row in ours):
        mine = {r["seed"]: r for r in ours if r["variant"] == variant}
        other = {r["seed"]: r for r in theirs if r["variant"] == variant}
        if variant in refused:
            lines.append(f"| {variant} | – | not expressible in Keras: {refused[variant]} |")
            continue
        cells, verdicts = [], []
        for key, _ in measures:
            seeds = [s for s in sorted(mine) if mine[s].get(key) is not None and other.get(s, {}).get(key) is not None]
            a, b = [other[s][key] for s in seeds], [mine[s][key] for s in seeds]
            cells += [plus_minus(mean_std(b)), plus_minus(mean_std(a))]
            if len(seeds) < 2:
                cells.append("–")
                continue
            paired = paired_difference(a, b)
            cells.append(f"{paired.mean:+.4f} [{paired.low:+.4f}, {paired.high:+.4f}]")
            verdicts.append(paired.low <= 0 <= paired.high)
        verdict = "within noise" if verdicts and all(verdicts) else ("differs" if verdicts else "too few seeds")
        lines.append(f"| {variant} | {len(mine)} | " + " | ".join(cells) + f" | {verdict} |")
    if measure is not None and measure.keras is None:
        lines += ["", f"Not compared: {', '.join(measure.columns)} (this study measures them in dnnconf only)."]
    return lines
