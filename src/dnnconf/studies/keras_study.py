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

`--jobs J` trains the Keras runs in J spawned processes (each with one torch thread), as the dnnconf runs
(`framework.run_tasks`); every run seeds Keras's streams itself (`keras.utils.set_random_seed`), so a run's
row does not depend on J or on which process trains it. study.json's invocation records the Keras part
(`metadata.record_reference`): its time, the runs trained and read back, the variants refused and why.
`dnnconf study report` puts the side-by-side table on the studies page from OUT/reference-keras/results.csv
(`page_part`, in English or Chinese).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dnnconf.studies.language import plural

REFERENCE_FOLDER = "reference-keras"
REFERENCES = ("keras",)
MEASURES = (("final_val_accuracy", "final val acc"), ("test_accuracy", "test acc"))
# An interval this close to 0 holds it: Keras reports float32 accuracies, dnnconf float64 ones, so two runs
# that classify the same examples (both at chance, say) differ by ~1e-9, not by one example in 10,000.
ROUNDING = 1e-6


def add_reference_argument(parser: Any) -> None:
    parser.add_argument("--reference", choices=REFERENCES, default=None,
                        help="also train every run in Keras 3 (torch backend, same data and seeds) and print both "
                             "side by side (pip install keras)")


def keras_study_row(task: Any, folder: Path) -> tuple[dict[str, Any], bool]:
    """One task trained in Keras (or read back from `folder`/seed-<s>.json): the framework row's accuracy
    columns, `implementation` keras; and whether it was trained now."""
    from dnnconf.config import config_from_dict
    from dnnconf.safe_write import write_atomic
    from dnnconf.studies.keras_reference import train_run

    path = folder / f"seed-{task.seed}.json"
    if path.is_file():
        return json.loads(path.read_text()), False
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
    return row, True


def keras_task(task: Any, folder: str) -> tuple[dict[str, Any] | None, bool, str | None]:
    """(row, trained now, None), or (None, False, why) for a config Keras cannot express; a worker's unit."""
    from dnnconf.errors import ConfigError

    try:
        return (*keras_study_row(task, Path(folder)), None)
    except ConfigError as error:
        return None, False, str(error)


def _worker_start() -> None:
    import torch

    torch.set_num_threads(1)  # J processes × 1 thread, as the dnnconf runs under --jobs


def keras_rows(tasks: list[Any], out: Path, jobs: int, log: Callable[[str], None]
               ) -> tuple[list[dict[str, Any]], dict[str, str], int]:
    """Every task trained in Keras (or read back), in the tasks' order, in `jobs` spawned processes when
    jobs > 1: (rows, {variant: why Keras cannot express it}, runs trained now)."""
    results: dict[int, tuple[dict[str, Any] | None, bool, str | None]] = {}

    def report(index: int, result: tuple[dict[str, Any] | None, bool, str | None]) -> None:
        results[index] = result
        row = result[0]
        if row is not None:
            log(f"keras {row['variant']} seed {row['seed']}: final val acc {row['final_val_accuracy']}")

    if jobs == 1:
        refused: set[str] = set()
        for index, task in enumerate(tasks):
            if task.variant not in refused:  # its other seeds would be refused alike
                report(index, keras_task(task, str(out / task.variant)))
                if results[index][2] is not None:
                    refused.add(task.variant)
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_worker_start) as pool:
            futures = {pool.submit(keras_task, task, str(out / task.variant)): index
                       for index, task in enumerate(tasks)}
            for future in as_completed(futures):
                report(futures[future], future.result())
    ordered = [results[index] for index in sorted(results)]
    reasons = {tasks[index].variant: results[index][2] for index in sorted(results) if results[index][2] is not None}
    rows = [row for row, _, _ in ordered if row is not None]
    return rows, reasons, sum(trained for _, trained, _ in ordered)


def run_reference(study: Any, options: Any, rows: list[dict[str, Any]], log: Callable[[str], None] = print
                  ) -> list[str]:
    """Train the study's tasks in Keras (`options.jobs` processes), write OUT/reference-keras/{results.csv,
    summary.md}, record the part in study.json's last invocation; the summary's lines."""
    import time

    from dnnconf.csv_text import csv_text
    from dnnconf.safe_write import write_atomic
    from dnnconf.studies.framework import tasks_of
    from dnnconf.studies.metadata import now, read_metadata, record_reference

    out = options.out / REFERENCE_FOLDER
    tasks = tasks_of(study, options)
    metadata = read_metadata(options.out)  # the invocation `run_study` recorded: this part completes it
    recording = bool(metadata.get("invocations"))
    if recording:
        record_reference(options.out, metadata, {"implementation": "keras", "runs": len(tasks), "jobs": options.jobs,
                                                 "started": now(), "finished": None})
    started = time.perf_counter()
    theirs, refused, trained = keras_rows(tasks, out, options.jobs, log)
    if recording:
        record_reference(options.out, metadata, {"finished": now(), "seconds": round(time.perf_counter() - started, 1),
                                                 "trained": trained, "read_back": len(theirs) - trained,
                                                 "refused": refused})
    ours = [{**row, "implementation": "dnnconf"} for row in rows]
    labels = list(dict.fromkeys(k for v in study.variants for k in v.labels))
    columns = ["variant", *labels, "implementation", "seed", "epochs_run", "final_val_accuracy", "best_val_accuracy",
               "test_accuracy", "diverged", *(study.measure.columns if study.measure else ())]
    write_atomic(out / "results.csv", csv_text([{k: r.get(k) for k in columns} for r in ours + theirs], columns))
    lines = reference_summary(study, ours, theirs, refused)
    write_atomic(out / "summary.md", "\n".join(lines) + "\n")
    log(f"wrote {out / 'results.csv'}, {out / 'summary.md'}")
    return lines


WORDS = {
    "en": {"title": "dnnconf beside Keras 3",
           "intro": "The same configs, data splits, input scaling and seeds; Keras draws its own initial weights and "
                    "batch order from a seed, so the pairs share data, not randomness. dnnconf − Keras: mean of the "
                    "per-seed differences with its 95% t-interval.",
           "variant": "variant", "seeds": "seeds", "refused": "not expressible in Keras: {why}",
           "missing": "no Keras runs", "measures": {"final val acc": "final val acc", "test acc": "test acc"},
           "verdicts": {}},
    "zh": {"title": "dnnconf 与 Keras 3 对照",
           "intro": "同样的配置、数据划分、输入缩放和种子；Keras 从种子抽取它自己的初始权重和批次顺序，"
                    "所以每一对共享数据，不共享随机性。dnnconf − Keras：各种子差值的均值及其 95% t 区间。",
           "variant": "变体", "seeds": "种子数", "refused": "Keras 没有对应的 {why}", "missing": "没有 Keras 运行",
           "measures": {"final val acc": "最终验证准确率", "test acc": "测试准确率"},
           "verdicts": {"within noise": "在噪声范围内", "differs": "有差别", "too few seeds": "种子太少"}},
}


@dataclass
class Comparison:
    """One variant, dnnconf beside Keras: the table's cells and the verdict, or why Keras has no runs."""

    variant: str
    seeds: int
    cells: list[str]
    verdict: str | None  # "within noise", "differs", "too few seeds"; None when Keras has no runs of it
    refused: str | None = None


def measures_of(study: Any) -> tuple[tuple[str, str], ...]:
    """The accuracies, then the study's per-run measurement's columns when Keras measures them too."""
    from dnnconf.studies.claims import METRIC_NAMES

    measure = getattr(study, "measure", None)
    return MEASURES + tuple((column, METRIC_NAMES.get(column, column.replace("_", " ")))
                            for column in (measure.columns if measure is not None and measure.keras else ()))


def reference_summary(study: Any, ours: list[dict[str, Any]], theirs: list[dict[str, Any]],
                      refused: dict[str, str]) -> list[str]:
    """reference-keras/summary.md: the side-by-side table over every measure Keras has, the columns it has
    not, and the study's paired claims judged on the Keras runs."""
    lines = summary_lines(study, ours, theirs, refused, measures=measures_of(study))
    measure = getattr(study, "measure", None)
    if measure is not None and measure.keras is None:
        lines += ["", f"Not compared: {', '.join(measure.columns)} (this study measures them in dnnconf only)."]
    return lines + keras_claims(study, theirs)


def keras_claims(study: Any, keras_rows: list[dict[str, Any]]) -> list[str]:
    """The study's paired claims judged on the Keras runs (`claims.comparison_lines`), under their own heading."""
    from dnnconf.studies.claims import compare, comparison_lines

    paired = [claim for claim in study.claims if claim.baseline is not None]
    lines = comparison_lines(compare(paired, study.variants, keras_rows), study.target)
    return ["", "## The note's claims, on the Keras runs", *lines[1:]] if lines else []


def compare_implementations(ours: list[dict[str, Any]], theirs: list[dict[str, Any]], refused: dict[str, str],
                            measures: tuple[tuple[str, str], ...] = MEASURES) -> list[Comparison]:
    """Per variant (dnnconf's order), per measure: each implementation's mean ± sd over the seeds both ran and
    dnnconf − Keras paired by seed with its 95% t-interval; "within noise" when every interval holds 0."""
    from dnnconf.studies.stats import mean_std, paired_difference, plus_minus

    out = []
    for variant in dict.fromkeys(row["variant"] for row in ours):
        mine = {r["seed"]: r for r in ours if r["variant"] == variant}
        other = {r["seed"]: r for r in theirs if r["variant"] == variant}
        if variant in refused or not other:
            out.append(Comparison(variant, len(mine), [], None, refused.get(variant)))
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
            verdicts.append(paired.low <= ROUNDING and paired.high >= -ROUNDING)
        verdict = "within noise" if verdicts and all(verdicts) else ("differs" if verdicts else "too few seeds")
        out.append(Comparison(variant, len(mine), cells, verdict))
    return out


def summary_lines(study: Any, ours: list[dict[str, Any]], theirs: list[dict[str, Any]],
                  refused: dict[str, str], lang: str = "en", measures: tuple[tuple[str, str], ...] = MEASURES
                  ) -> list[str]:
    """reference-keras/summary.md (all `measures`) and the study's block on the studies page (the accuracies)
    in `lang` (en, zh)."""
    words = WORDS[lang]
    colon = "：" if lang == "zh" else ": "
    header = f"| {words['variant']} | {words['seeds']} | " + " | ".join(
        f"dnnconf {words['measures'].get(label, label)} | Keras {words['measures'].get(label, label)} | dnnconf − Keras"
        for _, label in measures) + " | |"
    lines = [f"# {study.title}{colon}{words['title']}", "", words["intro"], "", header,
             "|---|---|" + "---|---|---|" * len(measures) + "---|"]
    for row in compare_implementations(ours, theirs, refused, measures):
        if row.verdict is None:
            reason = row.refused if lang == "en" else f"`{refused_setting(row.refused)}`" if row.refused else None
            why = words["refused"].format(why=reason) if reason else words["missing"]
            lines.append(f"| {row.variant} | – | {why} |")
            continue
        verdict = words["verdicts"].get(row.verdict, row.verdict)
        lines.append(f"| {row.variant} | {row.seeds} | " + " | ".join(row.cells) + f" | {verdict} |")
    return lines


GLANCE_WORDS = {
    "en": {"claim": "the study's numbers are its recipes', not dnnconf's: Keras 3 trains the same configs "
                    "(`--reference keras`)",
           "measured": "dnnconf − Keras, final val acc and test acc, paired by seed, {compared}: ",
           "counts": {"within noise": "{n} within noise", "differs": "{n} differ", "too few seeds": "{n} too few seeds",
                      None: "{n} not in Keras"},
           "within": "within noise", "differs": "differs: {names}", "heading": "## {title} (`--reference keras`)"},
    "zh": {"claim": "研究的数字来自配方而不是 dnnconf 的实现：Keras 3 训练同样的配置（`--reference keras`）",
           "measured": "dnnconf − Keras，最终验证准确率和测试准确率，按种子配对，{compared} 个变体：",
           "counts": {"within noise": "{n} 个在噪声范围内", "differs": "{n} 个有差别",
                      "too few seeds": "{n} 个种子太少", None: "{n} 个 Keras 无法表达或没有运行"},
           "within": "在噪声范围内", "differs": "有差别：{names}", "heading": "## {title}（`--reference keras`）"},
}


def refused_setting(reason: str) -> str:
    """The setting a refusal names ("schedule: 'one_cycle'"), without the English explanation after it:
    the Chinese page shows the setting as code."""
    for cut in (" has no Keras counterpart", " with {", "; "):
        reason = reason.split(cut)[0]
    return reason.replace("`", "'")


def recorded_refusals(metadata: dict[str, Any]) -> dict[str, str]:
    """The variants Keras could not express, as the folder's last recorded Keras part says ({} when none is)."""
    for call in reversed(metadata.get("invocations", [])):
        if isinstance(call.get("reference"), dict) and isinstance(call["reference"].get("refused"), dict):
            return call["reference"]["refused"]
    return {}


def page_part(study: Any, rows: list[dict[str, Any]], metadata: dict[str, Any], lang: str = "en"
              ) -> tuple[list[str], tuple[str, str, str]]:
    """The studies page's Keras part of a study, from reference-keras/results.csv's rows (both implementations,
    an `implementation` column): the side-by-side table under a `##` heading, and its at-a-glance line."""
    ours = [row for row in rows if row["implementation"] == "dnnconf"]
    theirs = [row for row in rows if row["implementation"] == "keras"]
    refused = recorded_refusals(metadata)
    table = summary_lines(study, ours, theirs, refused, lang)
    glance = GLANCE_WORDS[lang]
    compared = compare_implementations(ours, theirs, refused)
    counts = {verdict: sum(c.verdict == verdict for c in compared) for verdict in glance["counts"]}
    how_many = len(compared) if lang == "zh" else plural(len(compared), "variant")
    measured = glance["measured"].format(compared=how_many) + ("，" if lang == "zh" else ", ").join(
        text.format(n=counts[verdict]) for verdict, text in glance["counts"].items() if counts[verdict])
    differing = ("、" if lang == "zh" else ", ").join(f"`{c.variant}`" for c in compared if c.verdict == "differs")
    verdict = (glance["differs"].format(names=differing) if differing else
               glance["within"] if counts["within noise"] else "–")
    return [glance["heading"].format(title=WORDS[lang]["title"]), "", *table[2:]], (glance["claim"], measured, verdict)
