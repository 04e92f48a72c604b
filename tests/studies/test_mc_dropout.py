"""`dnnconf study mc-dropout`: the MC columns of every run, the calibration metrics by hand, read-back and the page."""

import json
import math
from pathlib import Path

import pytest

from dnnconf.studies.framework import Task
from dnnconf.studies.mc_dropout import COLUMNS
from dnnconf.studies.run_measure import RunMeasure, measured
from dnnconf.uncertainty.calibration import calibration_metrics, reliability_bins


def test_nll_and_ece_by_hand():
    probs = [[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.2, 0.8]]
    labels = [0, 1, 1, 1]  # the second is wrong (argmax 0)
    metrics = calibration_metrics(probs, labels)
    assert metrics["nll"] == pytest.approx(-(math.log(0.9) + math.log(0.4) + math.log(0.7) + math.log(0.8)) / 4)
    # confidences .9 .6 .7 .8, each alone in its fifteenth: |1 − .9| + |0 − .6| + |1 − .7| + |1 − .8|, over 4
    assert metrics["ece"] == pytest.approx((0.1 + 0.6 + 0.3 + 0.2) / 4)
    assert metrics["accuracy"] == 0.75


def test_ece_averages_within_a_bin_and_nll_clips_a_zero_probability():
    # .61 and .62 share the bin (9/15, 10/15]: accuracy 1/2, confidence .615
    assert calibration_metrics([[0.61, 0.39], [0.38, 0.62]], [0, 0])["ece"] == pytest.approx(0.115)
    assert calibration_metrics([[1.0, 0.0]], [1])["nll"] == pytest.approx(-math.log(1e-7))


def test_bins_are_open_below_and_closed_above():
    table = reliability_bins([[0.2, 0.2, 0.2, 0.2, 0.2], [0.5, 0.5, 0, 0, 0]], [0, 0])
    assert table["count"][2] == 1  # 0.2 = 3/15 closes the third bin, (2/15, 3/15]
    assert table["count"][7] == 1  # 0.5 = 7.5/15


def test_a_diverged_run_gets_empty_measured_cells_and_no_measurement():
    def refuse(folder):
        raise AssertionError("a diverged run is not measured")

    task = Task("s", "v", {}, 0, {}, "unused", None, 0.1, RunMeasure(("a", "b"), refuse))
    assert measured(task, Path("unused"), {"diverged": 1, "seed": 0}) == {"diverged": 1, "seed": 0, "a": None,
                                                                          "b": None}
    kept = Task("s", "v", {}, 0, {}, "unused", None, 0.1, RunMeasure(("a",), lambda folder: {"a": 1.5, "x": 2}))
    assert measured(kept, Path("unused"), {"diverged": 0}) == {"diverged": 0, "a": 1.5}  # only its columns


@pytest.fixture
def quick_study(run_quick):
    code, out, rows = run_quick("mc-dropout")
    assert code == 0
    return out, rows


def test_quick_study_writes_the_mc_columns(quick_study, check_outputs):
    out, rows = quick_study
    check_outputs(out, rows, "mc-dropout", ["dropout"], variants=1, measured=COLUMNS)
    for row in rows:
        values = {column: float(row[column]) for column in COLUMNS}
        assert 0 <= values["mc_test_accuracy"] <= 1 and 0 <= values["test_ece"] <= 1 and 0 <= values["mc_test_ece"] <= 1
        assert values["test_nll"] > 0 and values["mc_test_nll"] > 0
        saved = json.loads((Path(row["folder"]) / "mc_metrics.json").read_text())
        assert saved["samples"] == 100 and saved["split"] == "test"
        # the deterministic pass of the MC evaluation is the run's own eval-mode test accuracy
        assert saved["plain"]["accuracy"] == pytest.approx(float(row["test_accuracy"]), abs=1e-6)
        assert saved["mc"]["accuracy"] == pytest.approx(values["mc_test_accuracy"], abs=1e-6)
    summary = (out / "summary.md").read_text()
    for said in ("| dropout | dropout (test acc) | MC test acc | > 0 | 2 |", "| dropout | dropout (test NLL) | MC test "
                 "NLL | < 0 | 2 |", "| dropout | dropout (test ECE) | MC test ECE | < 0 | 2 |",
                 "| test metric | deterministic (eval mode) | MC dropout, 100 samples |"):
        assert said in summary


def test_a_finished_study_is_read_back_not_retrained(quick_study, run_quick, capsys):
    out, rows = quick_study
    files = [Path(row["folder"]) / name for row in rows for name in ("model.safetensors", "mc_metrics.json")]
    before = {path: path.stat().st_mtime_ns for path in files}
    capsys.readouterr()
    code, _, again = run_quick("mc-dropout")
    assert code == 0 and "2 of 2 runs already finished (read back)" in capsys.readouterr().out
    assert again == rows and {path: path.stat().st_mtime_ns for path in files} == before


def test_a_run_finished_before_it_was_measured_is_measured_without_retraining(quick_study, run_quick):
    out, rows = quick_study
    folder = Path(rows[0]["folder"])
    row_file = folder / "study-row.json"
    row = json.loads(row_file.read_text())
    row_file.write_text(json.dumps({k: v for k, v in row.items() if k not in COLUMNS}))
    (folder / "mc_metrics.json").unlink()
    trained = (folder / "model.safetensors").stat().st_mtime_ns
    code, _, again = run_quick("mc-dropout")
    assert code == 0 and again == rows and (folder / "mc_metrics.json").is_file()
    assert (folder / "model.safetensors").stat().st_mtime_ns == trained
    assert all(column in json.loads(row_file.read_text()) for column in COLUMNS)


def test_the_page_is_written_from_the_folder(quick_study, tmp_path, capsys):
    from dnnconf.cli import main

    out, _ = quick_study
    for lang, said in (("en", "MC test ECE"), ("zh", "MC dropout 让概率校准得更好：测试 ECE 更低")):
        page = tmp_path / f"page-{lang}.md"
        assert main(["study", "report", str(out), "--out", str(page), "--lang", lang]) == 0
        assert said in page.read_text()
    results = out / "results.csv"
    lines = results.read_text().splitlines()
    results.write_text("\n".join([lines[0], lines[1].rsplit(",", 1)[0] + ",lots", *lines[2:]]) + "\n")
    capsys.readouterr()
    assert main(["study", "report", str(out), "--out", str(tmp_path / "bad.md")]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "column mc_test_ece holds 'lots', not a number" in error[0]


@pytest.mark.parametrize("mode", [("--vectorize",), ("--jobs", "2")], ids=["vectorize", "jobs"])
def test_batched_seeds_and_worker_processes_measure_the_same(quick_study, run_quick, tmp_path, mode):
    import os

    if mode[0] == "--jobs" and (os.cpu_count() or 1) < 2:
        pytest.skip("--jobs 2 needs two cores")
    _, rows = quick_study
    code, _, other = run_quick("mc-dropout", *mode, "--out", str(tmp_path / "other"))
    assert code == 0
    same = ("seed", "test_accuracy", *COLUMNS)
    assert [{k: r[k] for k in same} for r in other] == [{k: r[k] for k in same} for r in rows]


def test_the_keras_summary_says_which_columns_it_did_not_compare():
    from dnnconf.studies.framework import Study, Variant
    from dnnconf.studies.keras_study import reference_summary

    study = Study("toy", "toy", {}, [Variant("a", {})], measure=RunMeasure(("extra",), lambda folder: {}))
    row = {"variant": "a", "seed": 0, "final_val_accuracy": 0.5, "test_accuracy": 0.5}
    lines = reference_summary(study, [row], [row], {})
    assert lines[-1] == "Not compared: extra (this study measures them in dnnconf only)."
    assert "extra" not in lines[4]  # the table's header: the framework's two measures only
