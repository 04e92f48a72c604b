"""The studies page's Keras part (`dnnconf study report` on a folder with reference-keras/results.csv): the
side-by-side table and its at-a-glance line in English and Chinese, the Keras time in how-measured; folders
without it, or written before the Keras part was recorded, render without it. No Keras needed: the Keras
rows here are made by hand from dnnconf's (a known offset per variant)."""

import csv
import json
import re

import pytest

from dnnconf.cli import main

REFUSAL = "schedule: 'one_cycle' has no Keras counterpart"


def keras_rows(rows):
    """Keras's rows: sgd a fixed 0.05 (+0.001 a seed) below dnnconf's (differs), adam ±0.01 around it
    (within noise), momentum none (refused)."""
    out = []
    for row in rows:
        seed = int(row["seed"])
        if row["variant"] == "momentum":
            continue
        shift = -0.05 - 0.001 * seed if row["variant"] == "sgd" else (0.01, -0.01, 0.005)[seed]
        out.append({**row, "implementation": "keras",
                    **{key: float(row[key]) + shift for key in ("final_val_accuracy", "test_accuracy")}})
    return out


@pytest.fixture
def folder(run_quick):
    """A --quick optimizers folder (3 seeds) with a hand-made reference-keras/results.csv."""
    code, out, rows = run_quick("optimizers", "--seeds", "3")
    assert code == 0 and len(rows) == 9
    columns = ["variant", "optimizer", "implementation", "seed", "epochs_run", "final_val_accuracy",
               "best_val_accuracy", "test_accuracy", "diverged"]
    both = [{**row, "implementation": "dnnconf"} for row in rows] + keras_rows(rows)
    (out / "reference-keras").mkdir()
    with (out / "reference-keras" / "results.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(both)
    return out, rows


def record_keras_part(out, seconds=754.2, trained=6):
    metadata = json.loads((out / "study.json").read_text())
    metadata["invocations"][-1]["reference"] = {
        "implementation": "keras", "runs": 9, "jobs": 2, "started": "2026-01-01 10:00:00 UTC",
        "finished": "2026-01-01 10:12:34 UTC", "seconds": seconds, "trained": trained, "read_back": 0,
        "refused": {"momentum": REFUSAL}}
    (out / "study.json").write_text(json.dumps(metadata))


def report(out, tmp_path, lang):
    page = tmp_path / "page" / f"studies.{lang}.md"
    assert main(["study", "report", str(out), "--lang", lang, "--out", str(page)]) == 0
    return page.read_text(encoding="utf-8")


def row_of(text, variant):
    found = [line for line in text.splitlines() if line.startswith(f"| {variant} | ")]
    return found[-1]  # the Keras table is the study's last


def test_the_side_by_side_table_and_glance_line_in_english(folder, tmp_path):
    out, rows = folder
    record_keras_part(out)
    text = report(out, tmp_path, "en")
    assert "### dnnconf beside Keras 3 (`--reference keras`)" in text
    assert ("| variant | seeds | dnnconf final val acc | Keras final val acc | dnnconf − Keras | dnnconf test acc | "
            "Keras test acc | dnnconf − Keras | |") in text
    sgd = row_of(text, "sgd")
    assert sgd.startswith("| sgd | 3 | ") and sgd.endswith(" | differs |")
    assert sgd.count("+0.0510 [") == 2  # dnnconf − Keras = 0.05 + 0.001 × seed, both measures
    mean = sum(float(r["test_accuracy"]) for r in rows if r["variant"] == "sgd") / 3
    assert f"| {mean:.4f} ± " in sgd
    assert row_of(text, "adam").endswith(" | within noise |")
    assert row_of(text, "momentum") == f"| momentum | – | not expressible in Keras: {REFUSAL} |"
    glance = [line for line in text.splitlines() if "Keras 3 trains the same configs" in line]
    assert glance == ["| the study's numbers are its recipes', not dnnconf's: Keras 3 trains the same configs "
                      "(`--reference keras`) | optimizers | dnnconf − Keras, final val acc and test acc, paired by "
                      "seed, 3 variants: 1 within noise, 1 differ, 1 not in Keras | differs: `sgd` |"]
    assert re.search(r"^\| optimizers \| .* \| 9 \| .* – 2026-01-01 10:12:34 UTC \| \d+\.\d min; Keras 3: 12\.6 min, "
                     r"6 runs \| ", text, re.M)


def test_the_side_by_side_table_and_glance_line_in_chinese(folder, tmp_path):
    out, _ = folder
    record_keras_part(out)
    text = report(out, tmp_path, "zh")
    assert "### dnnconf 与 Keras 3 对照（`--reference keras`）" in text
    assert "| 变体 | 种子数 | dnnconf 最终验证准确率 | Keras 最终验证准确率 | dnnconf − Keras | dnnconf 测试准确率 |" \
        in text
    assert row_of(text, "sgd").endswith(" | 有差别 |") and row_of(text, "adam").endswith(" | 在噪声范围内 |")
    assert row_of(text, "momentum") == "| momentum | – | Keras 没有对应的 `schedule: 'one_cycle'` |"
    assert "3 个变体：1 个在噪声范围内，1 个有差别，1 个 Keras 无法表达或没有运行 | 有差别：`sgd` |" in text
    assert "；Keras 3：12.6 分钟，6 次运行 |" in text


def test_a_folder_written_before_the_keras_part_was_recorded_renders_without_its_time(folder, tmp_path):
    out, _ = folder
    text = report(out, tmp_path, "en")
    assert "### dnnconf beside Keras 3" in text
    assert row_of(text, "momentum") == "| momentum | – | no Keras runs |"  # the reason was not recorded
    assert "Keras 3: " not in text.split("## At a glance")[0]


def test_a_folder_without_reference_renders_without_the_keras_part(folder, tmp_path):
    out, _ = folder
    with_keras = report(out, tmp_path, "en")
    (out / "reference-keras" / "results.csv").unlink()
    text = report(out, tmp_path, "en")
    assert "Keras" not in text
    before_the_block = with_keras.split("\n### dnnconf beside Keras 3")[0]  # the block ends the page
    assert text == "".join(line for line in before_the_block.splitlines(keepends=True)
                           if "Keras 3 trains the same configs" not in line)


def test_a_reference_results_file_of_another_kind_is_one_line(folder, tmp_path, capsys):
    out, _ = folder
    (out / "reference-keras" / "results.csv").write_text("variant,seed\nsgd,0\n")
    assert main(["study", "report", str(out), "--out", str(tmp_path / "page.md")]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "reference-keras/results.csv: no variant and implementation" in error
    (out / "reference-keras" / "results.csv").write_text("variant,implementation,seed\nrmsprop,keras,0\n")
    assert main(["study", "report", str(out), "--out", str(tmp_path / "page.md")]) == 2
    assert "'rmsprop', 'keras' is not a variant of study optimizers" in capsys.readouterr().err
    assert not (tmp_path / "page.md").exists()
