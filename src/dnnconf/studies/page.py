"""`dnnconf study report DIR… --out PAGE`: the studies page, generated from study folders, never copied by hand.

Each DIR is a study folder (`dnnconf study NAME --out DIR`): its study.json (profile, parameters and the
record of its invocations, `dnnconf.studies.metadata`), results.csv (one row a run) and plots. The study
is rebuilt from its module with the folder's profile (no run is trained; nothing in DIR is written) and
its tables come from the same functions as its summary.md, so the page's tables are the folders' tables;
the plots are copied to `images/studies/` beside the page.

The page's prose lives in a template (`--template`, e.g. docs/snippets/studies-template.md): markdown
with marker lines the generator replaces:
- `<!-- generated: how-measured -->`: per folder, the command, seeds, runs, dates, wall time, machine;
- `<!-- generated: glance -->`: the at-a-glance table, one line a claim: the paired difference and its
  95% interval (or the count of verdicts when a claim has several comparisons);
- `<!-- generated: study NAME -->`: study NAME's tables, claims and plots, one block per folder.
Without a template the page is the three blocks with the studies' titles. Studies without the shared
framework (transfer, pretraining) are included as their summary.md, headings one level down.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dnnconf.errors import BadInput, RunFolderError
from dnnconf.safe_write import write_atomic
from dnnconf.studies import STUDIES, get_study
from dnnconf.studies.claims import compare, glance_cells
from dnnconf.studies.framework import RUN_COLUMNS, Options
from dnnconf.studies.keras_study import REFERENCE_FOLDER, page_part
from dnnconf.studies.language import check_language
from dnnconf.studies.metadata import read_metadata
from dnnconf.studies.report import judged_claims, summary_lines
from dnnconf.studies.runner import prepare

MARKER = re.compile(r"^<!--\s*generated:\s*(how-measured|glance|study\s+(\S+))\s*-->\s*$")
INTEGERS = ("seed", "epochs_run", "diverged")
TEXTS = ("study", "variant", "stop_reason", "folder")
IMAGES = "images/studies"


@dataclass
class Folder:
    path: Path
    name: str
    metadata: dict[str, Any]
    lines: list[str]  # the section's markdown: summary.md's body, image links pointing at the copies
    glance: list[tuple[str, str, str]] = field(default_factory=list)
    images: dict[str, Path] = field(default_factory=dict)  # copy's name → source
    runs: list[dict[str, Any]] = field(default_factory=list)


def read_rows(path: Path, labels: set[str]) -> list[dict[str, Any]]:
    """results.csv's rows, typed as `run_study` returns them (empty cells: None; labels stay text)."""

    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    typed = []
    for number, row in enumerate(rows, start=2):
        out: dict[str, Any] = {}
        for key, text in row.items():
            try:
                if key in TEXTS or key in labels or key is None:
                    out[key] = text
                elif text in ("", None):
                    out[key] = None
                else:
                    out[key] = int(text) if key in INTEGERS else float(text)
            except ValueError:
                raise RunFolderError(f"{path}, line {number}: column {key} holds {text[:40]!r}, not a number") from None
        typed.append(out)
    return typed


def _section(lines: list[str], images: dict[str, str]) -> list[str]:
    """summary.md's body for the page: no title, headings one level down, image links to the copies."""
    out = []
    for line in lines[1:] if lines and lines[0].startswith("# ") else lines:
        if line.startswith("#"):
            line = "#" + line
        for source, copy in images.items():
            line = line.replace(f"]({source})", f"]({copy})")
        out.append(line)
    while out and not out[0].strip():
        out.pop(0)
    while out and not out[-1].strip():
        out.pop()
    return out


def expand(paths: list[Path]) -> list[Path]:
    """The study folders: each path that holds a results.csv, or else the folders directly inside it that do
    (`dnnconf study all`'s DIR); a path that is neither is a RunFolderError."""

    out = []
    for path in paths:
        if (path / "results.csv").is_file():
            out.append(path)
            continue
        inside = sorted(p for p in path.iterdir() if (p / "results.csv").is_file()) if path.is_dir() else []
        if not inside:
            raise RunFolderError(f"{path}: not a study folder (no results.csv, nor a folder of study folders; run "
                                 f"`dnnconf study NAME --out {path}`)")
        out += inside
    return out


def study_name(path: Path) -> str:
    """The study a folder holds: study.json's `study`, else results.csv's `study` column, else the folder name."""

    with (path / "results.csv").open(newline="") as handle:
        first = next(csv.DictReader(handle), None)
    for name in (read_metadata(path).get("study"), (first or {}).get("study"), path.name):
        if name in STUDIES:
            return name
    raise RunFolderError(f"{path}: study.json, results.csv and the folder's name name no known study; known: "
                         f"{', '.join(STUDIES)}")


def load_folder(path: Path, name: str, image_prefix: str, lang: str = "en") -> Folder:
    """One study folder, read only: its study rebuilt from the module, its summary and glance lines."""

    metadata = read_metadata(path)
    module = get_study(name)
    pngs = sorted(p.name for p in path.glob("*.png"))
    images = {png: f"{image_prefix}-{png}" for png in pngs}
    if not hasattr(module, "build"):  # a study of its own kind: its summary.md as written
        summary = path / "summary.md"
        if not summary.is_file():
            raise RunFolderError(f"{summary}: missing (rerun `dnnconf study {name} --out {path}` to write it)")
        written = summary.read_text().splitlines()
        if lang != "en" and hasattr(module, "folder_summary"):  # the summary in the page's language
            written = module.folder_summary(path, lang)
        return Folder(path, name, metadata, _section(written, images),
                      images={copy: path / png for png, copy in images.items()})
    return _framework_folder(path, name, module, metadata, images, lang)


def _framework_folder(path: Path, name: str, module: Any, metadata: dict[str, Any], images: dict[str, str],
                      lang: str = "en") -> Folder:

    missing = [key for key in ("epochs", "dataset") if key not in metadata]
    if missing:
        raise RunFolderError(f"{path / 'study.json'}: missing {', '.join(missing)} (the profile the runs used)")
    header = (path / "results.csv").read_text().splitlines()[0].split(",")
    rows = read_rows(path / "results.csv", set(header) - {"study", "variant", *RUN_COLUMNS})
    if not rows:
        raise RunFolderError(f"{path / 'results.csv'}: no runs")
    options = Options(seeds=max(r["seed"] for r in rows) + 1, epochs=metadata["epochs"], dataset=metadata["dataset"],
                      train_size=metadata.get("train_size"), out=path, jobs=1, quick=bool(metadata.get("quick")),
                      read_only=True)
    study = prepare(module.build(options, **metadata.get("parameters", {})), options)  # no run trains here
    for row in rows:  # read as labels (text) above: the study's measured columns are numbers
        for column in study.measure.columns if study.measure else ():
            text = row.get(column)
            try:
                row[column] = float(text) if text not in (None, "") else None
            except ValueError:
                raise RunFolderError(f"{path / 'results.csv'}: column {column} holds {text[:40]!r}, not a "
                                     "number") from None
    present = {row["variant"] for row in rows}
    unknown = sorted(present - {v.name for v in study.variants})
    if unknown:
        raise RunFolderError(f"{path / 'results.csv'}: variant {unknown[0]!r} is not a variant of study {name} "
                             f"({', '.join(v.name for v in study.variants)}); rerun `dnnconf study {name}` there "
                             "with this version")
    study.variants = [v for v in study.variants if v.name in present]
    lines = summary_lines(study, options, rows, lang)
    glance = glance_cells(compare(judged_claims(study, options), study.variants, rows), lang)
    reference = path / REFERENCE_FOLDER / "results.csv"
    if reference.is_file():  # `--reference keras`: dnnconf beside Keras, after the study's own block
        part, cell = page_part(study, _reference_rows(reference, study), metadata, lang)
        while lines and not lines[-1].strip():
            lines.pop()
        lines += ["", *part]
        glance.append(cell)
    return Folder(path, name, metadata, _section(lines, images), glance,
                  {copy: path / png for png, copy in images.items()}, rows)


def _reference_rows(path: Path, study: Any) -> list[dict[str, Any]]:
    """reference-keras/results.csv's rows (both implementations); a file of another study is a RunFolderError."""
    header = path.read_text().splitlines()[:1]
    columns = header[0].split(",") if header else []
    if "implementation" not in columns or "variant" not in columns:
        raise RunFolderError(f"{path}: no variant and implementation columns (rerun `dnnconf study {study.name} "
                             "--reference keras` there with this version)")
    rows = read_rows(path, set(columns) - {"variant", *RUN_COLUMNS})
    known = {v.name for v in study.variants}
    for row in rows:
        if row["variant"] not in known or row["implementation"] not in ("dnnconf", "keras"):
            raise RunFolderError(f"{path}: row {row['variant']!r}, {row['implementation']!r} is not a variant of "
                                 f"study {study.name} ({', '.join(sorted(known))}) run by dnnconf or keras")
    return rows


def _shown_command(command: str) -> str:
    """The command as the page shows it: the folder (`--out …`, a path on the measuring machine) left out."""
    return re.sub(r"\s--out\s+\S+", "", command)


HOW_MEASURED = {"en": "| study | command | runs | ran (UTC) | wall time | machine |",
                "zh": "| 研究 | 命令 | 运行数 | 运行时间（UTC） | 耗时 | 机器 |"}
GLANCE = {"en": "| the note's claim | study | what we measured (paired by seed, 95% t interval) | verdict |",
          "zh": "| 笔记的结论 | 研究 | 实测（按种子配对，95% t 区间） | 判定 |"}
WORDS = {"zh": {"not recorded": "未记录", "interrupted": "中断", "invocations": "次调用", "all": "全部",
                "min": "分钟"}}


def _say(text: str, lang: str) -> str:
    return WORDS.get(lang, {}).get(text, text)


def how_measured(folders: list[Folder], lang: str = "en") -> list[str]:
    """One line a folder: the command, when and how long it ran, where; what study.json did not record, said."""
    lines = [HOW_MEASURED[lang], "|---|---|---|---|---|---|"]
    unknown = _say("not recorded", lang)
    total, recorded, keras_total = 0.0, 0, 0.0
    for folder in folders:
        calls = folder.metadata.get("invocations", [])
        trained = [call for call in calls if _measured(call)]
        if not trained:  # no record, or only invocations that read every run back: their times are not the runs'
            command = next((f"`{_shown_command(call['command'])}`" for call in calls if "command" in call),
                           unknown)
            lines.append(f"| {folder.name} | {command} | {_run_count(folder) or '–'} | "
                         + " | ".join([unknown] * 3) + " |")
            continue
        commands = list(dict.fromkeys(f"`{_shown_command(call['command'])}`" for call in trained if "command" in call))
        last = trained[-1]  # the Keras part, when there is one, ends the invocation
        finished = _reference(last)["finished"] if "finished" in _reference(last) else last.get("finished")
        ran = f"{trained[0].get('started', '?')} – " + (finished or _say("interrupted", lang))
        seconds = sum(call.get("seconds") or 0 for call in trained)
        wall = f"{seconds / 60:.1f} {_say('min', lang)}" + (
            f" ({len(trained)} {_say('invocations', lang)})" if len(trained) > 1 else "")
        keras = [_reference(call) for call in trained if isinstance(_reference(call).get("seconds"), (int, float))]
        if keras:  # `--reference keras`: its part's time and runs (folders from before this record: none said)
            keras_seconds = sum(part["seconds"] for part in keras)
            keras_runs = sum(part.get("trained") or 0 for part in keras)
            keras_total += keras_seconds
            wall += (f"；Keras 3：{keras_seconds / 60:.1f} 分钟，{keras_runs} 次运行" if lang == "zh" else
                     f"; Keras 3: {keras_seconds / 60:.1f} min, {keras_runs} runs")
        machine = trained[-1].get("machine", {})
        comma = "，" if lang == "zh" else ", "  # a Chinese comma: the zh page's cell is not one English run
        where = comma.join(f"{label}{machine[key]}" for key, label in (
            ("cpus", "CPU：" if lang == "zh" else "CPUs: "), ("platform", ""), ("python", "Python "),
            ("torch", "torch "), ("dnnconf", "dnnconf ")) if key in machine)
        jobs, threads = trained[-1].get("jobs", "?"), trained[-1].get("threads", "?")
        threads = comma + (f"进程 {jobs} × 线程 {threads}" if lang == "zh" else f"jobs {jobs} × threads {threads}")
        lines.append(f"| {folder.name} | {'<br>'.join(commands)} | {_run_count(folder) or '–'} | {ran} | {wall} | "
                     f"{where or unknown}{threads} |")
        total += seconds
        recorded += 1
    if len(folders) > 1:
        missing = f" ({len(folders) - recorded} {unknown})" if recorded < len(folders) else ""
        keras = (f"；Keras 3：{keras_total / 60:.1f} 分钟" if lang == "zh" else
                 f"; Keras 3: {keras_total / 60:.1f} min") if keras_total else ""
        lines.append(f"| {_say('all', lang)} | | {sum(_run_count(folder) for folder in folders)} | | "
                     f"{total / 60:.1f} {_say('min', lang)}{missing}{keras} | |")
    return lines


def _run_count(folder: Folder) -> int:
    """The folder's dnnconf runs: its results.csv's rows, or for a study of its own kind (transfer,
    pretraining: a row per seed, not per run) what its last recorded invocation counted (0: not recorded)."""
    calls = [call for call in folder.metadata.get("invocations", []) if isinstance(call.get("runs"), int)]
    return len(folder.runs) or (calls[-1]["runs"] if calls else 0)


def _measured(call: dict[str, Any]) -> bool:
    """Whether an invocation trained runs (dnnconf's or Keras's), or was interrupted doing so: its time is the
    runs' time (one that read every run back took seconds for nothing measured)."""
    keras = _reference(call)
    return bool(call.get("trained") or call.get("finished") is None or keras.get("trained")
                or ("finished" in keras and keras["finished"] is None))


def _reference(call: dict[str, Any]) -> dict[str, Any]:
    """An invocation's record of its Keras part ({} when it had none, or was written before it was recorded)."""
    part = call.get("reference")
    return part if isinstance(part, dict) else {}


def glance(folders: list[Folder], lang: str = "en") -> list[str]:
    lines = [GLANCE[lang], "|---|---|---|---|"]
    several = {folder.name for folder in folders if sum(other.name == folder.name for other in folders) > 1}
    for folder in folders:
        study = folder.name + (f" ({_profile(folder, lang)})" if folder.name in several else "")
        for claim, measured, verdict in folder.glance:
            lines.append(f"| {claim} | {study} | {measured} | {verdict} |")
    return lines


def default_template(folders: list[Folder], lang: str = "en") -> str:
    """The page without a template: how measured, at a glance, then each study under its name."""

    names = list(dict.fromkeys(folder.name for folder in folders))
    titles = (("# 研究结果：实测笔记的结论", "## 测量方式", "## 一览") if lang == "zh" else
              ("# Studies: the note's claims, measured", "## How these were measured", "## At a glance"))
    parts = [titles[0], "", titles[1], "", "<!-- generated: how-measured -->", "", titles[2], "",
             "<!-- generated: glance -->"]
    for name in names:
        title = (f"研究 `{name}`" if lang == "zh" else
                 f"{get_study(name).HELP[0].upper()}{get_study(name).HELP[1:]}")
        parts += ["", f"## {title} (`dnnconf study {name}`)", "", f"<!-- generated: study {name} -->"]
    return "\n".join(parts) + "\n"


def render(template: str, folders: list[Folder], source: str = "the template", lang: str = "en") -> str:
    """The template with its marker lines replaced; a folder whose study has no marker is a BadInput."""

    by_study: dict[str, list[Folder]] = {}
    for folder in folders:
        by_study.setdefault(folder.name, []).append(folder)
    placed = set()
    out: list[str] = []
    for line in template.splitlines():
        match = MARKER.match(line)
        if not match:
            out.append(line)
        elif match.group(1) == "how-measured":
            out += how_measured(folders, lang)
        elif match.group(1) == "glance":
            out += glance(folders, lang)
        else:
            name = match.group(2)
            placed.add(name)
            mine = by_study.get(name, [])
            if not mine:
                out.append(f"*本次生成的页面没有这一项：没有把 `{name}` 研究文件夹交给 `dnnconf study report`。*"
                           if lang == "zh" else f"*Not on this build of the page: no `{name}` study folder was "
                           "given to `dnnconf study report`.*")
            for index, folder in enumerate(mine):
                if len(mine) > 1:
                    out += [*([""] if index else []), f"**{_profile(folder, lang)}:**", ""]
                out += folder.lines
    unplaced = [name for name in by_study if name not in placed]
    if unplaced:
        raise BadInput(f"{source}: no `<!-- generated: study {unplaced[0]} -->` line for the {unplaced[0]} folder; "
                       "add one where its section goes")
    return "\n".join(out).rstrip("\n") + "\n"


def _profile(folder: Folder, lang: str = "en") -> str:
    size = folder.metadata.get("train_size")
    if lang == "zh":
        return (f"{folder.metadata.get('dataset', '?')}，" + (f"训练集的前 {size:,} 张图" if size else "全部训练图")
                + f"，{folder.metadata.get('epochs', '?')} 个 epoch")
    return (f"{folder.metadata.get('dataset', '?')}, " + (f"the first {size:,} training images" if size else
                                                          "all training images")
            + f", {folder.metadata.get('epochs', '?')} epochs")


def write_page(folders: list[Path], out: Path, template: Path | None = None, lang: str = "en") -> list[Path]:
    """Read every folder, render the page into `out` in `lang` (en, zh: `dnnconf.studies.language`) and copy
    the plots to `images/studies/` beside it."""

    check_language(lang)

    order = list(STUDIES)
    named = sorted(((study_name(path), path) for path in expand(folders)), key=lambda pair: order.index(pair[0]))
    loaded: list[Folder] = []
    counts: dict[str, int] = {}
    for name, path in named:  # the registry's order, a study's folders in the order given
        counts[name] = counts.get(name, 0) + 1
        loaded.append(load_folder(path, name, f"{IMAGES}/{name}" + (f"-{counts[name]}" if counts[name] > 1 else ""),
                                  lang))
    if template is not None and not template.is_file():
        raise BadInput(f"--template {template}: no such file")
    text = render(template.read_text() if template else default_template(loaded, lang), loaded,
                  str(template) if template else "the default template", lang)
    out.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for folder in loaded:
        for copy, source in folder.images.items():
            target = out.parent / copy
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.is_file() or target.read_bytes() != source.read_bytes():
                write_atomic(target, source.read_bytes(), durable=False)
            written.append(target)
    write_atomic(out, text)
    return [out, *written]
