import json
import shutil

import pytest

from dnnconf.cli import main
from dnnconf.report.compare import compare


def test_two_runs_side_by_side(two_runs, tmp_path, read_page):
    result = compare(list(two_runs), tmp_path / "out", lang="en")
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"compare.html", "compare.md", "compare.csv"}
    keys = [row["key"] for row in result.differences]
    assert {"optimizer.name", "optimizer.learning_rate", "schedule.name", "model.batch_norm.position"} <= set(keys)
    assert not {"data.dataset", "training.batch_size", "loss", "seed"} & set(keys)  # equal keys are left out
    by_key = {row["key"]: row for row in result.differences}
    assert (by_key["optimizer.name"]["sgd-one-cycle"], by_key["optimizer.name"]["adam-bn"]) == ("sgd", "adam")
    assert [row["run"] for row in result.rows] == ["sgd-one-cycle", "adam-bn"]
    test = json.loads((two_runs[1] / "metrics.json").read_text())["test"]
    assert result.rows[1]["test_accuracy"] == pytest.approx(test["accuracy"])
    assert "| adam-bn | 1 | 3 |" in result.markdown
    csv_lines = (tmp_path / "out" / "compare.csv").read_text().splitlines()
    assert csv_lines[0].startswith("run,runs,epochs,final_val_loss") and len(csv_lines) == 3
    data = read_page(tmp_path / "out" / "compare.html")
    val_loss = next(c for c in data["charts"] if c["id"] == "val-loss")
    history = [float(line.split(",")[3]) for line in (two_runs[0] / "history.csv").read_text().splitlines()[1:]]
    assert val_loss["x"] == [1, 2, 3] and val_loss["series"][0]["values"] == pytest.approx(history)
    assert "band" not in val_loss["series"][0]  # one run: no spread to draw


def test_study_folder_groups_seeds_with_mean_and_spread(two_runs, tmp_path, read_page):
    study = tmp_path / "study"  # as `dnnconf study` lays it out: <variant>/seed-<s>/
    for variant, source in (("sgd", two_runs[0]), ("adam", two_runs[1])):
        for seed in (1, 2):
            shutil.copytree(source, study / variant / f"seed-{seed}")
            config = study / variant / f"seed-{seed}" / "config.yaml"
            config.write_text(config.read_text().replace("seed: 42", f"seed: {seed}"))
    (study / "results.csv").write_text("variant\n")
    result = compare([study], tmp_path / "out")
    assert [(g.label, len(g.runs)) for g in result.groups] == [("adam", 2), ("sgd", 2)]
    keys = [row["key"] for row in result.differences]
    assert "optimizer.name" in keys and "seed" not in keys  # seeds vary within each variant alike: not a difference
    assert result.rows[0]["test_accuracy_std"] == pytest.approx(0.0)
    assert "±" in result.markdown
    chart = read_page(tmp_path / "out" / "compare.html")["charts"][0]
    assert all(len(series["band"]) == 2 for series in chart["series"])


def test_sweep_folder_one_group_a_trial(two_runs, tmp_path):
    sweep = tmp_path / "sweep"
    for number, source in enumerate(two_runs):
        shutil.copytree(source, sweep / f"trial-{number:04d}")
    (sweep / "trials.csv").write_text("number\n")
    result = compare([sweep], tmp_path / "out")
    assert [g.label for g in result.groups] == ["trial-0000", "trial-0001"]


def test_same_names_get_their_parent_folder(two_runs, tmp_path):
    for parent in ("x", "y"):
        shutil.copytree(two_runs[0], tmp_path / parent / "run")
    result = compare([tmp_path / "x" / "run", tmp_path / "y" / "run"], tmp_path / "out")
    assert [g.label for g in result.groups] == ["x/run", "y/run"]
    assert result.differences == []
    assert "the configurations are identical" in result.markdown


def test_command_prints_the_table_and_writes_the_page(two_runs, tmp_path, capsys):
    assert main(["compare", *map(str, two_runs), "--out", str(tmp_path / "out"), "--lang", "zh"]) == 0
    out = capsys.readouterr().out
    assert "| sgd-one-cycle | 1 | 3 |" in out and "compare.html" in out
    assert '<html lang="zh">' in (tmp_path / "out" / "compare.html").read_text(encoding="utf-8")
    assert main(["compare", *map(str, two_runs), "--out", str(tmp_path / "out"), "--format", "csv"]) == 0
    assert capsys.readouterr().out.startswith("run,runs,epochs")


@pytest.mark.parametrize("case, message", [
    ("missing", "no such folder"),
    ("not_a_run", "not a run folder, a study or a sweep"),
    ("one_run", "needs at least 2 runs"),
    ("bad_history", "not a history (no epoch column"),
])
def test_bad_arguments_are_one_line_and_exit_2(two_runs, tmp_path, capsys, case, message):
    folders = {"missing": [tmp_path / "nothing", two_runs[0]], "not_a_run": [tmp_path, two_runs[0]],
               "one_run": [two_runs[0]]}
    (tmp_path / "plain").mkdir()
    if case == "bad_history":
        broken = tmp_path / "broken"
        shutil.copytree(two_runs[0], broken)
        (broken / "history.csv").write_text("a,b\n1,2\n")
        folders[case] = [broken, two_runs[1]]
    if case == "not_a_run":
        folders[case] = [tmp_path / "plain", two_runs[0]]
    assert main(["compare", *map(str, folders[case]), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "out").exists()  # nothing written for bad input


def test_api_entry():
    import dnnconf

    assert dnnconf.compare is compare


def test_config_values_are_shown_compactly():
    from dnnconf.report.compare import _shown

    assert _shown([100] * 20) == "[100] × 20"
    assert _shown([300, 100]) == "[300, 100]"
    assert _shown(0.006219847973135772) == "0.00621985"
    assert _shown(None) == "null" and _shown(True) == "True"
    assert len(_shown(list(range(100)))) == 120
